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

/** The buffers of a shared bitmap allocator, to attach another thread's view to it. */
export interface FrameAllocatorBuffers {
  readonly bits: SharedArrayBuffer;
  /** `Int32`s: the lock word, the hint, the number of free frames. */
  readonly state: SharedArrayBuffer;
}

export interface FrameAllocatorOptions {
  /** Keep the bitmap and the counters on `SharedArrayBuffer`s, under a spin lock. */
  shared?: boolean;
  /** Attach to another allocator's buffers (implies `shared`). */
  attach?: FrameAllocatorBuffers;
}

const LOCK = 0;
const HINT = 1;
const FREE = 2;

/**
 * The default frame allocator (`bitmap`): one bit per frame (1 = taken), scanned a 32-bit word at a time.
 *
 * Invariants: `nrFree` equals the number of clear bits; every word below `hint` is full,
 * so single-frame allocation starts there and freed frames move the hint back, which
 * makes freed frames the first to be reused (lowest address first).
 *
 * Shared mode (worker threads): the bitmap and the counters live on `SharedArrayBuffer`s
 * and every operation runs under one spin lock (an `Int32` taken with
 * `Atomics.compareExchange`; the sections are a few word scans). Reads of `nrFree` and
 * `isFree` without the lock are snapshots. On a private buffer the lock is skipped: the
 * rest is the same code.
 */
export class FrameAllocator implements FrameAllocatorService {
  private readonly bits: Uint32Array;
  /** `[lock, hint, free]`. */
  private readonly state: Int32Array;
  private readonly shared: boolean;

  constructor(
    readonly nrFrames: number,
    options: FrameAllocatorOptions = {},
  ) {
    const nrWords = Math.ceil(nrFrames / 32);
    const attach = options.attach;
    this.shared = attach !== undefined || options.shared === true;
    const buffer = (bytes: number) => (this.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.bits = new Uint32Array(attach?.bits ?? buffer(nrWords * 4));
    this.state = new Int32Array(attach?.state ?? buffer(12));
    if (attach !== undefined) return;
    // Frames past the end of memory in the last word are marked taken forever.
    const tail = nrFrames % 32;
    if (tail !== 0) this.bits[nrWords - 1] = ~((1 << tail) - 1) >>> 0;
    this.state[FREE] = nrFrames;
  }

  /** The shared buffers (shared mode only), for `FrameAllocatorOptions.attach`. */
  buffers(): FrameAllocatorBuffers {
    if (!this.shared) throw new MmError('InvalidArgument', 'the frame allocator is not shared');
    return { bits: this.bits.buffer as SharedArrayBuffer, state: this.state.buffer as SharedArrayBuffer };
  }

  get nrFree(): number {
    return this.shared ? Atomics.load(this.state, FREE) : this.state[FREE];
  }

  private lock(): void {
    if (!this.shared) return;
    while (Atomics.compareExchange(this.state, LOCK, 0, 1) !== 0) {
      // Spin: the holder runs on another core for a few word scans.
    }
  }

  private unlock(): void {
    if (this.shared) Atomics.store(this.state, LOCK, 0);
  }

  isFree(pfn: number): boolean {
    return (this.bits[pfn >>> 5] & (1 << (pfn & 31))) === 0;
  }

  /** Takes the lowest free frame; throws `OutOfFrames` when none is left. */
  alloc(): number {
    this.lock();
    const bits = this.bits;
    const state = this.state;
    const n = bits.length;
    for (let w = state[HINT]; w < n; w++) {
      const word = bits[w];
      if (word !== 0xffff_ffff) {
        const freeBits = ~word;
        const bit = 31 - Math.clz32(freeBits & -freeBits);
        bits[w] = (word | (1 << bit)) >>> 0;
        state[HINT] = w;
        state[FREE]--;
        this.unlock();
        return w * 32 + bit;
      }
    }
    state[HINT] = n;
    this.unlock();
    throw new MmError('OutOfFrames', `no free frame left (${this.nrFrames} frames of memory)`);
  }

  /**
   * Takes `count` contiguous frames whose first frame number is a multiple of `align`
   * (a power of two); throws `OutOfFrames` when no such run is free.
   */
  allocContiguous(count: number, align = 1): number {
    checkSegmentRequest(count, align);
    this.lock();
    let start = Math.ceil((this.state[HINT] * 32) / align) * align;
    while (start + count <= this.nrFrames) {
      const taken = this.lastTakenIn(start, count);
      if (taken < 0) {
        for (let p = start; p < start + count; p++) this.bits[p >>> 5] |= 1 << (p & 31);
        this.state[FREE] -= count;
        this.unlock();
        return start;
      }
      start = Math.ceil((taken + 1) / align) * align;
    }
    this.unlock();
    throw new MmError('OutOfFrames', `no ${count} contiguous free frames aligned to ${align}`);
  }

  /** Returns a frame to the allocator. */
  dealloc(pfn: number): void {
    const w = pfn >>> 5;
    const mask = 1 << (pfn & 31);
    this.lock();
    if ((this.bits[w] & mask) === 0) {
      this.unlock();
      throw new MmError('BadFrameState', `frame ${pfn} freed twice`);
    }
    this.bits[w] = (this.bits[w] & ~mask) >>> 0;
    const state = this.state;
    state[FREE]++;
    if (w < state[HINT]) state[HINT] = w;
    this.unlock();
  }

  /** The highest taken frame in `[start, start + count)`, or -1. */
  private lastTakenIn(start: number, count: number): number {
    for (let p = start + count - 1; p >= start; p--) {
      if (!this.isFree(p)) return p;
    }
    return -1;
  }
}

/**
 * Throws `InvalidArgument` unless `count` is a whole number of frames (at least 1) and `align`
 * a power of two: the request every `FrameAllocatorService.allocContiguous` accepts.
 */
export function checkSegmentRequest(count: number, align: number): void {
  if (
    !Number.isInteger(count) ||
    count < 1 ||
    !Number.isInteger(align) ||
    align < 1 ||
    (align & (align - 1)) !== 0
  ) {
    throw new MmError('InvalidArgument', `bad segment request: ${count} frames aligned to ${align}`);
  }
}
