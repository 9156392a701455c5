import { PROP_DIRTY, PROP_R, PROP_W, PROP_X } from '../arch/page-prop.ts';
import { fail, MmError } from '../errors.ts';
import { type DirtyPageSink, QUERY_MAPPED } from '../page-table/cursor.ts';
import { movePtes } from '../page-table/move-ptes.ts';
import type { VmSpace } from '../vm-space.ts';
import { IntervalSet } from './interval-set.ts';
import { type MappingTable, mappingTableOf } from './mapping-table.ts';
import { type MappingView, NR_RSS_TYPES, VMA_GROWSDOWN, VMA_LOCK_MASK } from './vm-mapping.ts';
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

/**
 * Hands the dirty pages an unmap of mapping `m` meets to `m`'s object as page indices and
 * frames (`Vmo.pageDirtied`). One per module, set for the length of one unmap
 * (`Vmar.unmapPages`): an unmap runs to its end on its thread before another starts (every
 * thread has its own module).
 */
class DirtyPagesToVmo implements DirtyPageSink {
  maps: MappingTable | null = null;
  vmo: Vmo | null = null;
  m = -1;

  pageDirtied(va: number, pfn: number): void {
    this.vmo!.pageDirtied!(this.maps!.vmoIndex(this.m, va), pfn);
  }
}

const DIRTY_PAGES_TO_VMO = new DirtyPagesToVmo();

/** Linux's `stack_guard_gap`: 256 pages that a grows-down mapping keeps from an accessible mapping below. */
export const STACK_GUARD_GAP_PAGES = 256;
/** `RLIMIT_STACK` in pages (8 MiB): a grows-down mapping grows no larger. */
export const STACK_LIMIT_PAGES = 2048;

/**
 * A virtual memory address region: the mappings of one address space, kept in an
 * interval set, over a `VmSpace` (Asterinas's root `Vmar`). Mappings are ids in the
 * kernel's `MappingTable` (`maps`): the interval set holds ids, their fields are
 * components in the kernel's layout. A mapping id in the set belongs to this VMAR alone.
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
  /** Every mapping of the kernel: read a mapping's fields here (`maps.start(id)`, ...). */
  readonly maps: MappingTable;
  /** This VMAR's mappings (ids into `maps`), by start. */
  readonly mappings: IntervalSet;
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
    this.maps = mappingTableOf(space.kernel);
    this.mappings = new IntervalSet(this.maps);
    this.lowest = config.lowest ?? VMAR_LOWEST_ADDR;
    this.cap = config.cap ?? space.upper;
    this.asLimit = config.asLimit ?? Number.POSITIVE_INFINITY;
    if (!(this.lowest >= space.lower && this.lowest < this.cap && this.cap <= space.upper)) {
      fail('InvalidConfig', 'the VMAR range must lie in the user half');
    }
  }

  // ---- queries ----

  /** The id of the mapping containing `vaddr` (Linux's `vma_lookup`), or -1. */
  findMapping(vaddr: number): number {
    return this.mappings.findOne(vaddr);
  }

  /** A read-only snapshot of mapping `id` (inspection and tests; not for hot paths). */
  view(id: number): MappingView {
    return this.maps.view(id);
  }

  /** A snapshot of the mapping containing `vaddr`, if any (inspection and tests). */
  viewAt(vaddr: number): MappingView | undefined {
    const id = this.mappings.findOne(vaddr);
    return id < 0 ? undefined : this.maps.view(id);
  }

  /** Snapshots of every mapping, ascending (inspection and tests). */
  views(): MappingView[] {
    return this.mappings.values().map((id) => this.maps.view(id));
  }

  /**
   * End of the run of mapped pages starting at `start`, stopping at the first hole or at
   * `end` (`start` itself if `start` is not mapped).
   */
  mappedPrefixEnd(start: number, end: number): number {
    let at = start;
    while (at < end) {
      const m = this.mappings.findOne(at);
      if (m < 0) return at;
      at = this.maps.end(m);
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
    const page = this.pageSize;
    // Not `% page`: a floating-point modulo above 2^31 (exact: a power of two; NaN and ±∞ fail too).
    if (start - Math.floor(start / page) * page !== 0 || size - Math.floor(size / page) * page !== 0)
      fail('UnalignedVaddr', 'range is not page aligned');
    if (!(start >= this.lowest && size > 0 && start + size <= this.cap)) {
      fail('InvalidVaddrRange', `[0x${start.toString(16)}, +0x${size.toString(16)}) is outside the VMAR`);
    }
  }

  // ---- bookkeeping of the interval set ----

  /** Inserts a mapping that cannot merge with its neighbours (its VMO's `onMap` hears of it). */
  private insertWithoutMerge(m: number): void {
    this.mappings.insert(m);
    this.totalVm += this.maps.size(m);
    this.maps.vmo(m)?.onMap?.(this, m);
  }

  /** Inserts a mapping, merging it with compatible adjacent ones. */
  private insertTryMerge(m: number): void {
    const maps = this.maps;
    let merged = m;
    const prev = this.mappings.findPrev(maps.start(m));
    if (prev >= 0 && maps.canMerge(prev, merged)) {
      this.takeOut(prev);
      const joined = maps.slice(prev, maps.start(prev), maps.end(merged));
      maps.dispose(merged);
      maps.dispose(prev);
      merged = joined;
    }
    const next = this.mappings.findNext(maps.end(merged));
    if (next >= 0 && maps.canMerge(merged, next)) {
      this.takeOut(next);
      const joined = maps.slice(merged, maps.start(merged), maps.end(next));
      maps.dispose(merged);
      maps.dispose(next);
      merged = joined;
    }
    this.insertWithoutMerge(merged);
  }

  /** Whether `m` is a live mapping of this VMAR. */
  private holds(m: number): boolean {
    return this.maps.isLive(m) && this.mappings.findOne(this.maps.start(m)) === m;
  }

  /** Removes a mapping from the set (its VMO's `onUnmap` hears of it; the caller disposes of it or reinserts it). */
  private takeOut(m: number): void {
    this.mappings.remove(this.maps.start(m));
    this.totalVm -= this.maps.size(m);
    this.maps.vmo(m)?.onUnmap?.(this, m);
  }

  /**
   * Cuts `[start, end)` out of mapping `m` (already taken out): the parts left and right of
   * it go back unmerged (they could not merge before either), and the returned piece
   * covers the intersection. Disposes of `m`.
   */
  private split(
    m: number,
    start: number,
    end: number,
    perms: number = this.maps.perms(m),
    flags: number = this.maps.flags(m),
  ): number {
    const maps = this.maps;
    const mStart = maps.start(m);
    const mEnd = maps.end(m);
    const s = Math.max(start, mStart);
    const e = Math.min(end, mEnd);
    if (mStart < s) this.insertWithoutMerge(maps.slice(m, mStart, s));
    if (e < mEnd) this.insertWithoutMerge(maps.slice(m, e, mEnd));
    const taken = maps.slice(m, s, e, perms, flags);
    maps.dispose(m);
    return taken;
  }

  /**
   * Unmaps the PTEs of `[start, end)`, inside mapping `m`, with the page table (`VmSpace.unmap`):
   * an object that keeps the dirty bits of its pages hears of them from the unmap itself
   * (`pageDirtied`). Returns the tracked frames unmapped.
   */
  private unmapPages(m: number, start: number, end: number): number {
    const vmo = this.maps.vmo(m);
    if (vmo === null || vmo.pageDirtied === undefined) return this.space.unmap(start, end);
    const sink = DIRTY_PAGES_TO_VMO;
    sink.maps = this.maps;
    sink.vmo = vmo;
    sink.m = m;
    try {
      return this.space.unmap(start, end, sink);
    } finally {
      sink.maps = null;
      sink.vmo = null;
      sink.m = -1;
    }
  }

  /**
   * Exit (`destroy`): the dirty PTEs of every mapping whose object keeps dirty bits
   * (`pageDirtied`) go to that object, with one read cursor moved from mapping to mapping
   * (the page table then goes without an unmap that could report them). Shared anonymous
   * memory that this VMAR's mappings alone hold is skipped: it dies with them (`dispose`
   * drops the last reference, which releases every page and what was recorded of them),
   * so the dirty bits would have nowhere to go. (Two mappings here of an object nothing
   * else holds each see two references and are walked: the object still dies with the
   * second one's `dispose`, and what was recorded with it.)
   */
  private gatherDirtyPagesAtExit(): void {
    const maps = this.maps;
    const mappings = this.mappings;
    let first = -1;
    let last = -1;
    for (let i = 0; i < mappings.size; i++) {
      if (this.keepsDirtyAtExit(mappings.idAt(i))) {
        if (first < 0) first = i;
        last = i;
      }
    }
    if (first < 0) return;
    const c = this.space.cursor(maps.start(mappings.idAt(first)), maps.end(mappings.idAt(last)));
    try {
      for (let i = first; i <= last; i++) {
        const m = mappings.idAt(i);
        if (!this.keepsDirtyAtExit(m)) continue;
        const vmo = maps.vmo(m)!;
        const end = maps.end(m);
        c.jump(maps.start(m));
        for (;;) {
          const va = c.findNext(end - c.va);
          if (va < 0) break;
          if (c.query() === QUERY_MAPPED && (c.qProp & PROP_DIRTY) !== 0)
            vmo.pageDirtied!(maps.vmoIndex(m, va), c.qPfn);
          if (c.va >= end) break;
        }
      }
    } finally {
      c.drop();
    }
  }

  /** Whether exit gathers the dirty PTEs of mapping `m` (see `gatherDirtyPagesAtExit`). */
  private keepsDirtyAtExit(m: number): boolean {
    const vmo = this.maps.vmo(m);
    return vmo !== null && vmo.pageDirtied !== undefined && !(vmo.anonymous === true && vmo.nrRefs === 1);
  }

  /** Adds `n` resident pages of type `rssType` (negative to remove). */
  addRss(rssType: number, n: number): void {
    this.rss[rssType] += n;
  }

  /**
   * Inserts a copy of mapping `m` of `parent` (a fork strategy's copy, sharing its backing).
   * The child must not have anything at that range; no merge is attempted (the parent had
   * none to do). Returns the copy's id.
   */
  adoptMapping(parent: Vmar, m: number): number {
    const copy = this.maps.slice(m, parent.maps.start(m), parent.maps.end(m));
    this.insertWithoutMerge(copy);
    return copy;
  }

  // ---- free-region allocation ----

  /**
   * A free range of `size` bytes aligned to `align`: above the highest mapping if it fits
   * below `cap` (fast path), else the lowest fit from `lowest` (first fit). Throws
   * `NoFreeRegion` when nothing fits.
   */
  allocFreeRegion(size: number, align: number = this.pageSize): number {
    const set = this.mappings;
    const last = set.last();
    const highest = alignUp(last < 0 ? this.lowest : this.maps.end(last), align);
    if (highest + size <= this.cap) return highest;
    let lastEnd = this.lowest;
    for (let i = 0; i < set.size; i++) {
      const start = alignUp(lastEnd, align);
      if (start + size <= set.startAt(i)) return start;
      lastEnd = this.maps.end(set.idAt(i));
    }
    throw new MmError('NoFreeRegion', `no free region of 0x${size.toString(16)} bytes`);
  }

  /** The lowest free range of `size` bytes inside `[lo, hi)` (first fit); `NoFreeRegion` if none. */
  allocFreeRegionIn(lo: number, hi: number, size: number): number {
    let at = Math.max(lo, this.lowest);
    for (const m of this.mappings.find(at, hi)) {
      if (at + size <= this.maps.start(m)) break;
      at = Math.max(at, this.maps.end(m));
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
    const m = this.maps.create(
      addr,
      addr + size,
      perms,
      opts.shared ?? false,
      vmo,
      vmoOffset / page,
      opts.faultsAround ?? false,
      (opts.flags ?? 0) | this.defFlags,
    );
    if (ownVmo) vmo!.release();
    this.insertTryMerge(m);
    return addr;
  }

  /** Bytes of `[start, end)` covered by mappings. */
  private overlapSize(start: number, end: number): number {
    let sum = 0;
    for (const m of this.mappings.find(start, end))
      sum += Math.min(end, this.maps.end(m)) - Math.max(start, this.maps.start(m));
    return sum;
  }

  /** Removes every mapping in `[start, start + len)`, splitting those partly inside (munmap); holes are fine. */
  unmap(start: number, len: number): void {
    const end = start + len;
    const maps = this.maps;
    for (const m of this.mappings.find(start, end)) {
      this.takeOut(m);
      const taken = this.split(m, start, end);
      const tStart = maps.start(taken);
      const tEnd = maps.end(taken);
      this.addRss(maps.rssType(taken), -this.unmapPages(taken, tStart, tEnd));
      maps.dispose(taken);
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
    const maps = this.maps;
    for (const m of this.mappings.find(start, end)) {
      // A piece merged into the previous one in this loop is gone already.
      if (!this.holds(m)) continue;
      const oldPerms = maps.perms(m);
      if ((oldPerms & VM_ALL_PERMS) === perms) continue;
      const newPerms = perms | (oldPerms & VM_ALL_MAY_PERMS);
      if (!permsValid(newPerms)) fail('PermissionDenied', 'requested rights exceed the may-rights');
      this.takeOut(m);
      const taken = this.split(m, start, end, newPerms);
      const bits = permsToProp(newPerms) & (PROP_R | PROP_X);
      this.space.protect(
        maps.start(taken),
        maps.end(taken),
        (prop) => (prop & ~(PROP_R | PROP_W | PROP_X)) | bits,
      );
      this.insertTryMerge(taken);
    }
  }

  /**
   * Sets the `set` flags and clears the `clear` flags of every mapping in `[start, end)`
   * (mlock, munlock, flag advice), splitting mappings partly inside and merging the
   * results, as `protect` does. Holes are skipped.
   */
  setFlags(start: number, end: number, set: number, clear: number): void {
    const maps = this.maps;
    for (const m of this.mappings.find(start, end)) {
      // A piece merged into the previous one in this loop is gone already.
      if (!this.holds(m)) continue;
      const flags = (maps.flags(m) & ~clear) | set;
      if (flags === maps.flags(m)) continue;
      this.takeOut(m);
      this.insertTryMerge(this.split(m, start, end, maps.perms(m), flags));
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
    const maps = this.maps;
    const above = this.mappings.findNext(pageVa);
    if (above < 0 || (maps.flags(above) & VMA_GROWSDOWN) === 0 || pageVa < this.lowest) return false;
    if (maps.end(above) - pageVa > STACK_LIMIT_PAGES * page) return false;
    const below = this.mappings.findPrev(pageVa);
    if (
      below >= 0 &&
      (maps.flags(below) & VMA_GROWSDOWN) === 0 &&
      (maps.perms(below) & VM_ALL_PERMS) !== 0 &&
      pageVa - maps.end(below) < STACK_GUARD_GAP_PAGES * page
    )
      return false;
    if (!this.fitsLimit(maps.start(above) - pageVa)) return false;
    this.takeOut(above);
    const grown = maps.slice(above, pageVa, maps.end(above));
    maps.dispose(above);
    this.insertWithoutMerge(grown);
    return true;
  }

  /**
   * Drops the pages of every mapping in `[start, start + len)` (MADV_DONTNEED): the mappings
   * stay; private anonymous pages read back as zeros, VMO pages keep their data in the VMO.
   */
  discard(start: number, len: number): void {
    const end = start + len;
    const maps = this.maps;
    for (const m of this.mappings.find(start, end)) {
      const s = Math.max(start, maps.start(m));
      const e = Math.min(end, maps.end(m));
      this.addRss(maps.rssType(m), -this.unmapPages(m, s, e));
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
    const maps = this.maps;
    const m = this.mappings.findOne(addr);
    if (m < 0) throw new MmError('NotMapped', `no mapping at 0x${addr.toString(16)}`);
    if (!this.canGrowInPlace(addr, oldSize, newSize)) {
      throw new MmError('RangeOccupied', `cannot grow the mapping at 0x${addr.toString(16)} in place`);
    }
    this.checkLimit(newSize - oldSize);
    this.takeOut(m);
    const grown = maps.slice(m, maps.start(m), addr + newSize);
    maps.dispose(m);
    this.insertTryMerge(grown);
  }

  /**
   * Whether `resize` can grow the mapping at `addr`, which ends at `addr + oldSize`, to
   * `newSize` bytes where it is: nothing lies in the way and the end stays below `cap` (the
   * address-space limit aside). False where no mapping holds `addr`. Callers that would
   * otherwise catch `RangeOccupied` ask first: an error is costly to build.
   */
  canGrowInPlace(addr: number, oldSize: number, newSize: number): boolean {
    const m = this.mappings.findOne(addr);
    if (m < 0) return false;
    const mEnd = this.maps.end(m);
    const newEnd = addr + newSize;
    return mEnd === addr + oldSize && newEnd <= this.cap && !this.mappings.intersects(mEnd, newEnd);
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
    if (this.mappings.findOne(oldAddr) < 0) {
      throw new MmError('NotMapped', `no mapping at 0x${oldAddr.toString(16)}`);
    }
    let size = oldSize;
    if (newSize < size) {
      this.unmap(oldAddr + newSize, size - newSize);
      size = newSize;
    }
    const maps = this.maps;
    const m = this.mappings.findOne(oldAddr);
    if (oldAddr + size > maps.end(m))
      throw new MmError('NotMapped', 'the range to move is not inside one mapping');
    if (size === 0 && maps.vmoId(m) < 0)
      fail('InvalidArgument', 'only a VMO-backed mapping can be duplicated');
    this.checkLimit(newSize - size);
    const dst = newAddr ?? this.allocFreeRegion(newSize);
    const moved = maps.relocated(m, oldAddr, dst, newSize);
    if (size > 0) {
      this.takeOut(m);
      maps.dispose(this.split(m, oldAddr, oldAddr + size));
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
    const maps = this.maps;
    const m = this.mappings.findOne(oldAddr);
    if (m < 0 || oldAddr + size > maps.end(m))
      throw new MmError('NotMapped', 'the range to move is not inside one mapping');
    this.checkLimit(size);
    const dst = newAddr ?? this.allocFreeRegion(size);
    const moved = maps.relocated(m, oldAddr, dst, size);
    this.movePages(oldAddr, dst, size);
    // Read before the insert: `moved` may merge with `m`, which then goes.
    const mStart = maps.start(m);
    const mEnd = maps.end(m);
    const mFlags = maps.flags(m);
    this.insertTryMerge(moved);
    if ((mFlags & VMA_LOCK_MASK) !== 0) this.setFlags(mStart, mEnd, 0, VMA_LOCK_MASK);
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
    const maps = this.maps;
    const mappings = this.mappings;
    // The set does not change in this loop (`onUnmap` and `dispose` leave it alone): no snapshot.
    for (let i = 0; i < mappings.size; i++) {
      const m = mappings.idAt(i);
      this.unmapPages(m, maps.start(m), maps.end(m));
      maps.vmo(m)?.onUnmap?.(this, m);
      maps.dispose(m);
    }
    this.mappings.clear();
    this.totalVm = 0;
    this.rss.fill(0);
  }

  /**
   * Ends the address space (a process's exit, Linux's `exit_mmap`): every mapping is
   * dropped as `clear` drops it (its VMO hears of it and gets the dirty bits first, unless
   * it is shared anonymous memory that dies with the mapping: `gatherDirtyPagesAtExit`), but
   * the pages are not unmapped a mapping at a time: destroying the page table releases every
   * page and node it holds, and releasing the ASID flushes the space's TLB entries once, as
   * Linux's full-mm TLB gather does. While something listens to `unmap` events, `clear`
   * runs first, so that every mapping still yields its event. The VMAR is unusable after.
   */
  destroy(): void {
    if (this.space.kernel.events.listenerCount('unmap') !== 0) this.clear();
    const maps = this.maps;
    const mappings = this.mappings;
    this.gatherDirtyPagesAtExit();
    // The set does not change in this loop (`onUnmap` and `dispose` leave it alone): no snapshot.
    for (let i = 0; i < mappings.size; i++) {
      const m = mappings.idAt(i);
      const vmo = maps.vmo(m);
      if (vmo !== null) vmo.onUnmap?.(this, m);
      maps.dispose(m);
    }
    this.mappings.release();
    this.totalVm = 0;
    this.rss.fill(0);
    this.space.destroy();
  }
}

function alignUp(x: number, align: number): number {
  return Math.ceil(x / align) * align;
}
