import { MmError } from '@mmkit/core';
import { checkSegmentRequest } from '@mmkit/core/internal';

/** Largest block order: 2^10 frames (4 MiB of 4 KiB pages), as Linux's default `MAX_PAGE_ORDER`. */
export const BUDDY_MAX_ORDER = 10;
const NR_ORDERS = BUDDY_MAX_ORDER + 1;
/** `orderOf[pfn]` for a frame that does not head a free block. */
const NOT_A_HEAD = -1;
/** End of a free list. */
const NIL = -1;

/**
 * A binary buddy frame allocator, as Linux's page allocator: free memory is kept as blocks
 * of 2^order frames (order 0 to `BUDDY_MAX_ORDER`), each aligned to its size, on one free
 * list per order. An allocation takes a block of the smallest order that fits, splitting a
 * larger one when needed (the halves it does not use go back on the lower lists); a free
 * merges the block with its buddy (the block it was split from, `pfn ^ 2^order`) for as long
 * as the buddy is free and whole, then puts it on its list.
 *
 * Data layout: the free lists are doubly linked through two `Int32Array`s indexed by frame
 * number (`next`, `prev`), with `orderOf` marking list heads; a bitmap says which frames are
 * taken, so `isFree` is O(1) for any frame.
 *
 * Invariants (verified by `check()`): every free frame lies in exactly one listed block; a
 * listed block of order k is aligned to 2^k, lies inside memory and has only free frames;
 * no two buddies of the same order are both listed (they would have merged); `nrFree` is the
 * sum of the listed blocks' sizes and the bitmap's clear bits.
 *
 * Frames are handed out from the head of a list (the block freed last comes back first, as
 * Linux's hot pages do), so the order of frame numbers differs from the bitmap allocator's
 * lowest-first one; nothing above the allocator depends on which frame it gets.
 */
export class BuddyAllocator {
  private readonly taken: Uint32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly orderOf: Int8Array;
  private readonly heads = new Int32Array(NR_ORDERS).fill(NIL);
  /** Listed blocks per order. */
  private readonly counts = new Float64Array(NR_ORDERS);
  private free = 0;
  /** Splits and merges since creation (how much work the buddy system did). */
  nrSplits = 0;
  nrMerges = 0;

  constructor(readonly nrFrames: number) {
    if (!Number.isSafeInteger(nrFrames) || nrFrames < 1 || nrFrames > 2 ** 31 - 1) {
      throw new MmError('InvalidArgument', `a buddy allocator needs 1 to 2^31-1 frames, got ${nrFrames}`);
    }
    this.taken = new Uint32Array(Math.ceil(nrFrames / 32));
    this.next = new Int32Array(nrFrames).fill(NIL);
    this.prev = new Int32Array(nrFrames).fill(NIL);
    this.orderOf = new Int8Array(nrFrames).fill(NOT_A_HEAD);
    this.listRange(0, nrFrames);
    this.free = nrFrames;
  }

  get nrFree(): number {
    return this.free;
  }

  /** Free blocks listed at each order (index = order). */
  freeBlocksPerOrder(): number[] {
    return Array.from(this.counts);
  }

  isFree(pfn: number): boolean {
    return (this.taken[pfn >>> 5] & (1 << (pfn & 31))) === 0;
  }

  /** Takes one frame; throws `OutOfFrames` when none is left. */
  alloc(): number {
    const pfn = this.takeBlock(0);
    if (pfn < 0) throw new MmError('OutOfFrames', `no free frame left (${this.nrFrames} frames of memory)`);
    this.markTaken(pfn, 1);
    this.free--;
    return pfn;
  }

  /**
   * Takes `count` contiguous frames whose first frame number is a multiple of `align` (a
   * power of two). A request that fits one block takes a block of order
   * `ceil(log2(max(count, align)))` and gives the unused tail back, as Linux's
   * `alloc_pages_exact`; a larger one (e.g. the metadata pages at boot) searches the bitmap
   * for a free aligned run and carves it out of the blocks that cover it. Throws
   * `OutOfFrames` when no such run is free.
   */
  allocContiguous(count: number, align = 1): number {
    checkSegmentRequest(count, align);
    const want = Math.max(count, align);
    const order = want <= 1 ? 0 : 32 - Math.clz32(want - 1);
    let start: number;
    if (order <= BUDDY_MAX_ORDER) {
      start = this.takeBlock(order);
      if (start < 0) start = this.carveRun(count, align);
      else this.releaseRange(start + count, start + (1 << order));
    } else {
      start = this.carveRun(count, align);
    }
    if (start < 0) throw new MmError('OutOfFrames', `no ${count} contiguous free frames aligned to ${align}`);
    this.markTaken(start, count);
    this.free -= count;
    return start;
  }

  /** Returns a frame; it merges with its free buddies. */
  dealloc(pfn: number): void {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.nrFrames) {
      throw new MmError('InvalidArgument', `frame number ${pfn} is not a frame of this memory`);
    }
    const w = pfn >>> 5;
    const mask = 1 << (pfn & 31);
    if ((this.taken[w] & mask) === 0) throw new MmError('BadFrameState', `frame ${pfn} freed twice`);
    this.taken[w] = (this.taken[w] & ~mask) >>> 0;
    this.free++;
    this.freeBlock(pfn, 0);
  }

  /** Violations of the invariants above, as messages (empty when all hold). */
  check(): string[] {
    const out: string[] = [];
    const covered = new Uint8Array(this.nrFrames);
    let listed = 0;
    for (let order = 0; order < NR_ORDERS; order++) {
      const size = 1 << order;
      let n = 0;
      let prev = NIL;
      for (let b = this.heads[order]; b !== NIL; b = this.next[b]) {
        if (++n > this.nrFrames) {
          out.push(`free list of order ${order} has a cycle`);
          break;
        }
        if (this.prev[b] !== prev)
          out.push(`block ${b} (order ${order}): back link ${this.prev[b]}, expected ${prev}`);
        prev = b;
        if (this.orderOf[b] !== order)
          out.push(`block ${b} is on list ${order} but marked order ${this.orderOf[b]}`);
        if (b % size !== 0 || b + size > this.nrFrames)
          out.push(`block ${b} (order ${order}) is misaligned or past the end`);
        for (let p = b; p < b + size && p < this.nrFrames; p++) {
          if (!this.isFree(p)) out.push(`frame ${p} is taken but lies in free block ${b} (order ${order})`);
          if (covered[p] !== 0) out.push(`frame ${p} lies in two free blocks`);
          covered[p] = 1;
        }
        const buddy = b ^ size;
        if (order < BUDDY_MAX_ORDER && buddy < this.nrFrames && this.orderOf[buddy] === order) {
          out.push(
            `buddies ${Math.min(b, buddy)} and ${Math.max(b, buddy)} (order ${order}) are both free but not merged`,
          );
        }
        listed += size;
      }
      if (n !== this.counts[order])
        out.push(`order ${order}: ${n} blocks listed, counter says ${this.counts[order]}`);
    }
    let clear = 0;
    for (let p = 0; p < this.nrFrames; p++) {
      if (this.isFree(p)) {
        clear++;
        if (covered[p] === 0) out.push(`free frame ${p} is on no free list`);
      }
    }
    if (listed !== this.free || clear !== this.free) {
      out.push(`nrFree is ${this.free}, free lists hold ${listed} frames, the bitmap ${clear}`);
    }
    return out;
  }

  /** Unlinks and returns a free block of exactly `order`, splitting a larger one; -1 if none. */
  private takeBlock(order: number): number {
    let o = order;
    while (o < NR_ORDERS && this.heads[o] === NIL) o++;
    if (o === NR_ORDERS) return -1;
    const block = this.heads[o];
    this.unlink(block, o);
    // Split down to `order`: the upper half of each split goes back on the list below.
    while (o > order) {
      o--;
      this.push(block + (1 << o), o);
      this.nrSplits++;
    }
    return block;
  }

  /** Lists a block that just became free, merging it with its buddy while possible. */
  private freeBlock(pfn: number, order: number): void {
    let block = pfn;
    let o = order;
    while (o < BUDDY_MAX_ORDER) {
      const buddy = block ^ (1 << o);
      if (buddy >= this.nrFrames || this.orderOf[buddy] !== o) break;
      this.unlink(buddy, o);
      block = Math.min(block, buddy);
      o++;
      this.nrMerges++;
    }
    this.push(block, o);
  }

  /** Frees the frames `[from, to)` of a block just taken (not yet marked taken), merging. */
  private releaseRange(from: number, to: number): void {
    for (let p = from; p < to; ) {
      const order = largestOrderAt(p, to - p);
      this.freeBlock(p, order);
      p += 1 << order;
    }
  }

  /** Lists `[from, to)` as the largest aligned blocks it holds, without merging. */
  private listRange(from: number, to: number): void {
    for (let p = from; p < to; ) {
      const order = largestOrderAt(p, to - p);
      this.push(p, order);
      p += 1 << order;
    }
  }

  /**
   * Finds the lowest free run of `count` frames aligned to `align` in the bitmap and removes
   * it from the blocks covering it (their parts outside the run are listed again). -1 if none.
   */
  private carveRun(count: number, align: number): number {
    let start = 0;
    while (start + count <= this.nrFrames) {
      let taken = -1;
      for (let p = start + count - 1; p >= start; p--) {
        if (!this.isFree(p)) {
          taken = p;
          break;
        }
      }
      if (taken < 0) {
        this.carve(start, start + count);
        return start;
      }
      start = Math.ceil((taken + 1) / align) * align;
    }
    return -1;
  }

  /** Unlists every free block meeting `[from, to)` and lists back their parts outside it. */
  private carve(from: number, to: number): void {
    for (let p = from; p < to; ) {
      const head = this.blockHeadOf(p);
      const order = this.orderOf[head];
      const end = head + (1 << order);
      this.unlink(head, order);
      this.listRange(head, p);
      if (end > to) this.listRange(to, end);
      p = end;
    }
  }

  /** The head of the free block that holds free frame `pfn`. */
  private blockHeadOf(pfn: number): number {
    for (let order = 0; order < NR_ORDERS; order++) {
      const head = pfn - (pfn % (1 << order));
      if (this.orderOf[head] === order) return head;
    }
    throw new MmError('BadFrameState', `free frame ${pfn} lies in no free block`);
  }

  private markTaken(start: number, count: number): void {
    for (let p = start; p < start + count; p++) this.taken[p >>> 5] |= 1 << (p & 31);
  }

  private push(block: number, order: number): void {
    const head = this.heads[order];
    this.next[block] = head;
    this.prev[block] = NIL;
    if (head !== NIL) this.prev[head] = block;
    this.heads[order] = block;
    this.orderOf[block] = order;
    this.counts[order]++;
  }

  private unlink(block: number, order: number): void {
    const n = this.next[block];
    const p = this.prev[block];
    if (p === NIL) this.heads[order] = n;
    else this.next[p] = n;
    if (n !== NIL) this.prev[n] = p;
    this.next[block] = NIL;
    this.prev[block] = NIL;
    this.orderOf[block] = NOT_A_HEAD;
    this.counts[order]--;
  }
}

/** The largest order k ≤ `BUDDY_MAX_ORDER` with `pfn` aligned to 2^k and 2^k ≤ `room`. */
function largestOrderAt(pfn: number, room: number): number {
  let order = pfn === 0 ? BUDDY_MAX_ORDER : Math.min(BUDDY_MAX_ORDER, 31 - Math.clz32(pfn & -pfn));
  while (1 << order > room) order--;
  return order;
}
