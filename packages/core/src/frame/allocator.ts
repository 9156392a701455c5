import { MmError } from '../errors.ts';

/**
 * The frame allocator service (token `FrameAllocatorToken`): which frames are free. It
 * knows nothing of metadata; `Frames` builds and tears down frames around it. A replacement
 * (e.g. a buddy allocator) implements this surface.
 *
 * Contract: `alloc` and `allocContiguous` return free frames and mark them taken, or throw
 * `OutOfFrames` changing nothing; `allocContiguous(count, align)` returns the first of
 * `count` frames whose number is a multiple of `align` (a power of two; anything else is
 * `InvalidArgument`); `dealloc` of a free frame throws `BadFrameState`; `nrFree` is exact.
 */
export interface FrameAllocatorService {
  readonly nrFrames: number;
  readonly nrFree: number;
  isFree(pfn: number): boolean;
  alloc(): number;
  allocContiguous(count: number, align?: number): number;
  dealloc(pfn: number): void;
}

/**
 * The default frame allocator (`bitmap`): one bit per frame (1 = taken), scanned a 32-bit word at a time.
 *
 * Invariants: `nrFree` equals the number of clear bits; every word below `hint` is full,
 * so single-frame allocation starts there and freed frames move the hint back, which
 * makes freed frames the first to be reused (lowest address first).
 */
export class FrameAllocator implements FrameAllocatorService {
  private readonly bits: Uint32Array;
  private hint = 0;
  private free: number;

  constructor(readonly nrFrames: number) {
    const nrWords = Math.ceil(nrFrames / 32);
    this.bits = new Uint32Array(nrWords);
    // Frames past the end of memory in the last word are marked taken forever.
    const tail = nrFrames % 32;
    if (tail !== 0) this.bits[nrWords - 1] = ~((1 << tail) - 1) >>> 0;
    this.free = nrFrames;
  }

  get nrFree(): number {
    return this.free;
  }

  isFree(pfn: number): boolean {
    return (this.bits[pfn >>> 5] & (1 << (pfn & 31))) === 0;
  }

  /** Takes the lowest free frame; throws `OutOfFrames` when none is left. */
  alloc(): number {
    const bits = this.bits;
    const n = bits.length;
    for (let w = this.hint; w < n; w++) {
      const word = bits[w];
      if (word !== 0xffff_ffff) {
        const freeBits = ~word;
        const bit = 31 - Math.clz32(freeBits & -freeBits);
        bits[w] = (word | (1 << bit)) >>> 0;
        this.hint = w;
        this.free--;
        return w * 32 + bit;
      }
    }
    this.hint = n;
    throw new MmError('OutOfFrames', `no free frame left (${this.nrFrames} frames of memory)`);
  }

  /**
   * Takes `count` contiguous frames whose first frame number is a multiple of `align`
   * (a power of two); throws `OutOfFrames` when no such run is free.
   */
  allocContiguous(count: number, align = 1): number {
    if (
      !Number.isInteger(count) ||
      count < 1 ||
      !Number.isInteger(align) ||
      align < 1 ||
      (align & (align - 1)) !== 0
    ) {
      throw new MmError('InvalidArgument', `bad segment request: ${count} frames aligned to ${align}`);
    }
    let start = Math.ceil((this.hint * 32) / align) * align;
    while (start + count <= this.nrFrames) {
      const taken = this.lastTakenIn(start, count);
      if (taken < 0) {
        for (let p = start; p < start + count; p++) this.bits[p >>> 5] |= 1 << (p & 31);
        this.free -= count;
        return start;
      }
      start = Math.ceil((taken + 1) / align) * align;
    }
    throw new MmError('OutOfFrames', `no ${count} contiguous free frames aligned to ${align}`);
  }

  /** Returns a frame to the allocator. */
  dealloc(pfn: number): void {
    const w = pfn >>> 5;
    const mask = 1 << (pfn & 31);
    if ((this.bits[w] & mask) === 0) throw new MmError('BadFrameState', `frame ${pfn} freed twice`);
    this.bits[w] = (this.bits[w] & ~mask) >>> 0;
    this.free++;
    if (w < this.hint) this.hint = w;
  }

  /** The highest taken frame in `[start, start + count)`, or -1. */
  private lastTakenIn(start: number, count: number): number {
    for (let p = start + count - 1; p >= start; p--) {
      if (!this.isFree(p)) return p;
    }
    return -1;
  }
}
