import { MmError } from '../errors.ts';
import type { KernelEventBus } from '../kernel/events.ts';
import type { FrameAllocatorService } from './allocator.ts';
import { FRAME_TYPE_NAMES, FrameType, NR_FRAME_TYPES } from './frame-type.ts';
import type { FrameMetaStore } from './meta-store.ts';
import type { PhysMemory } from './phys-memory.ts';
import { REF_COUNT_MAX, REF_COUNT_UNUSED } from './ref-count.ts';

/** Runs when the last reference to a frame of some type goes, before the frame is freed. */
export type DropHook = (pfn: number) => void;

/** How `Frames` shares its counts with other threads (see `Frames`). */
export interface SharedFrames {
  /**
   * `nrViews * IN_USE_ROW_STRIDE` `Int32`s: frames allocated minus frames freed per type, one
   * row per view (owner block) on a cache line of its own, each written by its own view
   * only; the sum of the rows is the count.
   */
  readonly inUseByType: SharedArrayBuffer;
  /** This view's row (its owner block). */
  readonly view: number;
  /** Whether the frames were built by another view (the allocator is not all free then). */
  readonly attach: boolean;
}

/**
 * `Int32`s from one view's row of `SharedFrames.inUseByType` to the next: 128 bytes, although
 * a row uses `NR_FRAME_TYPES` of them. Every allocation and free writes its view's row; rows
 * side by side put several views on one cache line, which then moved between the cores of
 * threads that share nothing else. 128 bytes keep two rows off one 64-byte line whatever the
 * buffer's alignment (which JavaScript cannot choose) and off a pair of lines that the
 * adjacent-line prefetch fetches together.
 */
export const IN_USE_ROW_STRIDE = 32;

/** Bytes of `SharedFrames.inUseByType` for `nrViews` views. */
export function inUseByTypeBytes(nrViews: number): number {
  return nrViews * IN_USE_ROW_STRIDE * 4;
}

/**
 * Frames in use and their reference counts: the allocator plus the metadata slots.
 *
 * A frame's reference count is the number of handles (references held by code: page-table
 * roots, page caches, callers of `alloc`/`get`) plus the number of PTEs that point to it.
 * Handles are counted separately too, so that `kernel.check()` can verify the sum.
 * When the count drops to zero the frame's drop hook runs (count 0 = being torn down),
 * its contents are forgotten and it returns to the allocator (count `REF_COUNT_UNUSED`).
 *
 * Shared mode (`shared` given): the counts live on `SharedArrayBuffer`s. While one view
 * alone uses them (UP mode: a kernel that has not handed out its state) they change with
 * the plain reads and writes of a private store, on the same words. In SMP mode (`enterSmp`,
 * or a view of another kernel: worker threads) the reference and handle counts change by
 * one `Atomics.add`/`Atomics.sub` each on the store's columns (an invalid old value is put
 * back and reported, so a misuse that is an error on one thread stays one), so two threads can take and drop
 * references to one frame at once (e.g. one unmapping a page while the thread that mapped
 * it drops its handle); exactly one of them sees the count reach 0 and frees the frame.
 * Two cases need no read-modify-write: dropping a reference whose count reads 1 (the
 * caller's is the only one, and only a holder can take another), and a map that takes over
 * the handle of a fresh allocation (`checkFresh`).
 * The per-type counts are kept per view (a row of shared `Int32`s that only this view
 * writes, with plain stores: a frame freed by another view than the one that allocated it
 * makes the rows negative and positive, the sum is exact) and summed on demand
 * (`nrInUseByType`), so that allocating and freeing take no atomic operation; `nrAllocs`
 * and `nrFrees` count this view's own operations. A private store and UP mode take the plain
 * path.
 */
export class Frames {
  readonly allocator: FrameAllocatorService;
  private readonly dropHooks: (DropHook | undefined)[] = new Array(NR_FRAME_TYPES);
  /** This view's allocations minus frees per type (all of them on a private store). */
  private readonly ownInUse: Float64Array | Int32Array;
  /** Shared mode: every view's rows of `ownInUse` (null on a private store). */
  private readonly allInUse: Int32Array | null = null;
  /** The kernel's event bus, if any (events are emitted only when someone listens). */
  events: KernelEventBus | null = null;
  /** Total frames allocated and freed since boot (by this view, in shared mode). */
  nrAllocs = 0;
  nrFrees = 0;
  /**
   * SMP mode: other views may change the counts at once, so they change with `Atomics`.
   * False on a private store and in UP mode (plain accesses through the store).
   */
  private atomic: boolean;
  /** Shared mode: the count columns, for `Atomics` (`array[pfn * stride + offset]`). */
  private readonly rcArray: Uint32Array | null = null;
  private readonly rcStride: number = 1;
  private readonly rcOffset: number = 0;
  private readonly hArray: Uint32Array | null = null;
  private readonly hStride: number = 1;
  private readonly hOffset: number = 0;

  constructor(
    readonly meta: FrameMetaStore,
    readonly memory: PhysMemory,
    allocator: FrameAllocatorService,
    shared: SharedFrames | null = null,
  ) {
    if (
      allocator.nrFrames !== meta.capacity ||
      (shared?.attach !== true && allocator.nrFree !== meta.capacity)
    )
      throw new MmError(
        'InvalidConfig',
        `the frame allocator must start with all ${meta.capacity} frames free`,
      );
    this.allocator = allocator;
    this.atomic = shared?.attach === true;
    if (shared === null) {
      this.ownInUse = new Float64Array(NR_FRAME_TYPES);
      return;
    }
    this.allInUse = new Int32Array(shared.inUseByType);
    const row = shared.view * IN_USE_ROW_STRIDE;
    if (row + IN_USE_ROW_STRIDE > this.allInUse.length)
      throw new MmError('InvalidConfig', `view ${shared.view} has no row in the shared per-type counts`);
    this.ownInUse = this.allInUse.subarray(row, row + NR_FRAME_TYPES);
    const rc = meta.column?.('refCount');
    const h = meta.column?.('handles');
    if (!(rc?.array instanceof Uint32Array && h?.array instanceof Uint32Array))
      throw new MmError(
        'InvalidConfig',
        `shared memory needs a layout with typed-array columns (not '${meta.layout}')`,
      );
    this.rcArray = rc.array;
    this.rcStride = rc.stride;
    this.rcOffset = rc.offset;
    this.hArray = h.array;
    this.hStride = h.stride;
    this.hOffset = h.offset;
  }

  get nrFrames(): number {
    return this.meta.capacity;
  }
  get nrFree(): number {
    return this.allocator.nrFree;
  }
  get nrInUse(): number {
    return this.meta.capacity - this.allocator.nrFree;
  }

  /**
   * Enters SMP mode for good: another view may attach from now on (see `Kernel.smp`), so
   * counts change with `Atomics`; the allocator and the pages switch with their `buffers()`.
   */
  enterSmp(): void {
    if (this.rcArray === null)
      throw new MmError('InvalidArgument', 'the frames are not on thread-safe shared memory');
    this.atomic = true;
  }

  /** Installs the drop hook of a frame type (one per type). */
  setDropHook(type: FrameType, hook: DropHook): void {
    this.dropHooks[type] = hook;
  }

  /** Takes a free frame of `type`; the caller owns the one handle (count 1). */
  alloc(type: FrameType = FrameType.Untyped): number {
    const pfn = this.allocator.alloc();
    this.initFrame(pfn, type);
    return pfn;
  }

  /** Takes `count` contiguous frames aligned to `align` frames, each with one handle. */
  allocContiguous(count: number, align = 1, type: FrameType = FrameType.Untyped): number {
    const first = this.allocator.allocContiguous(count, align);
    for (let pfn = first; pfn < first + count; pfn++) this.initFrame(pfn, type);
    return first;
  }

  refCount(pfn: number): number {
    return this.meta.refCount(pfn);
  }
  handles(pfn: number): number {
    return this.meta.handles(pfn);
  }
  type(pfn: number): number {
    return this.meta.type(pfn);
  }
  isInUse(pfn: number): boolean {
    return this.meta.refCount(pfn) !== REF_COUNT_UNUSED;
  }

  /**
   * Throws `InvalidArgument` unless `pfn` is the number of a frame of this memory (a whole
   * number below `nrFrames`). Every entry point that takes a frame number checks it first,
   * so a bad number never reaches the metadata arrays (which would read `undefined`).
   */
  checkPfn(pfn: number): void {
    // `>>> 0` keeps whole numbers below 2^32 (every frame number) and changes anything else.
    if (pfn >>> 0 !== pfn || pfn >= this.meta.capacity)
      throw new MmError(
        'InvalidArgument',
        `frame number ${pfn} is invalid (memory has frames 0..${this.meta.capacity - 1})`,
      );
  }

  /**
   * Throws `BadFrameState` unless `pfn` is a fresh allocation: a frame in use whose one
   * reference is its one handle (count 1, one handle), as `alloc` returns it. A map that
   * takes over the caller's handle (`CursorMut.mapFresh`, `LeafSlot.mapFresh`) checks this
   * first and then moves the reference from the handle to the PTE by setting the handle
   * count to 0: the reference count stays 1, so no atomic operation is needed even on
   * shared memory (no other thread can reach a frame that nothing points to yet).
   */
  checkFresh(pfn: number): void {
    this.checkPfn(pfn);
    const meta = this.meta;
    const rc = meta.refCount(pfn);
    if (rc === REF_COUNT_UNUSED) throw new MmError('BadFrameState', `frame ${pfn} is not in use`);
    if (rc !== 1 || meta.handles(pfn) !== 1)
      throw new MmError(
        'BadFrameState',
        `frame ${pfn} is not a fresh allocation (count ${rc}, ${meta.handles(pfn)} handles; one handle and nothing else expected)`,
      );
  }

  /** Takes one more handle to a frame in use. */
  get(pfn: number): void {
    this.incRef(pfn);
    if (this.atomic) Atomics.add(this.hArray as Uint32Array, pfn * this.hStride + this.hOffset, 1);
    else this.meta.setHandles(pfn, this.meta.handles(pfn) + 1);
  }

  /** Drops one handle; the frame is freed when nothing references it any more. */
  put(pfn: number): void {
    this.checkPfn(pfn);
    if (this.atomic) this.putSharedHandle(pfn);
    else {
      const h = this.meta.handles(pfn);
      if (h === 0) throw new MmError('BadFrameState', `frame ${pfn} has no handle to put`);
      this.meta.setHandles(pfn, h - 1);
    }
    this.decRef(pfn);
  }

  /** Adds a reference held by a PTE. Crossing `REF_COUNT_MAX` is an error, never a wrap. */
  incRef(pfn: number): void {
    // The common case in one test: a private store or UP mode, a frame of this memory, a
    // count in use below the ceiling (`1 .. REF_COUNT_MAX - 1`: one unsigned compare).
    const meta = this.meta;
    if (!this.atomic && pfn >>> 0 === pfn && pfn < meta.capacity) {
      const rc = meta.refCount(pfn);
      if ((rc - 1) >>> 0 < REF_COUNT_MAX - 1) {
        meta.setRefCount(pfn, rc + 1);
        return;
      }
    }
    this.checkPfn(pfn);
    if (this.atomic) {
      this.incRefShared(pfn);
      return;
    }
    const rc = this.meta.refCount(pfn);
    checkIncrement(pfn, rc);
    this.meta.setRefCount(pfn, rc + 1);
  }

  /** Removes a reference held by a PTE; frees the frame when it was the last. */
  decRef(pfn: number): void {
    // The common case in one test: a private store or UP mode, a frame of this memory, a
    // count that stays in use (`2 .. REF_COUNT_MAX`: one unsigned compare).
    const meta = this.meta;
    if (!this.atomic && pfn >>> 0 === pfn && pfn < meta.capacity) {
      const rc = meta.refCount(pfn);
      if ((rc - 2) >>> 0 < REF_COUNT_MAX - 1) {
        meta.setRefCount(pfn, rc - 1);
        return;
      }
    }
    this.checkPfn(pfn);
    if (this.atomic) {
      if (this.decRefShared(pfn)) this.free(pfn);
      return;
    }
    const rc = this.meta.refCount(pfn);
    if (rc === REF_COUNT_UNUSED || rc === 0) throw new MmError('BadFrameState', `frame ${pfn} is not in use`);
    if (rc > 1) {
      this.meta.setRefCount(pfn, rc - 1);
      return;
    }
    this.meta.setRefCount(pfn, 0);
    this.free(pfn);
  }

  /**
   * SMP mode: adds a reference with one `Atomics.add`; a count that was not in use or at
   * the ceiling is put back and reported (nobody may rely on a count it does not hold).
   */
  private incRefShared(pfn: number): void {
    const a = this.rcArray as Uint32Array;
    const i = pfn * this.rcStride + this.rcOffset;
    const rc = Atomics.add(a, i, 1);
    if (rc === REF_COUNT_UNUSED || rc === 0 || rc >= REF_COUNT_MAX) {
      Atomics.sub(a, i, 1);
      checkIncrement(pfn, rc);
    }
  }

  /**
   * SMP mode: removes a reference; true when it was the last. A count of 1 is the
   * caller's own reference and nobody else's: a reference is only ever taken by a holder of
   * another one (`get`, a PTE copied under its node's lock), so none can appear meanwhile
   * and the count goes to 0 with a plain store, no read-modify-write (the common case:
   * unmapping a page only its PTE held). Otherwise one `Atomics.sub`, as two holders may
   * drop their references at once. The first read is a plain one (tear-free for 32-bit
   * elements): every count but 1 goes on to the `Atomics.sub`, which decides from the
   * count it changes; and a 1 read while another holder drops its reference can only be
   * the one that holder's `Atomics.sub` left, so the caller's is then the last. An
   * `Atomics.load` there cost about 8 ns per unmapped page on Node 20 (a builtin call, not
   * an inlined load), most of the gap above the `Atomics.sub` itself.
   */
  private decRefShared(pfn: number): boolean {
    const a = this.rcArray as Uint32Array;
    const i = pfn * this.rcStride + this.rcOffset;
    if (a[i] === 1) {
      a[i] = 0;
      return true;
    }
    const rc = Atomics.sub(a, i, 1);
    if (rc === REF_COUNT_UNUSED || rc === 0) {
      Atomics.add(a, i, 1);
      throw new MmError('BadFrameState', `frame ${pfn} is not in use`);
    }
    return rc === 1;
  }

  /** SMP mode: drops one handle, refusing to go below zero. */
  private putSharedHandle(pfn: number): void {
    const a = this.hArray as Uint32Array;
    const i = pfn * this.hStride + this.hOffset;
    if (Atomics.sub(a, i, 1) === 0) {
      Atomics.add(a, i, 1);
      throw new MmError('BadFrameState', `frame ${pfn} has no handle to put`);
    }
  }

  /** Tears down a frame whose count just reached 0 and gives it back to the allocator. */
  private free(pfn: number): void {
    const type = this.meta.type(pfn);
    const hook = this.dropHooks[type];
    if (hook !== undefined) hook(pfn);
    this.memory.release(pfn);
    this.countInUse(type, -1);
    this.meta.setType(pfn, FrameType.Free);
    this.meta.setRefCount(pfn, REF_COUNT_UNUSED);
    this.allocator.dealloc(pfn);
    this.nrFrees++;
    if (this.events !== null && this.events.listenerCount('frameFree') !== 0)
      this.events.emit('frameFree', pfn, type);
  }

  /**
   * Frames currently in use, per type (indexed by `FrameType`). In shared mode, the sum of
   * every view's row (a snapshot while other threads run); a fresh array each call there.
   */
  get nrInUseByType(): Float64Array | Int32Array {
    const all = this.allInUse;
    if (all === null) return this.ownInUse;
    const out = new Int32Array(NR_FRAME_TYPES);
    for (let row = 0; row < all.length; row += IN_USE_ROW_STRIDE)
      for (let t = 0; t < NR_FRAME_TYPES; t++)
        out[t] += this.atomic ? Atomics.load(all, row + t) : all[row + t];
    return out;
  }

  /** Frames in use per type name. */
  usageByType(): Record<string, number> {
    const counts = this.nrInUseByType;
    const out: Record<string, number> = {};
    for (let t = 1; t < NR_FRAME_TYPES; t++) out[FRAME_TYPE_NAMES[t]] = counts[t];
    return out;
  }

  /** Shared mode: gives the allocator's per-view cache back (a view that stops calls it). */
  flushCaches(): void {
    this.allocator.flush?.();
  }

  private countInUse(type: number, delta: number): void {
    // Only this view writes its row: no atomic operation is needed.
    this.ownInUse[type] += delta;
  }

  private initFrame(pfn: number, type: FrameType): void {
    // Count 0 while the metadata is built, as in the seed's `from_unused`.
    this.meta.setRefCount(pfn, 0);
    this.meta.setType(pfn, type);
    this.meta.setHandles(pfn, 1);
    this.meta.setRefCount(pfn, 1);
    this.countInUse(type, 1);
    this.nrAllocs++;
    if (this.events !== null && this.events.listenerCount('frameAlloc') !== 0)
      this.events.emit('frameAlloc', pfn, type);
  }
}

/** Throws unless a count of `rc` may be incremented (in use and below the ceiling). */
function checkIncrement(pfn: number, rc: number): void {
  if (rc === REF_COUNT_UNUSED || rc === 0) {
    throw new MmError('BadFrameState', `frame ${pfn} is not in use (count ${rc === 0 ? 0 : 'unused'})`);
  }
  if (rc >= REF_COUNT_MAX)
    throw new MmError('RefCountOverflow', `frame ${pfn} reference count at its ceiling`);
}
