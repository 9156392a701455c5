import { MmError } from '../errors.ts';
import type { Frames } from '../frame/frames.ts';
import type { Vmar } from './vmar.ts';

/**
 * A virtual memory object: pages that mappings share (Asterinas's `Vmo`). Shared anonymous
 * memory is an `AnonVmo`; the page-cache plugin provides file-backed ones.
 *
 * Reference counting: every mapping (an id of the kernel's `MappingTable`) that maps the object holds one reference
 * (`acquire`/`release`); when the last goes, the object drops its pages. Each committed
 * page holds one frame handle; every PTE mapping it holds its own reference to the frame,
 * so a page stays alive while mapped even if the object lets go of it.
 */
export interface Vmo {
  /** Size in pages: pages at or past it do not exist (an access there is a SIGBUS). */
  readonly nrPages: number;
  /** The frame of page `index`, committed (zero-filled) if needed; -1 if `index >= nrPages`. */
  commitPage(index: number): number;
  /** The frame of page `index` if it is committed, else -1 (never commits). */
  pageAt(index: number): number;
  /** Takes one reference. */
  acquire(): void;
  /** Drops one reference; the last one releases every page. */
  release(): void;
  /** Current number of references. */
  readonly nrRefs: number;
  /**
   * Optional reverse-mapping hooks: `m`, a mapping of this object (an id in `vmar.maps`),
   * entered (`onMap`) or left (`onUnmap`) the mappings of `vmar`. A file's page map keeps
   * its reverse map with them. The id stays this mapping's until `onUnmap`.
   */
  onMap?(vmar: Vmar, m: number): void;
  onUnmap?(vmar: Vmar, m: number): void;
  /**
   * Optional: a PTE mapping frame `pfn` at page `index` of this object was unmapped with its
   * dirty bit set (munmap, MADV_DONTNEED, a cleared VMAR, exit), as Linux's zap hands the
   * dirty bit to the page. The frame may be a private copy of the page (a private mapping
   * of a file after a write), which the object tells from its own page by the frame. An
   * unmap reports them as it clears the PTEs (the same pass); at exit, where the page table
   * goes without an unmap, one read cursor walks the mappings of such objects that outlive
   * the process. It must not use the page table.
   */
  pageDirtied?(index: number, pfn: number): void;
  /** Optional: writes the dirty pages of `[index, index + nrPages)` to the backing store (msync). */
  writeback?(index: number, nrPages: number): void;
  /** Shared anonymous memory (Linux's shmem): counted as `shmem` by RSS, freed by `MADV_REMOVE`. */
  readonly anonymous?: boolean;
  /**
   * Optional: the frame that faults-around maps for page `index`, or -1 to leave it (default
   * `commitPage`). Shared anonymous memory maps only the pages the object already has. It
   * must answer without changing the object: a fault asks it of the window's pages first,
   * and takes the window only if some page would be mapped.
   */
  faultAroundPage?(index: number): number;
  /**
   * Optional (`MADV_REMOVE`): frees the pages `[index, index + nrPages)`, unmapping them from
   * every mapping, so that they read zero (a hole punched in a file; shmem pages dropped).
   */
  punchHole?(index: number, nrPages: number): void;
}

/**
 * Anonymous memory shared between mappings (`MAP_SHARED | MAP_ANONYMOUS`, Linux's shmem
 * object): a fixed number of pages, committed as zero-filled frames on first touch.
 * Invariant: `pages` maps page indices below `nrPages` to frames holding one handle each;
 * `dirty` holds committed pages once written through a PTE that has since gone (a present
 * PTE keeps its own dirty bit); `users` lists the mappings of the object (the reverse map).
 */
export class AnonVmo implements Vmo {
  readonly anonymous = true;
  private readonly pages = new Map<number, number>();
  private readonly dirty = new Set<number>();
  private readonly users: { vmar: Vmar; m: number }[] = [];
  private refs = 1;

  /** Creates the object with one reference, owned by the caller. */
  constructor(
    private readonly frames: Frames,
    readonly nrPages: number,
  ) {}

  get nrRefs(): number {
    return this.refs;
  }

  /** Number of committed pages. */
  get nrCommitted(): number {
    return this.pages.size;
  }

  commitPage(index: number): number {
    if (index >= this.nrPages) return -1;
    let pfn = this.pages.get(index);
    if (pfn === undefined) {
      // A frame from the allocator reads as zeros: freed frames forget their contents.
      pfn = this.frames.alloc();
      this.pages.set(index, pfn);
    }
    return pfn;
  }

  pageAt(index: number): number {
    return this.pages.get(index) ?? -1;
  }

  faultAroundPage(index: number): number {
    return this.pageAt(index);
  }

  onMap(vmar: Vmar, m: number): void {
    this.users.push({ vmar, m });
  }

  onUnmap(vmar: Vmar, m: number): void {
    const i = this.users.findIndex((u) => u.vmar === vmar && u.m === m);
    if (i >= 0) this.users.splice(i, 1);
  }

  /** A PTE of page `index` went with its dirty bit set: the page stays dirty. */
  pageDirtied(index: number, pfn: number): void {
    if (this.pages.get(index) === pfn) this.dirty.add(index);
  }

  /** Whether committed page `index` was ever written, given the dirty bit of its one live PTE. */
  isDirty(index: number, pteDirty: boolean): boolean {
    return pteDirty || this.dirty.has(index);
  }

  /** Drops committed page `index` (it must be mapped nowhere): it reads zero again. */
  dropPage(index: number): void {
    const pfn = this.pages.get(index);
    if (pfn === undefined) return;
    this.pages.delete(index);
    this.dirty.delete(index);
    this.frames.put(pfn);
  }

  punchHole(index: number, nrPages: number): void {
    const end = index + nrPages;
    for (const { vmar, m } of [...this.users]) {
      const page = vmar.pageSize;
      const vmoPage = vmar.maps.vmoPage(m);
      const first = Math.max(index, vmoPage);
      const last = Math.min(end, vmoPage + vmar.maps.size(m) / page);
      if (first >= last) continue;
      const start = vmar.maps.start(m) + (first - vmoPage) * page;
      vmar.discard(start, (last - first) * page);
    }
    for (let i = index; i < end; i++) this.dropPage(i);
  }

  acquire(): void {
    if (this.refs === 0) throw new MmError('BadFrameState', 'acquiring a released VMO');
    this.refs++;
  }

  release(): void {
    if (this.refs === 0) throw new MmError('BadFrameState', 'releasing a released VMO');
    if (--this.refs > 0) return;
    for (const pfn of this.pages.values()) this.frames.put(pfn);
    this.pages.clear();
    this.dirty.clear();
  }
}
