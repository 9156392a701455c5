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
  /** Gives frames a per-thread cache holds back to the shared pool (if it has one). */
  flush?(): void;
}

/** The buffers of a shared bitmap allocator, to attach another thread's view to it. */
export interface FrameAllocatorBuffers {
  readonly bits: SharedArrayBuffer;
  /** `Int32`s: the lock word, the hint, the number of free frames (`STATE_WORDS`, padded). */
  readonly state: SharedArrayBuffer;
}

export interface FrameAllocatorOptions {
  /** Keep the bitmap and the counters on `SharedArrayBuffer`s, under a spin lock. */
  shared?: boolean;
  /** Attach to another allocator's buffers (implies `shared`). */
  attach?: FrameAllocatorBuffers;
}

/**
 * Where the lock word, the hint and the free count sit in the state buffer: together (one
 * locked section writes all three) and 128 bytes away from either end, so that no other
 * buffer's words (the allocation before or after it) share their cache line or its
 * prefetch pair: every refill and give-back by any thread moves that line.
 */
const STATE_PAD = 32;
const LOCK = STATE_PAD;
const HINT = STATE_PAD + 1;
const FREE = STATE_PAD + 2;
/** `Int32`s of the state buffer. */
const STATE_WORDS = 2 * STATE_PAD + 3;

/**
 * Shared mode: the least number of frames a view takes from the bitmap (or gives back) in
 * one locked pass (whole words: a refill takes up to 31 more); a view caches at most
 * `2 * FRAME_CACHE_BATCH`.
 */
export const FRAME_CACHE_BATCH = 64;

/**
 * The default frame allocator (`bitmap`): one bit per frame (1 = taken), scanned a 32-bit word at a time.
 *
 * Invariants: the shared `free` counter equals the number of clear bits; every word below
 * `hint` is full, so a scan starts there and freed frames move the hint back, which makes
 * freed frames the first to be reused (lowest address first).
 *
 * Shared mode (worker threads): the bitmap and the counters live on `SharedArrayBuffer`s
 * and every bitmap operation runs under one spin lock (an `Int32` taken with
 * `Atomics.compareExchange`; the sections are a few word scans). Single frames go through
 * a per-view cache (this thread's, plain memory): a second bitmap, set where a frame is
 * taken in the shared bitmap but free for this view, with its count and the lowest word
 * that may hold a set bit. `alloc` takes the lowest cached frame, as the private path takes
 * the lowest free one; an empty cache is refilled with whole words of the shared bitmap
 * (every free frame of each word, at least `FRAME_CACHE_BATCH` frames when there are) in one
 * locked pass; `dealloc` sets the frame's bit and, when the cache holds
 * `2 * FRAME_CACHE_BATCH`, gives whole words back (the lowest, at least `FRAME_CACHE_BATCH`
 * frames) in one locked pass, found before taking the lock. Per frame this is a bit set and
 * a bit cleared, as on a private buffer; the locked passes work a word at a time. A
 * cached frame is taken in the bitmap but free for this view: `isFree` and `nrFree` count
 * it (so `check()` sees it free, not leaked); other views see it taken until `flush()`
 * gives the cache back (a view that stops must flush). Reads of the shared counters without
 * the lock are snapshots. On a private buffer the lock and the cache are skipped: the rest
 * is the same code.
 *
 * UP and SMP mode: a shared allocator that no other view can reach yet (one that has not
 * handed out its `buffers()`) takes and releases the lock and reads the free count with
 * plain accesses to the same words; everything else is the shared algorithm above, so the
 * buffers hold what the `Atomics` path would have left. Handing out the buffers puts it in
 * SMP mode for good (an attached allocator starts there): another view may attach at any
 * later time.
 */
export class FrameAllocator implements FrameAllocatorService {
  private readonly bits: Uint32Array;
  /** `[lock, hint, free]` at `LOCK`, `HINT`, `FREE`, padded on both sides. */
  private readonly state: Int32Array;
  private readonly shared: boolean;
  /** SMP mode: other views may share the buffers, so the lock and the free count take `Atomics`. */
  private atomic: boolean;
  /** Shared mode: a bit per frame this view has cached (taken in `bits`, free for this view). */
  private readonly cachedBits: Uint32Array;
  private nrCached = 0;
  /** Shared mode: every word of `cachedBits` below it is 0. */
  private cacheHint = 0;
  /** Shared mode: the words `giveBack` returns, gathered before it takes the lock. */
  private readonly giveWords: Int32Array;

  constructor(
    readonly nrFrames: number,
    options: FrameAllocatorOptions = {},
  ) {
    const nrWords = Math.ceil(nrFrames / 32);
    const attach = options.attach;
    this.shared = attach !== undefined || options.shared === true;
    this.atomic = attach !== undefined;
    const buffer = (bytes: number) => (this.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
    this.bits = new Uint32Array(attach?.bits ?? buffer(nrWords * 4));
    this.state = new Int32Array(attach?.state ?? buffer(4 * STATE_WORDS));
    if (this.state.length !== STATE_WORDS)
      throw new MmError(
        'InvalidConfig',
        `the allocator state holds ${this.state.length} words, not ${STATE_WORDS}`,
      );
    this.cachedBits = new Uint32Array(this.shared ? nrWords : 0);
    this.cacheHint = nrWords;
    this.giveWords = new Int32Array(this.shared ? 2 * FRAME_CACHE_BATCH : 0);
    if (attach !== undefined) return;
    // Frames past the end of memory in the last word are marked taken forever.
    const tail = nrFrames % 32;
    if (tail !== 0) this.bits[nrWords - 1] = ~((1 << tail) - 1) >>> 0;
    this.state[FREE] = nrFrames;
  }

  /**
   * The shared buffers (shared mode only), for `FrameAllocatorOptions.attach`; SMP mode from
   * now on (another view may attach at any later time).
   */
  buffers(): FrameAllocatorBuffers {
    if (!this.shared) throw new MmError('InvalidArgument', 'the frame allocator is not shared');
    this.atomic = true;
    return { bits: this.bits.buffer as SharedArrayBuffer, state: this.state.buffer as SharedArrayBuffer };
  }

  /** Free frames: clear bits, plus this view's cached frames in shared mode. */
  get nrFree(): number {
    if (!this.shared) return this.state[FREE];
    return (this.atomic ? Atomics.load(this.state, FREE) : this.state[FREE]) + this.nrCached;
  }

  private lock(): void {
    if (!this.shared) return;
    if (!this.atomic) {
      // UP mode: nobody else can hold it, and it is never taken twice.
      this.state[LOCK] = 1;
      return;
    }
    while (Atomics.compareExchange(this.state, LOCK, 0, 1) !== 0) {
      // Spin: the holder runs on another core for a few word scans.
    }
  }

  private unlock(): void {
    if (this.atomic) Atomics.store(this.state, LOCK, 0);
    else if (this.shared) this.state[LOCK] = 0;
  }

  isFree(pfn: number): boolean {
    const mask = 1 << (pfn & 31);
    return (this.bits[pfn >>> 5] & mask) === 0 || (this.shared && (this.cachedBits[pfn >>> 5] & mask) !== 0);
  }

  /**
   * Takes a free frame (the lowest on a private buffer; in shared mode the lowest this view
   * cached); throws `OutOfFrames` when none is left.
   */
  alloc(): number {
    if (this.shared) {
      if (this.nrCached === 0 && this.refill() === 0) {
        throw new MmError('OutOfFrames', `no free frame left (${this.nrFrames} frames of memory)`);
      }
      const cached = this.cachedBits;
      // A cached frame exists, so the scan stops at or above the hint.
      let w = this.cacheHint;
      let word = cached[w];
      while (word === 0) word = cached[++w];
      const bit = word & -word;
      cached[w] = word & ~bit;
      this.cacheHint = w;
      this.nrCached--;
      return w * 32 + 31 - Math.clz32(bit);
    }
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
    // Cached frames look taken in the bitmap: give them back so that runs can use them.
    this.flush();
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

  /**
   * Shared mode: fills the empty cache with every free frame of the lowest words that have
   * one, until it holds at least `FRAME_CACHE_BATCH` (or none is left), in one locked pass;
   * returns how many.
   */
  private refill(): number {
    const bits = this.bits;
    const state = this.state;
    const cached = this.cachedBits;
    const n = bits.length;
    let taken = 0;
    this.lock();
    const first = state[HINT];
    let w = first;
    for (; w < n && taken < FRAME_CACHE_BATCH; w++) {
      const free = ~bits[w];
      if (free === 0) continue;
      bits[w] = 0xffff_ffff;
      cached[w] |= free;
      taken += popcount(free);
    }
    // Every word below `w` is full now.
    state[HINT] = w;
    state[FREE] -= taken;
    this.unlock();
    if (first < this.cacheHint) this.cacheHint = first;
    this.nrCached += taken;
    return taken;
  }

  /**
   * Shared mode: gives the lowest cached words back to the bitmap, at least `atLeast` frames
   * (at most `giveWords.length` words, so possibly fewer), in one locked pass; the words are
   * found before the lock is taken (only this view writes `cachedBits`).
   */
  private giveBack(atLeast: number): void {
    const cached = this.cachedBits;
    const words = this.giveWords;
    let k = 0;
    let given = 0;
    let w = this.cacheHint;
    for (; given < atLeast && k < words.length; w++) {
      const c = cached[w];
      if (c === 0) continue;
      words[k++] = w;
      given += popcount(c);
    }
    const bits = this.bits;
    const state = this.state;
    this.lock();
    let hint = state[HINT];
    for (let i = 0; i < k; i++) {
      const word = words[i];
      bits[word] = (bits[word] & ~cached[word]) >>> 0;
      if (word < hint) hint = word;
    }
    state[HINT] = hint;
    state[FREE] += given;
    this.unlock();
    for (let i = 0; i < k; i++) cached[words[i]] = 0;
    this.nrCached -= given;
    this.cacheHint = w;
  }

  /** Shared mode: gives every cached frame back to the bitmap (a view that stops calls it). */
  flush(): void {
    while (this.nrCached !== 0) this.giveBack(this.nrCached);
  }

  /** Returns a frame to the allocator (to this view's cache in shared mode). */
  dealloc(pfn: number): void {
    const w = pfn >>> 5;
    const mask = 1 << (pfn & 31);
    if (this.shared) {
      const cached = this.cachedBits;
      if ((this.bits[w] & mask) === 0 || (cached[w] & mask) !== 0)
        throw new MmError('BadFrameState', `frame ${pfn} freed twice`);
      if (this.nrCached >= 2 * FRAME_CACHE_BATCH) this.giveBack(FRAME_CACHE_BATCH);
      cached[w] |= mask;
      this.nrCached++;
      if (w < this.cacheHint) this.cacheHint = w;
      return;
    }
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

/** The number of set bits of a 32-bit word. */
function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x5555_5555);
  v = (v & 0x3333_3333) + ((v >>> 2) & 0x3333_3333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f_0f0f, 0x0101_0101) >>> 24;
}
