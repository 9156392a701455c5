import { PROP_R, PROP_W, PROP_X } from '../arch/page-prop.ts';
import { fail, MmError } from '../errors.ts';
import { movePtes } from '../page-table/move-ptes.ts';
import type { VmSpace } from '../vm-space.ts';
import { IntervalSet } from './interval-set.ts';
import { NR_RSS_TYPES, VMA_GROWSDOWN, VMA_LOCK_MASK, VmMapping } from './vm-mapping.ts';
import { permsToProp, permsValid, VM_ALL_MAY_PERMS, VM_ALL_PERMS } from './vm-perms.ts';
import { AnonVmo, type Vmo } from './vmo.ts';

/** Lowest address a mapping may start at by default: Linux's `mmap_min_addr` (64 KiB), Asterinas's `ROOT_VMAR_LOWEST_ADDR`. */
export const VMAR_LOWEST_ADDR = 0x10000;

export interface VmarConfig {
  /** Lowest address a mapping may start at (default `VMAR_LOWEST_ADDR`). */
  lowest?: number;
  /** Highest-plus-one address a mapping may reach (default: the top of the user half). */
  cap?: number;
  /** Address-space limit in bytes, Linux's `RLIMIT_AS` (default: unlimited). */
  asLimit?: number;
}

/**
 * Where `map` puts a mapping: `any` lets the VMAR choose; `hint` uses `addr` when the
 * range is free, else chooses; `fixed` replaces whatever is at `addr` (`MAP_FIXED`);
 * `fixed-noreplace` fails with `RangeOccupied` if anything is there.
 */
export type Placement = 'any' | 'hint' | 'fixed' | 'fixed-noreplace';

export interface VmarMapOptions {
  /** Size in bytes, a non-zero multiple of `align`. */
  size: number;
  /** Requested rights (`VM_READ | VM_WRITE | VM_EXEC` subset). */
  perms: number;
  /** May-rights (`VM_MAY_*`), default all; they must cover `perms`. */
  mayPerms?: number;
  placement?: Placement;
  /** Address for every placement but `any`, a multiple of `align`. */
  addr?: number;
  /** Alignment of the chosen address: a power of two, multiple of the page size (default one page). */
  align?: number;
  /** `MAP_SHARED` semantics. A shared mapping without `vmo` gets a new anonymous VMO of its size. */
  shared?: boolean;
  /** Backing object (default: anonymous memory). */
  vmo?: Vmo;
  /** Byte offset in `vmo` of the first mapped page, a multiple of `align`. */
  vmoOffset?: number;
  /** Read faults also map the surrounding pages of the VMO. */
  faultsAround?: boolean;
  /** `VMA_*` flags of the new mapping (the VMAR's `defFlags` are added). */
  flags?: number;
}

/** Linux's `stack_guard_gap`: 256 pages that a grows-down mapping keeps from an accessible mapping below. */
export const STACK_GUARD_GAP_PAGES = 256;
/** `RLIMIT_STACK` in pages (8 MiB): a grows-down mapping grows no larger. */
export const STACK_LIMIT_PAGES = 2048;

/**
 * A virtual memory address region: the mappings of one address space, kept in an
 * interval set, over a `VmSpace` (Asterinas's root `Vmar`).
 *
 * Invariants, checked by `checkVmar`:
 * - mappings are disjoint, page aligned, inside `[lowest, cap)`; no two adjacent mappings
 *   could merge (every insertion that may create such a pair merges it);
 * - `totalVm` is the sum of the mappings' sizes and never exceeds `asLimit` through `map`,
 *   `resize` or `remap`;
 * - every present user PTE lies inside a mapping and allows no more than it does;
 * - `rss[type]` is exactly the number of present PTEs in mappings of that RSS type.
 *
 * Addresses and lengths are page-aligned numbers; callers (the syscall layer) validate user
 * input and choose Linux's errno. Errors here are `MmError`s.
 */
export class Vmar {
  readonly mappings = new IntervalSet<VmMapping>();
  /** Total mapped bytes. */
  totalVm = 0;
  /** Resident pages per RSS type (`RSS_FILE`, `RSS_ANON`). */
  readonly rss = new Float64Array(NR_RSS_TYPES);
  readonly lowest: number;
  readonly cap: number;
  asLimit: number;
  readonly pageSize: number;
  /** Pid of the process that owns this VMAR (-1 if none): named in the kernel's events. */
  owner = -1;
  /**
   * Flags every new mapping gets (Linux's `mm->def_flags`): `VMA_LOCKED`, with
   * `VMA_LOCKONFAULT`, after `mlockall(MCL_FUTURE)`.
   */
  defFlags = 0;
  /** The program break (Linux's `mm->brk`), relative to where the process's heap starts. */
  brk = 0;

  constructor(
    readonly space: VmSpace,
    config: VmarConfig = {},
  ) {
    this.pageSize = space.kernel.consts.basePageSize;
    this.lowest = config.lowest ?? VMAR_LOWEST_ADDR;
    this.cap = config.cap ?? space.upper;
    this.asLimit = config.asLimit ?? Number.POSITIVE_INFINITY;
    if (!(this.lowest >= space.lower && this.lowest < this.cap && this.cap <= space.upper)) {
      fail('InvalidConfig', 'the VMAR range must lie in the user half');
    }
  }

  // ---- queries ----

  /** The mapping containing `vaddr` (Linux's `vma_lookup`). */
  findMapping(vaddr: number): VmMapping | undefined {
    return this.mappings.findOne(vaddr);
  }

  /**
   * End of the run of mapped pages starting at `start`, stopping at the first hole or at
   * `end` (`start` itself if `start` is not mapped).
   */
  mappedPrefixEnd(start: number, end: number): number {
    let at = start;
    while (at < end) {
      const m = this.mappings.findOne(at);
      if (m === undefined) return at;
      at = m.end;
    }
    return end;
  }

  /** Whether every page of `[start, end)` is mapped. */
  isFullyMapped(start: number, end: number): boolean {
    return this.mappedPrefixEnd(start, end) >= end;
  }

  /** Whether adding `extra` bytes stays within the address-space limit. */
  fitsLimit(extra: number): boolean {
    return this.totalVm + extra <= this.asLimit;
  }

  private checkLimit(extra: number): void {
    if (!this.fitsLimit(extra)) {
      throw new MmError(
        'AddressSpaceLimit',
        `mapping 0x${extra.toString(16)} more bytes exceeds the address-space limit`,
      );
    }
  }

  private checkRange(start: number, size: number): void {
    if (start % this.pageSize !== 0 || size % this.pageSize !== 0)
      fail('UnalignedVaddr', 'range is not page aligned');
    if (!(start >= this.lowest && size > 0 && start + size <= this.cap)) {
      fail('InvalidVaddrRange', `[0x${start.toString(16)}, +0x${size.toString(16)}) is outside the VMAR`);
    }
  }

  // ---- bookkeeping of the interval set ----

  /** Inserts a mapping that cannot merge with its neighbours (its VMO's `onMap` hears of it). */
  private insertWithoutMerge(m: VmMapping): void {
    this.mappings.insert(m);
    this.totalVm += m.size;
    m.vmo?.onMap?.(this, m);
  }

  /** Inserts a mapping, merging it with compatible adjacent ones. */
  private insertTryMerge(m: VmMapping): void {
    let merged = m;
    const prev = this.mappings.findPrev(m.start);
    if (prev?.canMergeWith(merged)) {
      this.takeOut(prev);
      const joined = prev.slice(prev.start, merged.end);
      merged.dispose();
      prev.dispose();
      merged = joined;
    }
    const next = this.mappings.findNext(merged.end);
    if (next !== undefined && merged.canMergeWith(next)) {
      this.takeOut(next);
      const joined = merged.slice(merged.start, next.end);
      merged.dispose();
      next.dispose();
      merged = joined;
    }
    this.insertWithoutMerge(merged);
  }

  /** Removes a mapping from the set (its VMO's `onUnmap` hears of it; the caller disposes of it or reinserts it). */
  private takeOut(m: VmMapping): void {
    this.mappings.remove(m.start);
    this.totalVm -= m.size;
    m.vmo?.onUnmap?.(this, m);
  }

  /**
   * Cuts `[start, end)` out of mapping `m` (already taken out): the parts left and right of
   * it go back unmerged (they could not merge before either), and the returned piece
   * covers the intersection. Disposes of `m`.
   */
  private split(
    m: VmMapping,
    start: number,
    end: number,
    perms: number = m.perms,
    flags: number = m.flags,
  ): VmMapping {
    const s = Math.max(start, m.start);
    const e = Math.min(end, m.end);
    if (m.start < s) this.insertWithoutMerge(m.slice(m.start, s));
    if (e < m.end) this.insertWithoutMerge(m.slice(e, m.end));
    const taken = m.slice(s, e, perms, flags);
    m.dispose();
    return taken;
  }

  /** Adds `n` resident pages of type `rssType` (negative to remove). */
  addRss(rssType: number, n: number): void {
    this.rss[rssType] += n;
  }

  /**
   * Inserts a mapping copied from a parent VMAR by a fork strategy. The child must not
   * have anything at that range; no merge is attempted (the parent had none to do).
   */
  adoptMapping(m: VmMapping): void {
    this.insertWithoutMerge(m);
  }

  // ---- free-region allocation ----

  /**
   * A free range of `size` bytes aligned to `align`: above the highest mapping if it fits
   * below `cap` (fast path), else the lowest fit from `lowest` (first fit). Throws
   * `NoFreeRegion` when nothing fits.
   */
  allocFreeRegion(size: number, align: number = this.pageSize): number {
    const last = this.mappings.last();
    const highest = alignUp(last === undefined ? this.lowest : last.end, align);
    if (highest + size <= this.cap) return highest;
    let lastEnd = this.lowest;
    for (const m of this.mappings.values()) {
      const start = alignUp(lastEnd, align);
      if (start + size <= m.start) return start;
      lastEnd = m.end;
    }
    throw new MmError('NoFreeRegion', `no free region of 0x${size.toString(16)} bytes`);
  }

  /** The lowest free range of `size` bytes inside `[lo, hi)` (first fit); `NoFreeRegion` if none. */
  allocFreeRegionIn(lo: number, hi: number, size: number): number {
    let at = Math.max(lo, this.lowest);
    for (const m of this.mappings.find(at, hi)) {
      if (at + size <= m.start) break;
      at = Math.max(at, m.end);
    }
    if (at + size > Math.min(hi, this.cap))
      throw new MmError('NoFreeRegion', `no free region of 0x${size.toString(16)} bytes`);
    return at;
  }

  // ---- operations ----

  /** Creates a mapping; returns its address. */
  map(opts: VmarMapOptions): number {
    const page = this.pageSize;
    const align = opts.align ?? page;
    const size = opts.size;
    const placement = opts.placement ?? 'any';
    const mayPerms = opts.mayPerms ?? VM_ALL_MAY_PERMS;
    const vmoOffset = opts.vmoOffset ?? 0;
    if (!(align >= page && align % page === 0 && (align & (align - 1)) === 0))
      fail('InvalidArgument', 'invalid alignment');
    if (!(Number.isSafeInteger(size) && size > 0 && size % align === 0))
      fail('InvalidArgument', 'invalid mapping size');
    if (!(Number.isSafeInteger(vmoOffset) && vmoOffset >= 0 && vmoOffset % align === 0)) {
      fail('InvalidArgument', 'invalid VMO offset');
    }
    if ((opts.perms & ~VM_ALL_PERMS) !== 0 || (mayPerms & ~VM_ALL_MAY_PERMS) !== 0)
      fail('InvalidArgument', 'invalid permissions');
    const perms = opts.perms | mayPerms;
    if (!permsValid(perms)) fail('PermissionDenied', 'requested rights exceed the may-rights');
    let addr = 0;
    if (placement !== 'any') {
      if (opts.addr === undefined) fail('InvalidArgument', `placement '${placement}' needs an address`);
      addr = opts.addr;
      if (addr % align !== 0) fail('UnalignedVaddr', 'mapping address is not aligned');
      if (placement !== 'hint') this.checkRange(addr, size);
    }

    if (placement === 'fixed') {
      this.checkLimit(size - this.overlapSize(addr, addr + size));
      this.unmap(addr, size);
    } else {
      this.checkLimit(size);
      if (placement === 'fixed-noreplace') {
        if (this.mappings.intersects(addr, addr + size)) {
          throw new MmError('RangeOccupied', `[0x${addr.toString(16)}, +0x${size.toString(16)}) is occupied`);
        }
      } else if (
        placement !== 'hint' ||
        !(addr >= this.lowest && addr + size <= this.cap) ||
        this.mappings.intersects(addr, addr + size)
      ) {
        addr = this.allocFreeRegion(size, align);
      }
    }

    let vmo = opts.vmo ?? null;
    const ownVmo = vmo === null && opts.shared === true;
    if (ownVmo) vmo = new AnonVmo(this.space.kernel.frames, size / page);
    const m = VmMapping.create(
      addr,
      addr + size,
      perms,
      opts.shared ?? false,
      vmo,
      vmoOffset / page,
      opts.faultsAround ?? false,
      page,
      (opts.flags ?? 0) | this.defFlags,
    );
    if (ownVmo) vmo!.release();
    this.insertTryMerge(m);
    return addr;
  }

  /** Bytes of `[start, end)` covered by mappings. */
  private overlapSize(start: number, end: number): number {
    let sum = 0;
    for (const m of this.mappings.find(start, end)) sum += Math.min(end, m.end) - Math.max(start, m.start);
    return sum;
  }

  /** Removes every mapping in `[start, start + len)`, splitting those partly inside (munmap); holes are fine. */
  unmap(start: number, len: number): void {
    const end = start + len;
    for (const m of this.mappings.find(start, end)) {
      this.takeOut(m);
      const taken = this.split(m, start, end);
      taken.vmo?.onUnmapPages?.(this, taken, taken.start, taken.end);
      this.addRss(taken.rssType, -this.space.unmap(taken.start, taken.end));
      taken.dispose();
    }
  }

  /**
   * Sets the rights of every mapping in `[start, start + len)` to `perms` (mprotect),
   * splitting mappings partly inside and merging the results. Page properties become the
   * new rights without W: a later write fault grants W in place when the page is not
   * shared with anyone, which keeps copy-on-write sound. Holes are skipped. Throws
   * `PermissionDenied` at the first mapping whose may-rights do not allow `perms`; the
   * mappings before it are already changed (as Linux).
   */
  protect(start: number, len: number, perms: number): void {
    if ((perms & ~VM_ALL_PERMS) !== 0) fail('InvalidArgument', 'invalid permissions');
    const end = start + len;
    for (const m of this.mappings.find(start, end)) {
      if ((m.perms & VM_ALL_PERMS) === perms) continue;
      const newPerms = perms | (m.perms & VM_ALL_MAY_PERMS);
      if (!permsValid(newPerms)) fail('PermissionDenied', 'requested rights exceed the may-rights');
      this.takeOut(m);
      const taken = this.split(m, start, end, newPerms);
      const bits = permsToProp(newPerms) & (PROP_R | PROP_X);
      this.space.protect(taken.start, taken.end, (prop) => (prop & ~(PROP_R | PROP_W | PROP_X)) | bits);
      this.insertTryMerge(taken);
    }
  }

  /**
   * Sets the `set` flags and clears the `clear` flags of every mapping in `[start, end)`
   * (mlock, munlock, flag advice), splitting mappings partly inside and merging the
   * results, as `protect` does. Holes are skipped.
   */
  setFlags(start: number, end: number, set: number, clear: number): void {
    for (const m of this.mappings.find(start, end)) {
      const flags = (m.flags & ~clear) | set;
      if (flags === m.flags) continue;
      this.takeOut(m);
      this.insertTryMerge(this.split(m, start, end, m.perms, flags));
    }
  }

  /**
   * Grows a grows-down mapping down to the unmapped page `pageVa` (Linux's `expand_stack`
   * on a fault): the first mapping above must be grows-down and start the run of pages
   * the access falls below; the highest mapping below, unless it is grows-down or
   * inaccessible (`---`), must stay `STACK_GUARD_GAP_PAGES` away; the grown mapping may not
   * exceed `STACK_LIMIT_PAGES`. The new pages are empty. Returns whether it grew.
   */
  growDown(pageVa: number): boolean {
    const page = this.pageSize;
    const above = this.mappings.findNext(pageVa);
    if (above === undefined || (above.flags & VMA_GROWSDOWN) === 0 || pageVa < this.lowest) return false;
    if (above.end - pageVa > STACK_LIMIT_PAGES * page) return false;
    const below = this.mappings.findPrev(pageVa);
    if (
      below !== undefined &&
      (below.flags & VMA_GROWSDOWN) === 0 &&
      (below.perms & VM_ALL_PERMS) !== 0 &&
      pageVa - below.end < STACK_GUARD_GAP_PAGES * page
    )
      return false;
    if (!this.fitsLimit(above.start - pageVa)) return false;
    this.takeOut(above);
    const grown = above.slice(pageVa, above.end);
    above.dispose();
    this.insertWithoutMerge(grown);
    return true;
  }

  /**
   * Drops the pages of every mapping in `[start, start + len)` (MADV_DONTNEED): the mappings
   * stay; private anonymous pages read back as zeros, VMO pages keep their data in the VMO.
   */
  discard(start: number, len: number): void {
    const end = start + len;
    for (const m of this.mappings.find(start, end)) {
      const s = Math.max(start, m.start);
      const e = Math.min(end, m.end);
      m.vmo?.onUnmapPages?.(this, m, s, e);
      this.addRss(m.rssType, -this.space.unmap(s, e));
    }
  }

  /**
   * Resizes the mapping range `[addr, addr + oldSize)` in place. Shrinking unmaps the tail
   * (which may cross holes and other mappings). Growing needs the range to end exactly at
   * the end of the mapping containing `addr` (`NotMapped` if there is none) and the pages
   * after it to be free and below `cap` (`RangeOccupied` otherwise), and the limit to allow it.
   */
  resize(addr: number, oldSize: number, newSize: number): void {
    if (newSize === oldSize) return;
    if (newSize < oldSize) {
      this.unmap(addr + newSize, oldSize - newSize);
      return;
    }
    const m = this.mappings.findOne(addr);
    if (m === undefined) throw new MmError('NotMapped', `no mapping at 0x${addr.toString(16)}`);
    const newEnd = addr + newSize;
    if (m.end !== addr + oldSize || newEnd > this.cap || this.mappings.intersects(m.end, newEnd)) {
      throw new MmError('RangeOccupied', `cannot grow the mapping at 0x${addr.toString(16)} in place`);
    }
    this.checkLimit(newSize - oldSize);
    this.takeOut(m);
    const grown = m.slice(m.start, newEnd);
    m.dispose();
    this.insertTryMerge(grown);
  }

  /**
   * Moves `[oldAddr, oldAddr + oldSize)` to `newAddr` with `newSize` bytes (mremap with a
   * move), in Linux's order: the destination is unmapped first (fixed `newAddr`), then the
   * source is looked up again (`NotMapped` if the destination unmap removed it), a shrink
   * unmaps the source's tail, and the remaining source, which must lie in one mapping,
   * moves: its page-table entries move to the new range (frames are never copied) and it
   * grows by `newSize - oldSize` bytes (fresh pages, or further VMO pages). With
   * `newAddr === null` the VMAR chooses the destination. An `oldSize` of 0 duplicates a
   * VMO-backed mapping. Returns the new address.
   */
  remap(
    oldAddr: number,
    oldSize: number,
    newAddr: number | null,
    newSize: number,
    keepSource = false,
  ): number {
    if (keepSource) return this.remapKeepingSource(oldAddr, oldSize, newAddr);
    if (newAddr !== null) {
      this.checkRange(newAddr, newSize);
      this.unmap(newAddr, newSize);
    }
    if (this.mappings.findOne(oldAddr) === undefined) {
      throw new MmError('NotMapped', `no mapping at 0x${oldAddr.toString(16)}`);
    }
    let size = oldSize;
    if (newSize < size) {
      this.unmap(oldAddr + newSize, size - newSize);
      size = newSize;
    }
    const m = this.mappings.findOne(oldAddr)!;
    if (oldAddr + size > m.end) throw new MmError('NotMapped', 'the range to move is not inside one mapping');
    if (size === 0 && m.vmo === null) fail('InvalidArgument', 'only a VMO-backed mapping can be duplicated');
    this.checkLimit(newSize - size);
    const dst = newAddr ?? this.allocFreeRegion(newSize);
    const moved = m.relocated(oldAddr, dst, newSize);
    if (size > 0) {
      this.takeOut(m);
      this.split(m, oldAddr, oldAddr + size).dispose();
      this.movePages(oldAddr, dst, size);
    }
    this.insertTryMerge(moved);
    return dst;
  }

  /**
   * `MREMAP_DONTUNMAP`: moves the pages of `[oldAddr, oldAddr + size)`, which must lie in
   * one mapping (`NotMapped`), to a new mapping at `newAddr` (unmapped first), or at a
   * VMAR-chosen address for `null`, with the same backing, rights and flags. The source
   * mapping stays with no PTEs (private anonymous pages read zero again, VMO pages come
   * back from the VMO) and, as Linux does, the whole source mapping loses its lock flags.
   * Returns the new address.
   */
  private remapKeepingSource(oldAddr: number, size: number, newAddr: number | null): number {
    if (newAddr !== null) {
      this.checkRange(newAddr, size);
      this.unmap(newAddr, size);
    }
    const m = this.mappings.findOne(oldAddr);
    if (m === undefined || oldAddr + size > m.end)
      throw new MmError('NotMapped', 'the range to move is not inside one mapping');
    this.checkLimit(size);
    const dst = newAddr ?? this.allocFreeRegion(size);
    const moved = m.relocated(oldAddr, dst, size);
    this.movePages(oldAddr, dst, size);
    this.insertTryMerge(moved);
    if ((m.flags & VMA_LOCK_MASK) !== 0) this.setFlags(m.start, m.end, 0, VMA_LOCK_MASK);
    return dst;
  }

  /** Moves the present PTEs of `[src, src + size)` to the same offsets at `dst` (ranges disjoint and page aligned). */
  private movePages(src: number, dst: number, size: number): void {
    const c = this.space.cursorMut(Math.min(src, dst), Math.max(src, dst) + size);
    let nrMoved = 0;
    try {
      nrMoved = movePtes(c, src, dst, size);
    } finally {
      c.drop();
    }
    this.space.flushRange(src, src + size, nrMoved);
  }

  /** Removes every mapping and unmaps every page (the page table itself stays). */
  clear(): void {
    for (const m of this.mappings.values()) {
      m.vmo?.onUnmapPages?.(this, m, m.start, m.end);
      this.space.unmap(m.start, m.end);
      m.vmo?.onUnmap?.(this, m);
      m.dispose();
    }
    this.mappings.clear();
    this.totalVm = 0;
    this.rss.fill(0);
  }
}

function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}
