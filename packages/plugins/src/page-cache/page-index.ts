/** Slots per chunk of a `PageIndex` (a chunk is 4 KiB of slot numbers). */
const CHUNK = 1024;
/** Where a chunk keeps the number of its slots in use (one past the slots). */
const COUNT = CHUNK;
const NONE = -1;

/**
 * A growable list of slot numbers (typed, reused: pushing allocates only to grow).
 */
export class SlotList {
  buf = new Int32Array(64);
  n = 0;

  push(s: number): void {
    if (this.n === this.buf.length) {
      const b = new Int32Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.n++] = s;
  }
}

/**
 * The page map's tree (Akaros's radix tree): page index → slot number, -1 when the page is
 * not cached. Two levels: chunks of `CHUNK` consecutive indices (an `Int32Array` each,
 * made on first insert and dropped when empty), found through a map keyed by
 * `floor(index / CHUNK)`; the last chunk used is remembered, so walking consecutive
 * indices costs one array access per page. Indices are safe integers ≥ 0.
 */
export class PageIndex {
  private readonly chunks = new Map<number, Int32Array>();
  private lastKey = -1;
  private lastChunk: Int32Array | null = null;
  /** Indices in use. */
  size = 0;

  private chunkOf(key: number): Int32Array | null {
    if (key === this.lastKey) return this.lastChunk;
    const c = this.chunks.get(key);
    if (c === undefined) return null;
    this.lastKey = key;
    this.lastChunk = c;
    return c;
  }

  /** Slot of `index`, or -1. */
  get(index: number): number {
    const key = Math.floor(index / CHUNK);
    const c = this.chunkOf(key);
    // `?? NONE`: an index that is not an integer is in no slot.
    return c === null ? NONE : (c[index - key * CHUNK] ?? NONE);
  }

  has(index: number): boolean {
    return this.get(index) !== NONE;
  }

  /** Sets the slot of `index`, which must not be in use. */
  set(index: number, slot: number): void {
    const key = Math.floor(index / CHUNK);
    let c = this.chunkOf(key);
    if (c === null) {
      c = new Int32Array(CHUNK + 1).fill(NONE);
      c[COUNT] = 0;
      this.chunks.set(key, c);
      this.lastKey = key;
      this.lastChunk = c;
    }
    c[index - key * CHUNK] = slot;
    c[COUNT]++;
    this.size++;
  }

  /** Forgets `index` (in use). */
  delete(index: number): void {
    const key = Math.floor(index / CHUNK);
    const c = this.chunkOf(key);
    if (c === null || (c[index - key * CHUNK] ?? NONE) === NONE) return;
    c[index - key * CHUNK] = NONE;
    this.size--;
    if (--c[COUNT] === 0) {
      this.chunks.delete(key);
      this.lastKey = -1;
      this.lastChunk = null;
    }
  }

  /** Pushes the slots of the indices in use in `[first, end)` to `out`, by increasing index. */
  collect(first: number, end: number, out: SlotList): void {
    if (end <= first || this.size === 0) return;
    const k0 = Math.floor(first / CHUNK);
    const k1 = Math.floor((end - 1) / CHUNK);
    if (k1 - k0 + 1 <= this.chunks.size) {
      for (let k = k0; k <= k1; k++) this.collectChunk(k, first, end, out);
      return;
    }
    const keys: number[] = [];
    for (const k of this.chunks.keys()) if (k >= k0 && k <= k1) keys.push(k);
    keys.sort((a, b) => a - b);
    for (const k of keys) this.collectChunk(k, first, end, out);
  }

  private collectChunk(key: number, first: number, end: number, out: SlotList): void {
    const c = this.chunkOf(key);
    if (c === null) return;
    const base = key * CHUNK;
    const lo = Math.max(first - base, 0);
    const hi = Math.min(end - base, CHUNK);
    for (let o = lo; o < hi; o++) {
      const s = c[o];
      if (s !== NONE) out.push(s);
    }
  }

  /** Every slot in use, by increasing index. */
  all(out: SlotList): void {
    const keys = [...this.chunks.keys()].sort((a, b) => a - b);
    for (const k of keys) this.collectChunk(k, k * CHUNK, (k + 1) * CHUNK, out);
  }
}
