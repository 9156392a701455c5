/**
 * RISC-V Sv39 and Sv48 paging with the PTE encoding of Asterinas OSTD:
 * - V (bit 0) is set on every entry that is not absent, leaf or table;
 * - an entry is a leaf at level 1 or when any of R/W/X is set, so a leaf with R=W=X=0 is
 *   only possible at level 1 (`representableProp` rejects it above);
 * - a table entry is V plus the child's PPN;
 * - the cache policy is Writeback (no bits) or Uncacheable (Svpbmt PBMT=IO, bit 62); other
 *   policies are rejected.
 */
import {
  type Arch,
  CACHE_MASK,
  CACHE_SHIFT,
  CACHE_UNCACHEABLE,
  copyLeafWordsClearingBit,
  ErrorCode,
  fail,
  isValidLeafPfn,
  type PagingConsts,
  PROP_ACCESSED,
  PROP_ALL_BITS,
  PROP_AVAIL1,
  PROP_DIRTY,
  PROP_GLOBAL,
  PROP_PERMS,
  PROP_RWX,
  PROP_USER,
  PTE_ABSENT,
  PTE_LEAF,
  PTE_TABLE,
  type PteCodec,
  type PteKind,
} from '@mmkit/core';

/** Bit positions in the 64-bit PTE (RISC-V privileged spec, Sv39/Sv48). */
export const RV_BIT_V = 0;
export const RV_BIT_R = 1;
export const RV_BIT_W = 2;
export const RV_BIT_X = 3;
export const RV_BIT_U = 4;
export const RV_BIT_G = 5;
export const RV_BIT_A = 6;
export const RV_BIT_D = 7;
/** First RSW bit, reserved for software; carries `PROP_AVAIL1`. */
export const RV_BIT_RSW1 = 8;
/** The PPN occupies bits 10..53: `pte = pfn << 10`. */
export const RV_PPN_SHIFT = 10;
export const RV_PPN_HIGH_BIT = 53;
/** Svpbmt PBMT = IO (non-cacheable, strongly ordered). */
export const RV_BIT_PBMT_IO = 62;

const V = 1 << RV_BIT_V;
const W = 1 << RV_BIT_W;
const RSW1 = 1 << RV_BIT_RSW1;
/** R, W, X in the low half. */
const RWX = 0b111 << RV_BIT_R;
const HI_PBMT_IO = 1 << (RV_BIT_PBMT_IO - 32);
/** PPN bits 32..53 in the high half. */
const HI_PPN = (1 << (RV_PPN_HIGH_BIT - 31)) - 1;
/** Frames whose PPN fits in the low half (bits 10..31). */
const LO_PFNS = 2 ** (32 - RV_PPN_SHIFT);
const PFN_LIMIT = 2 ** (RV_PPN_HIGH_BIT + 1 - RV_PPN_SHIFT);
const UC_BITS = CACHE_UNCACHEABLE << CACHE_SHIFT;

/**
 * Property bits 0..7 are R, W, X, ACCESSED, DIRTY, USER, GLOBAL, AVAIL1; in the PTE they
 * are R, W, X (bits 1..3, shift 1), A, D (bits 6, 7, shift 3), U, G (bits 4, 5, shift -1)
 * and RSW1 (bit 8, shift 1).
 */
const PROP_RWX_AVAIL1 = PROP_RWX | PROP_AVAIL1;
const PROP_AD = PROP_ACCESSED | PROP_DIRTY;
const PROP_UG = PROP_USER | PROP_GLOBAL;

function createArch(name: string, nrLevels: number, highest: number): Arch {
  const consts: PagingConsts = {
    name,
    nrLevels,
    nrEntries: 512,
    entryBits: 9,
    basePageSize: 4096,
    pageBits: 12,
    highestTranslationLevel: highest,
    addressWidth: 12 + 9 * nrLevels,
    userRootEntries: 256,
    physAddressWidth: 56,
  };
  return { consts, codec: createCodec(name, highest) };
}

/** Sv39: 3 levels, 39-bit virtual addresses, leaves up to 2 MiB. */
export const riscvSv39: Arch = createArch('riscv-sv39', 3, 2);
/** Sv48: 4 levels, 48-bit virtual addresses, leaves up to 1 GiB (see the README). */
export const riscvSv48: Arch = createArch('riscv-sv48', 4, 3);

function createCodec(name: string, highest: number): PteCodec {
  /**
   * Throws unless `level` may hold leaves, `pfn` is an integer frame below 2^44 aligned to
   * the page size of `level`, the cache policy is WB or UC, and the entry would decode as a
   * leaf (level 1, or some of R/W/X). No allocation, no BigInt.
   */
  const checkLeaf = (pfn: number, prop: number, level: number): void => {
    if (!(level >= 1 && level <= highest)) {
      fail(ErrorCode.InvalidArgument, `${name}: no leaf at level ${level}`);
    }
    if (!isValidLeafPfn(pfn, level, PFN_LIMIT)) {
      fail(ErrorCode.InvalidArgument, `${name}: pfn ${pfn} is not a valid frame for a level-${level} leaf`);
    }
    const cache = prop & CACHE_MASK;
    if (cache !== 0 && cache !== UC_BITS) {
      fail(ErrorCode.InvalidArgument, `${name}: cache policy ${cache >>> CACHE_SHIFT} is not representable`);
    }
    if (level > 1 && (prop & PROP_PERMS) === 0) {
      fail(ErrorCode.InvalidArgument, `${name}: a level-${level} leaf needs one of R/W/X`);
    }
  };

  /**
   * The common case that `checkLeaf` accepts, tested with integer operations only and no
   * call: a level-1 leaf (every architecture has them) of a frame below 2^31 with a
   * representable cache policy. Anything else goes through `checkLeaf`.
   */
  const isPlainLeaf = (pfn: number, prop: number, level: number): boolean =>
    level === 1 &&
    pfn >= 0 &&
    (pfn | 0) === pfn &&
    ((prop & CACHE_MASK) === 0 || (prop & CACHE_MASK) === UC_BITS);

  return {
    kind(lo: number, _hi: number, level: number): PteKind {
      if ((lo & V) === 0) return PTE_ABSENT;
      return level === 1 || lo & RWX ? PTE_LEAF : PTE_TABLE;
    },

    pfn(lo: number, hi: number): number {
      return (lo >>> RV_PPN_SHIFT) + (hi & HI_PPN) * LO_PFNS;
    },

    prop(lo: number, hi: number): number {
      return (
        ((lo >>> 1) & PROP_RWX_AVAIL1) |
        ((lo >>> 3) & PROP_AD) |
        ((lo << 1) & PROP_UG) |
        (hi & HI_PBMT_IO ? UC_BITS : 0)
      );
    },

    leafLo(pfn: number, prop: number, level: number): number {
      if (!isPlainLeaf(pfn, prop, level)) checkLeaf(pfn, prop, level);
      const lo =
        // `&` not `%`: exact for any valid (integer, non-negative) frame, and never a
        // floating-point modulo, which `%` becomes when `pfn` is not a small integer.
        ((pfn & (LO_PFNS - 1)) << RV_PPN_SHIFT) |
        V |
        ((prop & PROP_RWX_AVAIL1) << 1) |
        ((prop & PROP_AD) << 3) |
        ((prop & PROP_UG) >>> 1);
      return lo >>> 0;
    },

    leafHi(pfn: number, prop: number, level: number): number {
      if (!isPlainLeaf(pfn, prop, level)) checkLeaf(pfn, prop, level);
      return (Math.floor(pfn / LO_PFNS) | ((prop & CACHE_MASK) === UC_BITS ? HI_PBMT_IO : 0)) >>> 0;
    },

    tableLo(pfn: number): number {
      return (((pfn % LO_PFNS) << RV_PPN_SHIFT) | V) >>> 0;
    },

    tableHi(pfn: number): number {
      return Math.floor(pfn / LO_PFNS);
    },

    representableProp(prop: number, level: number): number {
      checkLeaf(0, prop, level);
      return prop & PROP_ALL_BITS;
    },

    leafFrameBitsLo: (LO_PFNS - 1) * 2 ** RV_PPN_SHIFT,
    leafFrameBitsHi: HI_PPN,

    // A valid entry is a leaf at level 1 or with any of R/W/X; W is bit 2 in the low half,
    // AVAIL1 is RSW1 (bit 8), also in the low half.
    isTrackedLeaf(lo: number, _hi: number, level: number): boolean {
      return (lo & V) !== 0 && (level === 1 || (lo & RWX) !== 0) && (lo & RSW1) === 0;
    },

    clearWLo(lo: number, _hi: number, level: number): number {
      return (lo & V) !== 0 && (level === 1 || (lo & RWX) !== 0) ? (lo & ~W) >>> 0 : lo;
    },

    clearWHi(_lo: number, hi: number): number {
      return hi;
    },

    copyLeafWordsClearW(
      src: Uint32Array,
      srcAt: number,
      dst: Uint32Array,
      dstAt: number,
      nrSlots: number,
    ): void {
      copyLeafWordsClearingBit(src, srcAt, dst, dstAt, nrSlots, V, W);
    },
  };
}
