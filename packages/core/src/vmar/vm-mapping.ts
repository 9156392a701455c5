import type { Vmo } from './vmo.ts';

/**
 * Resident-set-size categories (Linux's `MM_FILEPAGES`, `MM_ANONPAGES`), as Asterinas
 * counts them: pages of VMO-backed mappings (files and shared anonymous memory) are file
 * pages, pages of private anonymous mappings are anonymous pages.
 */
export const RSS_FILE = 0;
export const RSS_ANON = 1;
export const NR_RSS_TYPES = 2;

/**
 * VMA flags that `maps` does not show (Linux's `VM_*` bits of the same meaning). Mappings
 * with different flags never merge, so a flag change splits a mapping as `mprotect` does.
 */
/** `VM_LOCKED` (mlock, `MAP_LOCKED`): pages stay resident; the page cache's removal skips them (pinned). */
export const VMA_LOCKED = 1 << 0;
/** `VM_LOCKONFAULT` (`MLOCK_ONFAULT`, `MCL_ONFAULT`): locked as touched, never populated. */
export const VMA_LOCKONFAULT = 1 << 1;
/** `VM_GROWSDOWN`: a load or store just below grows the mapping down (a stack). */
export const VMA_GROWSDOWN = 1 << 2;
/** `VM_NORESERVE` (`MAP_NORESERVE`). */
export const VMA_NORESERVE = 1 << 3;
/** `VM_HUGEPAGE` / `VM_NOHUGEPAGE` (madvise huge-page advice). */
export const VMA_HUGEPAGE = 1 << 4;
export const VMA_NOHUGEPAGE = 1 << 5;
/** `VM_DONTCOPY` (`MADV_DONTFORK`): a fork child does not get the mapping. */
export const VMA_DONTFORK = 1 << 6;
/** `VM_WIPEONFORK` (`MADV_WIPEONFORK`): a fork child gets the mapping empty. */
export const VMA_WIPEONFORK = 1 << 7;
/** `VM_DONTDUMP` (`MADV_DONTDUMP`). */
export const VMA_DONTDUMP = 1 << 8;
/** `VM_RAND_READ` / `VM_SEQ_READ` (read-ahead advice). */
export const VMA_RAND_READ = 1 << 9;
export const VMA_SEQ_READ = 1 << 10;
/** `VM_SYNC` (`MAP_SYNC` on anonymous memory, where it is accepted). */
export const VMA_SYNC = 1 << 11;
/** `VM_LOCKED | VM_LOCKONFAULT`: what mlock sets and munlock and fork clear. */
export const VMA_LOCK_MASK = VMA_LOCKED | VMA_LOCKONFAULT;

/**
 * One mapping of a VMAR (a VMA): `[start, end)` with permissions, sharing and a backing.
 *
 * Backing: anonymous (`vmo === null`: private zero-filled pages allocated on first touch)
 * or a VMO whose page `vmoPage` is mapped at `start` (page `vmoPage + i` at
 * `start + i * pageSize`).
 *
 * A mapping never changes after creation: splitting, protecting or growing make new
 * mappings. A mapping with a VMO holds one reference to it from `create`/`slice` until
 * `dispose`; the VMAR disposes of every mapping it drops.
 */
export class VmMapping {
  private constructor(
    readonly start: number,
    readonly end: number,
    /** `VM_*` rights and may-rights. */
    readonly perms: number,
    /** `MAP_SHARED`: writes reach the VMO and fork shares the pages. */
    readonly shared: boolean,
    readonly vmo: Vmo | null,
    /** Page index in the VMO of the page at `start` (0 without a VMO). */
    readonly vmoPage: number,
    /** Read faults also map the neighbouring pages of the VMO. */
    readonly faultsAround: boolean,
    private readonly pageSize: number,
    /** `VMA_*` flags. */
    readonly flags: number,
  ) {}

  /** A new mapping; takes a reference to `vmo` if there is one. */
  static create(
    start: number,
    end: number,
    perms: number,
    shared: boolean,
    vmo: Vmo | null,
    vmoPage: number,
    faultsAround: boolean,
    pageSize: number,
    flags = 0,
  ): VmMapping {
    vmo?.acquire();
    return new VmMapping(
      start,
      end,
      perms,
      shared,
      vmo,
      vmo === null ? 0 : vmoPage,
      faultsAround,
      pageSize,
      flags,
    );
  }

  get size(): number {
    return this.end - this.start;
  }

  get rssType(): number {
    return this.vmo === null ? RSS_ANON : RSS_FILE;
  }

  /** Shared anonymous memory (Linux's shmem): a shared mapping of an anonymous VMO. */
  get isShmem(): boolean {
    return this.vmo?.anonymous === true;
  }

  /** Page index in the VMO backing the page at `vaddr`. */
  vmoIndex(vaddr: number): number {
    return this.vmoPage + Math.floor((vaddr - this.start) / this.pageSize);
  }

  /** Whether the mapping is locked (`VM_LOCKED`): the page cache's removal treats it as pinned. */
  get locked(): boolean {
    return (this.flags & VMA_LOCKED) !== 0;
  }

  /** The same backing over `[start, end)` (which may reach outside this mapping), new permissions and flags optional. */
  slice(start: number, end: number, perms: number = this.perms, flags: number = this.flags): VmMapping {
    return VmMapping.create(
      start,
      end,
      perms,
      this.shared,
      this.vmo,
      this.vmo === null ? 0 : this.vmoIndex(start),
      this.faultsAround,
      this.pageSize,
      flags,
    );
  }

  /**
   * The backing of this mapping from `srcStart` on, placed at `dst` with `size` bytes (a
   * move by mremap; the VMO pages continue past this mapping's end when `size` is larger).
   */
  relocated(srcStart: number, dst: number, size: number): VmMapping {
    return VmMapping.create(
      dst,
      dst + size,
      this.perms,
      this.shared,
      this.vmo,
      this.vmo === null ? 0 : this.vmoIndex(srcStart),
      this.faultsAround,
      this.pageSize,
      this.flags,
    );
  }

  /**
   * Whether `next`, starting where this one ends, could be the same mapping: same rights,
   * flags, sharing and faults-around, and either both anonymous or the same VMO at contiguous
   * pages (Asterinas's `try_merge` rule).
   */
  canMergeWith(next: VmMapping): boolean {
    if (this.end !== next.start || this.perms !== next.perms || this.shared !== next.shared) return false;
    if (this.faultsAround !== next.faultsAround || this.vmo !== next.vmo || this.flags !== next.flags)
      return false;
    return this.vmo === null || this.vmoPage + this.size / this.pageSize === next.vmoPage;
  }

  /** Drops the VMO reference. The mapping must not be used afterwards. */
  dispose(): void {
    this.vmo?.release();
  }
}
