import { MmError } from '../errors.ts';

/** Pages per pool chunk: chunks of 1 MiB keep growth cheap and addressing a shift. */
const CHUNK_SHIFT = 8;
const CHUNK_PAGES = 1 << CHUNK_SHIFT;
const PAGE_BYTES = 4096;
const PAGE_WORDS = PAGE_BYTES / 4;
const NO_SLOT = -1;
/** Copies up to this many bytes go byte by byte: cheaper than the view `set` needs. */
const SMALL_COPY = 64;

/**
 * Where the count of backed frames sits in its buffer: 128 bytes from either end, so that no
 * other buffer's words share its cache line (every thread that makes a node or frees a
 * written frame updates it).
 */
const BACKED = 32;
const BACKED_WORDS = 2 * BACKED + 1;

/** Largest memory whose pages can live on one `SharedArrayBuffer` (16 GiB). */
export const MAX_SHARED_MEMORY = 2 ** 34;

/** The buffers of a shared `PhysMemory`, to attach another thread's view to it. */
export interface PhysMemoryBuffers {
  /** Every frame's page, frame `pfn` at byte `pfn * 4096`. */
  readonly pages: SharedArrayBuffer;
  /** `slotOf`: the frame's own number when it holds data, -1 otherwise. */
  readonly slots: SharedArrayBuffer;
  /** `BACKED_WORDS` `Int32`s: at `BACKED`, the number of frames holding data. */
  readonly backed: SharedArrayBuffer;
}

export interface PhysMemoryOptions {
  /** Put every page on one `SharedArrayBuffer` (direct-mapped: a frame's slot is its number). */
  shared?: boolean;
  /** Attach to another `PhysMemory`'s buffers (implies `shared`). */
  attach?: PhysMemoryBuffers;
}

/**
 * Simulated contents of physical frames.
 *
 * Memory is spent only on frames that hold data: a frame never written has no slot and
 * reads as zeros. Slots come from a pool of 4 KiB pages kept in 1 MiB chunks, each seen
 * both as bytes and as 32-bit words (page-table nodes store their PTEs as word pairs).
 * A slot returns to the pool when its frame is freed (`release`), so a reused frame
 * starts zeroed.
 *
 * Shared mode (for worker threads): every page lives on one `SharedArrayBuffer` of
 * `nrFrames` pages (the OS commits only pages that are touched), the slot of a frame is its
 * own number and `slotOf` only records whether it holds data, so no pool state is shared
 * and the accessors are the same code. Marking a frame backed is a compare-and-swap (two
 * threads may touch a fresh node at once); `release` runs only for a frame that nobody
 * references any more, so it has one caller. Until the buffers are handed out (`buffers()`:
 * UP mode, one view) the same words change with plain accesses; from then on (SMP mode, and
 * for an attached view from the start) with `Atomics`.
 */
export class PhysMemory {
  private readonly slotOf: Int32Array;
  private readonly chunksU8: Uint8Array[] = [];
  private readonly chunksU32: Uint32Array[] = [];
  private freeSlots: Int32Array = new Int32Array(CHUNK_PAGES);
  private nrFreeSlots = 0;
  private nrSlots = 0;
  /** Shared mode only: the page buffer and the count of backed frames. */
  private readonly pages: SharedArrayBuffer | null = null;
  private readonly backed: Int32Array | null = null;
  /** SMP mode: other views may share the buffers, so `slotOf` and the count take `Atomics`. */
  private atomic: boolean;

  constructor(
    readonly nrFrames: number,
    options: PhysMemoryOptions = {},
  ) {
    const attach = options.attach;
    this.atomic = attach !== undefined;
    if (attach === undefined && options.shared !== true) {
      this.slotOf = new Int32Array(nrFrames).fill(NO_SLOT);
      return;
    }
    if (nrFrames * PAGE_BYTES > MAX_SHARED_MEMORY)
      throw new MmError('InvalidConfig', `shared memory holds at most ${MAX_SHARED_MEMORY} bytes`);
    this.pages = attach?.pages ?? new SharedArrayBuffer(nrFrames * PAGE_BYTES);
    this.slotOf = new Int32Array(attach?.slots ?? new SharedArrayBuffer(nrFrames * 4));
    this.backed = new Int32Array(attach?.backed ?? new SharedArrayBuffer(4 * BACKED_WORDS));
    if (this.backed.length !== BACKED_WORDS)
      throw new MmError('InvalidConfig', `the backed-frame count buffer holds ${this.backed.length} words`);
    if (attach === undefined) this.slotOf.fill(NO_SLOT);
    for (let first = 0; first < nrFrames; first += CHUNK_PAGES) {
      const len = Math.min(CHUNK_PAGES, nrFrames - first) * PAGE_BYTES;
      this.chunksU8.push(new Uint8Array(this.pages, first * PAGE_BYTES, len));
      this.chunksU32.push(new Uint32Array(this.pages, first * PAGE_BYTES, len / 4));
    }
  }

  /** Whether pages live on a `SharedArrayBuffer`. */
  get shared(): boolean {
    return this.backed !== null;
  }

  /**
   * Has the host commit every page of the page buffer now, as `MAP_POPULATE` would: one
   * atomic read-modify-write that adds nothing per 4 KiB (contents are unchanged, and it is
   * safe while other threads run). On a shared buffer the host backs a page only at its
   * first touch, which costs a host page fault (13-14 µs on a virtual machine, about a
   * hundred modelled faults); benchmarks call this before they measure, so that their
   * figures do not depend on which pages an earlier run happened to touch. A private
   * memory is left alone: its pool keeps the pages it has used and hands them out again.
   */
  populateHost(): void {
    if (this.pages === null) return;
    const words = PAGE_BYTES / 4;
    for (const chunk of this.chunksU32) for (let i = 0; i < chunk.length; i += words) Atomics.or(chunk, i, 0);
  }

  /**
   * The shared buffers (shared mode only), for `PhysMemoryOptions.attach`; SMP mode from now
   * on (another view may attach at any later time).
   */
  buffers(): PhysMemoryBuffers {
    if (this.pages === null || this.backed === null)
      throw new MmError('InvalidArgument', 'physical memory is not shared');
    this.atomic = true;
    return {
      pages: this.pages,
      slots: this.slotOf.buffer as SharedArrayBuffer,
      backed: this.backed.buffer as SharedArrayBuffer,
    };
  }

  /** Number of frames that currently hold a page of data. */
  get nrBackedFrames(): number {
    const backed = this.backed;
    if (backed === null) return this.nrSlots - this.nrFreeSlots;
    return this.atomic ? Atomics.load(backed, BACKED) : backed[BACKED];
  }

  /** Bytes of page data held in the pool (backed pages plus free pool pages). */
  get poolBytes(): number {
    return this.backed !== null
      ? this.nrBackedFrames * PAGE_BYTES
      : this.chunksU8.length * CHUNK_PAGES * PAGE_BYTES;
  }

  /** Whether the frame holds data (was written since it was last freed). */
  isBacked(pfn: number): boolean {
    return this.slotOf[pfn] !== NO_SLOT;
  }

  /** Slot of a frame, created zero-filled if it has none. */
  slot(pfn: number): number {
    const s = this.slotOf[pfn];
    return s !== NO_SLOT ? s : this.attach(pfn);
  }

  /** The word chunk holding a slot's page; the page starts at `wordBase(slot)`. */
  wordsOf(slot: number): Uint32Array {
    return this.chunksU32[slot >>> CHUNK_SHIFT];
  }

  wordBase(slot: number): number {
    return (slot & (CHUNK_PAGES - 1)) * PAGE_WORDS;
  }

  /** Reads `len` bytes at `offset` of a frame (zeros if never written). */
  read(pfn: number, offset: number, len: number): Uint8Array {
    this.checkRange(offset, len);
    const out = new Uint8Array(len);
    const s = this.slotOf[pfn];
    if (s !== NO_SLOT) {
      const base = (s & (CHUNK_PAGES - 1)) * PAGE_BYTES + offset;
      out.set(this.chunksU8[s >>> CHUNK_SHIFT].subarray(base, base + len));
    }
    return out;
  }

  /**
   * `read` into the caller's array: `len` bytes at `offset` of a frame go to `out` from
   * index `at` (zeros for a frame never written). Allocates nothing.
   */
  readInto(pfn: number, offset: number, len: number, out: Uint8Array, at: number): void {
    this.checkRange(offset, len);
    const s = this.slotOf[pfn];
    if (s === NO_SLOT) {
      out.fill(0, at, at + len);
      return;
    }
    const chunk = this.chunksU8[s >>> CHUNK_SHIFT];
    const base = (s & (CHUNK_PAGES - 1)) * PAGE_BYTES + offset;
    if (len <= SMALL_COPY) for (let i = 0; i < len; i++) out[at + i] = chunk[base + i];
    else out.set(chunk.subarray(base, base + len), at);
  }

  /** `write` of `len` bytes of `bytes` from index `from`, without a view on them. */
  writeFrom(pfn: number, offset: number, bytes: Uint8Array, from: number, len: number): void {
    this.checkRange(offset, len);
    const s = this.slot(pfn);
    const chunk = this.chunksU8[s >>> CHUNK_SHIFT];
    const base = (s & (CHUNK_PAGES - 1)) * PAGE_BYTES + offset;
    if (len <= SMALL_COPY) for (let i = 0; i < len; i++) chunk[base + i] = bytes[from + i];
    else chunk.set(bytes.subarray(from, from + len), base);
  }

  /** Writes bytes at `offset` of a frame. */
  write(pfn: number, offset: number, bytes: Uint8Array): void {
    this.checkRange(offset, bytes.length);
    const s = this.slot(pfn);
    this.chunksU8[s >>> CHUNK_SHIFT].set(bytes, (s & (CHUNK_PAGES - 1)) * PAGE_BYTES + offset);
  }

  /** Copies the whole contents of `src` into `dst`. */
  copyFrame(src: number, dst: number): void {
    const s = this.slotOf[src];
    if (s === NO_SLOT) {
      this.zeroFrame(dst);
      return;
    }
    const d = this.slot(dst);
    const from = (s & (CHUNK_PAGES - 1)) * PAGE_BYTES;
    this.chunksU8[d >>> CHUNK_SHIFT].set(
      this.chunksU8[s >>> CHUNK_SHIFT].subarray(from, from + PAGE_BYTES),
      (d & (CHUNK_PAGES - 1)) * PAGE_BYTES,
    );
  }

  /** Makes a frame read as zeros again (and gives its page back to the pool). */
  zeroFrame(pfn: number): void {
    this.release(pfn);
  }

  /** Forgets a frame's contents: called when the frame returns to the allocator. */
  release(pfn: number): void {
    const s = this.slotOf[pfn];
    if (s === NO_SLOT) return;
    const base = (s & (CHUNK_PAGES - 1)) * PAGE_WORDS;
    this.chunksU32[s >>> CHUNK_SHIFT].fill(0, base, base + PAGE_WORDS);
    const backed = this.backed;
    if (backed !== null) {
      if (this.atomic) {
        Atomics.store(this.slotOf, pfn, NO_SLOT);
        Atomics.sub(backed, BACKED, 1);
      } else {
        this.slotOf[pfn] = NO_SLOT;
        backed[BACKED]--;
      }
      return;
    }
    this.slotOf[pfn] = NO_SLOT;
    if (this.nrFreeSlots === this.freeSlots.length) {
      const grown = new Int32Array(this.freeSlots.length * 2);
      grown.set(this.freeSlots);
      this.freeSlots = grown;
    }
    this.freeSlots[this.nrFreeSlots++] = s;
  }

  private attach(pfn: number): number {
    const backed = this.backed;
    if (backed !== null) {
      if (this.atomic) {
        if (Atomics.compareExchange(this.slotOf, pfn, NO_SLOT, pfn) === NO_SLOT)
          Atomics.add(backed, BACKED, 1);
      } else if (this.slotOf[pfn] === NO_SLOT) {
        this.slotOf[pfn] = pfn;
        backed[BACKED]++;
      }
      return pfn;
    }
    if (this.nrFreeSlots === 0) this.grow();
    const s = this.freeSlots[--this.nrFreeSlots];
    this.slotOf[pfn] = s;
    return s;
  }

  private grow(): void {
    const chunk = new ArrayBuffer(CHUNK_PAGES * PAGE_BYTES);
    const first = this.chunksU8.length * CHUNK_PAGES;
    this.chunksU8.push(new Uint8Array(chunk));
    this.chunksU32.push(new Uint32Array(chunk));
    // Called only when no slot is free, and `freeSlots` always holds at least a chunk.
    // Push in reverse so that slots are handed out in increasing order.
    for (let i = CHUNK_PAGES - 1; i >= 0; i--) this.freeSlots[this.nrFreeSlots++] = first + i;
    this.nrSlots += CHUNK_PAGES;
  }

  private checkRange(offset: number, len: number): void {
    if (!(offset >= 0 && len >= 0 && offset + len <= PAGE_BYTES)) {
      throw new MmError('InvalidArgument', `access [${offset}, ${offset + len}) is outside a 4 KiB frame`);
    }
  }
}
