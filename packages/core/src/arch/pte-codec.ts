/**
 * The PTE codec contract. A 64-bit PTE is handled as two unsigned 32-bit halves
 * (`lo` = bits 0..31, `hi` = bits 32..63) so that hot loops never touch `BigInt`.
 * Physical addresses are passed as page frame numbers (`pfn = paddr / 4096`).
 *
 * Every codec guarantees: a zeroed PTE is absent at every level; for a leaf at a level
 * `1..highestTranslationLevel`, decode(encode(pfn, prop)) returns the same pfn and the same
 * property for every property the architecture can express (see `representableProps`).
 */
export const PTE_ABSENT = 0;
export const PTE_TABLE = 1;
export const PTE_LEAF = 2;
export type PteKind = typeof PTE_ABSENT | typeof PTE_TABLE | typeof PTE_LEAF;

export interface PteCodec {
  /** What the entry is at `level`. */
  kind(lo: number, hi: number, level: number): PteKind;
  /** Frame number a table or leaf entry points to. */
  pfn(lo: number, hi: number, level: number): number;
  /** Property (`PROP_*` bits) of a leaf entry. */
  prop(lo: number, hi: number, level: number): number;
  /** Low half of a leaf entry. `pfn` must be aligned to the page size of `level`. */
  leafLo(pfn: number, prop: number, level: number): number;
  /** High half of a leaf entry. */
  leafHi(pfn: number, prop: number, level: number): number;
  /** Low half of an entry pointing at a child table in frame `pfn`. */
  tableLo(pfn: number): number;
  /** High half of an entry pointing at a child table in frame `pfn`. */
  tableHi(pfn: number): number;
  /**
   * Reduces a property to what this architecture can store in a leaf at `level`
   * (e.g. cache policies it cannot express are rejected by throwing `MmError`).
   */
  representableProp(prop: number, level: number): number;

  // ---- raw-bit operations: no decoding, no validation, for loops over a node's words ----

  /**
   * The bits of a level-1 entry's low and high words that hold its frame number. Every
   * other bit is a flag: `kind` and `prop` of a level-1 entry depend on those alone, so a
   * loop over a leaf node decodes them once per run of entries with equal flags. The frame
   * bits are contiguous, from bit `s` of the low word (its lowest set bit) to bit 31 and on
   * from bit 0 of the high word, so that a loop reads a leaf's frame number with no call
   * (`leafFrameShift`).
   */
  readonly leafFrameBitsLo: number;
  readonly leafFrameBitsHi: number;

  /**
   * Whether the entry is a tracked leaf at `level`: a leaf (`kind` is `PTE_LEAF`) whose
   * property lacks `PROP_AVAIL1`.
   */
  isTrackedLeaf(lo: number, hi: number, level: number): boolean;
  /**
   * Low half of the entry with W cleared. For a leaf at `level` whose property without W is
   * representable there (always so at level 1), this is `leafLo(pfn, prop & ~PROP_W, level)`
   * (so it is still a leaf); an entry that is not a leaf is returned unchanged. A leaf whose
   * property without W the level cannot hold (a W-only huge leaf on RISC-V) must not be given.
   */
  clearWLo(lo: number, hi: number, level: number): number;
  /** High half of the entry with W cleared, under the same terms as `clearWLo`. */
  clearWHi(lo: number, hi: number, level: number): number;
  /**
   * Copies `nrSlots` level-1 entries (two words each) from `src` at word `srcAt` to `dst` at
   * word `dstAt`, each with W cleared as `clearWLo`/`clearWHi` do (absent entries copied
   * unchanged). `src` and `dst` may be the same array at the same offset (clears W in place);
   * other overlaps are not allowed.
   */
  copyLeafWordsClearW(
    src: Uint32Array,
    srcAt: number,
    dst: Uint32Array,
    dstAt: number,
    nrSlots: number,
  ): void;
}

/**
 * The lowest bit `s` of a level-1 entry's low word that holds its frame number. The frame
 * bits being contiguous (`leafFrameBitsLo`/`Hi`), with `scale = 2 ** (32 - s)`:
 * - a level-1 leaf's frame number is `(lo >>> s) + (hi & leafFrameBitsHi) * scale`;
 * - the leaf of frame `pfn` with the flag bits of any leaf of the same property is those
 *   flag bits or'ed with `(pfn & (scale - 1)) << s` (low word: `&` keeps the frame's low
 *   bits of any whole frame number, with no floating-point modulo) and
 *   `Math.floor(pfn / scale)` (high word).
 * Loops over a leaf node's words compute these inline, with `s` and `scale` hoisted: no
 * codec call (nor a helper call that might not be inlined) per entry.
 */
export function leafFrameShift(codec: PteCodec): number {
  const bits = codec.leafFrameBitsLo;
  return 31 - Math.clz32(bits & -bits);
}

/** Joins two halves into a 64-bit value: for tests and dumps, never for hot paths. */
export function pteToBigInt(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Splits a 64-bit value into halves: for tests and dumps, never for hot paths. */
export function pteFromBigInt(v: bigint): { lo: number; hi: number } {
  return { lo: Number(v & 0xffff_ffffn), hi: Number((v >> 32n) & 0xffff_ffffn) };
}

/** Base pages per leaf at each level that may hold leaves with 512-entry nodes (index 0 unused). */
const LEAF_PAGES = [1, 1, 2 ** 9, 2 ** 18, 2 ** 27];

/**
 * Whether `pfn` is an integer frame number below `pfnLimit` aligned to the pages of a leaf at
 * `level`: the check every codec makes before encoding a leaf. It runs twice per PTE written,
 * so the common case (a frame number below 2^31) is integer arithmetic only; larger frames
 * take the floating-point modulo, which is exact there.
 */
export function isValidLeafPfn(pfn: number, level: number, pfnLimit: number): boolean {
  if (!(pfn >= 0 && pfn < pfnLimit)) return false;
  const align = LEAF_PAGES[level];
  if (pfn <= 0x7fff_ffff) return (pfn | 0) === pfn && (pfn & (align - 1)) === 0;
  return pfn % align === 0;
}

/**
 * Copies `nrSlots` PTEs (two words each) from `src` at word `srcAt` to `dst` at word `dstAt`,
 * clearing `clearBit` in the low word of every entry whose low word has `leafBit` set (the
 * architecture's leaf marker); other entries are copied unchanged. Works in place. The shared
 * body of every codec's `copyLeafWordsClearW`, for architectures whose W bit and leaf marker
 * both sit in the low word.
 */
export function copyLeafWordsClearingBit(
  src: Uint32Array,
  srcAt: number,
  dst: Uint32Array,
  dstAt: number,
  nrSlots: number,
  leafBit: number,
  clearBit: number,
): void {
  for (let i = 0, n = 2 * nrSlots; i < n; i += 2) {
    const lo = src[srcAt + i];
    dst[dstAt + i] = lo & leafBit ? lo & ~clearBit : lo;
    dst[dstAt + i + 1] = src[srcAt + i + 1];
  }
}
