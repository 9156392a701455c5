import { MmError } from '../errors.ts';

/** Pages per pool chunk: chunks of 1 MiB keep growth cheap and addressing a shift. */
const CHUNK_SHIFT = 8;
const CHUNK_PAGES = 1 << CHUNK_SHIFT;
const PAGE_BYTES = 4096;
const PAGE_WORDS = PAGE_BYTES / 4;
const NO_SLOT = -1;

/**
 * Simulated contents of physical frames.
 *
 * Memory is spent only on frames that hold data: a frame never written has no slot and
 * reads as zeros. Slots come from a pool of 4 KiB pages kept in 1 MiB chunks, each seen
 * both as bytes and as 32-bit words (page-table nodes store their PTEs as word pairs).
 * A slot returns to the pool when its frame is freed (`release`), so a reused frame
 * starts zeroed.
 */
export class PhysMemory {
  private readonly slotOf: Int32Array;
  private readonly chunksU8: Uint8Array[] = [];
  private readonly chunksU32: Uint32Array[] = [];
  private freeSlots: Int32Array = new Int32Array(CHUNK_PAGES);
  private nrFreeSlots = 0;
  private nrSlots = 0;

  constructor(readonly nrFrames: number) {
    this.slotOf = new Int32Array(nrFrames).fill(NO_SLOT);
  }

  /** Number of frames that currently hold a page of data. */
  get nrBackedFrames(): number {
    return this.nrSlots - this.nrFreeSlots;
  }

  /** Bytes of page data held in the pool (backed pages plus free pool pages). */
  get poolBytes(): number {
    return this.chunksU8.length * CHUNK_PAGES * PAGE_BYTES;
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
    this.slotOf[pfn] = NO_SLOT;
    const base = (s & (CHUNK_PAGES - 1)) * PAGE_WORDS;
    this.chunksU32[s >>> CHUNK_SHIFT].fill(0, base, base + PAGE_WORDS);
    if (this.nrFreeSlots === this.freeSlots.length) {
      const grown = new Int32Array(this.freeSlots.length * 2);
      grown.set(this.freeSlots);
      this.freeSlots = grown;
    }
    this.freeSlots[this.nrFreeSlots++] = s;
  }

  private attach(pfn: number): number {
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
