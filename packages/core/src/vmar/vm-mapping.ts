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
  ): VmMapping {
    vmo?.acquire();
    return new VmMapping(start, end, perms, shared, vmo, vmo === null ? 0 : vmoPage, faultsAround, pageSize);
  }

  get size(): number {
    return this.end - this.start;
  }

  get rssType(): number {
    return this.vmo === null ? RSS_ANON : RSS_FILE;
  }

  /** Page index in the VMO backing the page at `vaddr`. */
  vmoIndex(vaddr: number): number {
    return this.vmoPage + Math.floor((vaddr - this.start) / this.pageSize);
  }

  /** The same backing over `[start, end)` (which may reach outside this mapping), new permissions optional. */
  slice(start: number, end: number, perms: number = this.perms): VmMapping {
    return VmMapping.create(
      start,
      end,
      perms,
      this.shared,
      this.vmo,
      this.vmo === null ? 0 : this.vmoIndex(start),
      this.faultsAround,
      this.pageSize,
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
    );
  }

  /**
   * Whether `next`, starting where this one ends, could be the same mapping: same rights,
   * sharing and faults-around, and either both anonymous or the same VMO at contiguous
   * pages (Asterinas's `try_merge` rule).
   */
  canMergeWith(next: VmMapping): boolean {
    if (this.end !== next.start || this.perms !== next.perms || this.shared !== next.shared) return false;
    if (this.faultsAround !== next.faultsAround || this.vmo !== next.vmo) return false;
    return this.vmo === null || this.vmoPage + this.size / this.pageSize === next.vmoPage;
  }

  /** Drops the VMO reference. The mapping must not be used afterwards. */
  dispose(): void {
    this.vmo?.release();
  }
}
