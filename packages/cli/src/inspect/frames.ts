import { FRAME_TYPE_NAMES, FrameType, type Kernel } from '@mmkit/core';
import type { FileTable } from './files.ts';

/** Frames in use of one type, by reference count. */
export interface FrameTypeCount {
  type: string;
  count: number;
  /** Reference count → number of frames (references = handles + PTEs that map the frame). */
  byRefCount: Record<string, number>;
}

/** The page-cache pages of one file. */
export interface FileCacheView {
  name: string;
  inode: number;
  sizeBytes: number;
  /** Pages in the file's page map. */
  cachedPages: number;
  /** Cached pages mapped by at least one PTE. */
  mappedPages: number;
}

export interface FramesView {
  nrFrames: number;
  nrInUse: number;
  byType: FrameTypeCount[];
  pageCache: FileCacheView[];
  /**
   * The frame map: one character per frame (see `FRAME_MAP_CHARS`), cut at the last frame in
   * use (the rest is free).
   */
  map: string;
}

/** Frame-map characters by frame type: free, untyped, page table, metadata, page cache, kernel. */
export const FRAME_MAP_CHARS = '.uPMcK';

/** Frame usage of `kernel`: counts by type and reference count, page-cache files, the frame map. */
export function framesView(kernel: Kernel, files: FileTable): FramesView {
  const frames = kernel.frames;
  const n = frames.nrFrames;
  const byRef: Map<number, number>[] = FRAME_TYPE_NAMES.map(() => new Map());
  const chars: string[] = [];
  let last = -1;
  for (let pfn = 0; pfn < n; pfn++) {
    const type = frames.type(pfn);
    chars.push(FRAME_MAP_CHARS[type] ?? '?');
    if (type === FrameType.Free) continue;
    last = pfn;
    const rc = frames.refCount(pfn);
    byRef[type].set(rc, (byRef[type].get(rc) ?? 0) + 1);
  }
  const byType: FrameTypeCount[] = [];
  for (let t = 1; t < FRAME_TYPE_NAMES.length; t++) {
    let count = 0;
    for (const c of byRef[t].values()) count += c;
    if (count === 0) continue;
    const sortedRefs = [...byRef[t].entries()].sort((a, b) => a[0] - b[0]);
    byType.push({ type: FRAME_TYPE_NAMES[t], count, byRefCount: Object.fromEntries(sortedRefs) });
  }
  const pageCache = files.files.map((f) => {
    const indices = f.pm.indices();
    let mapped = 0;
    for (const i of indices) {
      const pfn = f.pm.pfnAt(i);
      if (pfn >= 0 && frames.refCount(pfn) > frames.handles(pfn)) mapped++;
    }
    return {
      name: f.name,
      inode: files.inode(f),
      sizeBytes: f.size,
      cachedPages: indices.length,
      mappedPages: mapped,
    };
  });
  return { nrFrames: n, nrInUse: frames.nrInUse, byType, pageCache, map: chars.slice(0, last + 1).join('') };
}
