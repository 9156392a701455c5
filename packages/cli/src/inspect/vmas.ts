import {
  AnonVmo,
  formatPerms,
  type Kernel,
  type MappingView,
  PROP_ACCESSED,
  PROP_DIRTY,
  type Process,
  QUERY_END,
  QUERY_MAPPED,
} from '@mmkit/core';
import { FileVmo } from '@mmkit/plugins';
import { type FileTable, isDirtyFilePage } from './files.ts';

/**
 * Resident-memory figures of one mapping, in bytes, as Linux's `smaps` computes them
 * (`smaps_pte_entry` / `smaps_account`) from the present PTEs: a page mapped by two or more
 * PTEs (in any address space) is shared and counts `1/mapcount` of its size in Pss; a page is
 * dirty if its PTE is dirty or the page cache holds it dirty; it is anonymous unless it is the
 * backing object's own page (file pages and shared anonymous memory are not).
 */
export interface SmapsFigures {
  rss: number;
  /** Proportional set size (may be fractional; Linux prints it rounded down to a kB). */
  pss: number;
  pssDirty: number;
  sharedClean: number;
  sharedDirty: number;
  privateClean: number;
  privateDirty: number;
  referenced: number;
  anonymous: number;
  /** The model has no `mlock`: always 0. */
  locked: number;
}

/** One mapping (VMA) as `/proc/PID/maps` and `smaps` show it. */
export interface VmaView extends SmapsFigures {
  start: number;
  end: number;
  /** `rw-p`-style permissions. */
  perms: string;
  /** Offset in the backing object in bytes (0 for private anonymous memory, as Linux prints). */
  offset: number;
  dev: string;
  inode: number;
  /** What Linux prints in the name column: the file's name, `/dev/zero (deleted)` for shared anonymous memory, '' otherwise. */
  name: string;
  /** Size of the pages the mapping's PTEs use (the base page size unless a huge leaf is present). */
  pageSize: number;
}

function emptyFigures(): SmapsFigures {
  return {
    rss: 0,
    pss: 0,
    pssDirty: 0,
    sharedClean: 0,
    sharedDirty: 0,
    privateClean: 0,
    privateDirty: 0,
    referenced: 0,
    anonymous: 0,
    locked: 0,
  };
}

const FIGURE_KEYS = Object.keys(emptyFigures()) as (keyof SmapsFigures)[];

/** Accumulates the smaps figures of `m`'s present pages into `f`; returns the largest page size seen. */
function accountMapping(kernel: Kernel, p: Process, m: MappingView, f: SmapsFigures): number {
  const frames = kernel.frames;
  let largest = kernel.consts.basePageSize;
  const c = p.vmar.space.cursor(m.start, m.end);
  try {
    for (let kind = c.query(); kind !== QUERY_END; kind = c.query()) {
      if (kind !== QUERY_MAPPED) continue;
      const size = c.qLen;
      const pfn = c.qPfn;
      if (size > largest) largest = size;
      const index = m.vmo === null ? -1 : m.vmoIndex(c.qVa);
      const ownPage = m.vmo !== null && m.vmo.pageAt(index) === pfn;
      // PTEs that reference the frame: its references minus the handles (check() keeps that exact).
      const mapcount = Math.max(1, frames.refCount(pfn) - frames.handles(pfn));
      const dirty = (c.qProp & PROP_DIRTY) !== 0 || (ownPage && isDirtyFilePage(m.vmo!, index));
      const share = size / mapcount;
      f.rss += size;
      f.pss += share;
      if (dirty) f.pssDirty += share;
      if ((c.qProp & PROP_ACCESSED) !== 0) f.referenced += size;
      if (!ownPage) f.anonymous += size;
      if (mapcount >= 2) {
        if (dirty) f.sharedDirty += size;
        else f.sharedClean += size;
      } else if (dirty) f.privateDirty += size;
      else f.privateClean += size;
    }
  } finally {
    c.drop();
  }
  return largest;
}

/** What `/proc/PID/maps` prints after the offset: device, inode and name of `m`'s backing. */
export function mappingIdentity(
  m: MappingView,
  files: FileTable,
): { dev: string; inode: number; name: string } {
  if (m.vmo instanceof FileVmo) return { dev: '00:00', inode: files.inode(m.vmo), name: m.vmo.name };
  // Linux backs shared anonymous memory with a deleted shmem file.
  if (m.vmo instanceof AnonVmo) return { dev: '00:01', inode: 0, name: '/dev/zero (deleted)' };
  return { dev: '00:00', inode: 0, name: '' };
}

/** The mappings of process `p` in address order, with their smaps figures. */
export function vmaViews(kernel: Kernel, p: Process, files: FileTable): VmaView[] {
  const page = kernel.consts.basePageSize;
  return p.vmar.views().map((m) => {
    const figures = emptyFigures();
    const pageSize = accountMapping(kernel, p, m, figures);
    const { name, dev, inode } = mappingIdentity(m, files);
    return {
      start: m.start,
      end: m.end,
      perms: formatPerms(m.perms, m.shared),
      offset: m.vmo === null ? 0 : m.vmoPage * page,
      dev,
      inode,
      name,
      pageSize,
      ...figures,
    };
  });
}

/** Sum of the smaps figures of `vmas` (pmap's totals, Linux's `smaps_rollup`). */
export function totals(vmas: readonly VmaView[]): SmapsFigures & { size: number } {
  const t = { ...emptyFigures(), size: 0 };
  for (const v of vmas) {
    t.size += v.end - v.start;
    for (const k of FIGURE_KEYS) t[k] += v[k];
  }
  return t;
}
