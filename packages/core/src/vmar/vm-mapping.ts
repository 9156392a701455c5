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
 * A read-only snapshot of one mapping (the fields of its `MAPPING_SCHEMA` entity, with its
 * VMO object): what inspection views, the UI and tests read. The VMAR itself works on
 * mapping ids (`MappingTable`); a view is built only on request (`Vmar.view`,
 * `Vmar.views`), never on the paths of mmap, munmap, mprotect, mremap or page faults. A
 * view does not hold a VMO reference and goes stale when the mapping changes.
 */
export class MappingView {
  constructor(
    /** The mapping's id in its kernel's `MappingTable` (reused after the mapping goes). */
    readonly id: number,
    readonly start: number,
    readonly end: number,
    /** `VM_*` rights and may-rights. */
    readonly perms: number,
    /** `MAP_SHARED`. */
    readonly shared: boolean,
    readonly vmo: Vmo | null,
    /** Page index in the VMO of the page at `start` (0 without a VMO). */
    readonly vmoPage: number,
    readonly faultsAround: boolean,
    /** `VMA_*` flags. */
    readonly flags: number,
    private readonly pageSize: number,
  ) {}

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

  /** Whether the mapping is locked (`VM_LOCKED`). */
  get locked(): boolean {
    return (this.flags & VMA_LOCKED) !== 0;
  }

  /** Page index in the VMO backing the page at `vaddr`. */
  vmoIndex(vaddr: number): number {
    return this.vmoPage + Math.floor((vaddr - this.start) / this.pageSize);
  }
}
