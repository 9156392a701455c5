/**
 * x86_64 4-level paging (48-bit virtual, 52-bit physical addresses) with the PTE encoding
 * of Asterinas OSTD:
 * - every leaf, at every level, has PS (bit 7) set: it is the "valid leaf" marker;
 * - P (bit 0) of a leaf is the R permission, so a leaf without R (PROT_NONE) is P=0, PS=1:
 *   the hardware faults on any access but the entry still decodes as a leaf;
 * - a table entry is P|RW|US plus the child's address, permissions are enforced at leaves;
 * - the cache policy is the PAT index PCD:PWT, with the PAT programmed as OSTD does
 *   (0 = WB, 1 = WT, 2 = WC, 3 = UC), which equals mmkit's `CACHE_*` numbering; WP has no
 *   index and is rejected.
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
  PROP_RW,
  PROP_USER,
  PROP_X,
  PTE_ABSENT,
  PTE_LEAF,
  PTE_TABLE,
  type PteCodec,
  type PteKind,
} from '@mmkit/core';

/** Bit positions in the 64-bit PTE (Intel SDM vol. 3, 4-level paging). */
export const X86_BIT_P = 0;
export const X86_BIT_RW = 1;
export const X86_BIT_US = 2;
export const X86_BIT_PWT = 3;
export const X86_BIT_PCD = 4;
export const X86_BIT_A = 5;
export const X86_BIT_D = 6;
/** PS: huge page in a PDE/PDPTE, PAT in a level-1 PTE; OSTD sets it on every leaf. */
export const X86_BIT_PS = 7;
export const X86_BIT_G = 8;
/** First address bit; the address ends at bit 51 (`X86_ADDR_HIGH_BIT`). */
export const X86_ADDR_LOW_BIT = 12;
export const X86_ADDR_HIGH_BIT = 51;
/** HIGH_IGN1, ignored by the hardware; carries `PROP_AVAIL1`. */
export const X86_BIT_AVAIL1 = 52;
export const X86_BIT_NX = 63;

/** Masks in the low half. */
const P = 1 << X86_BIT_P;
const RW = 1 << X86_BIT_RW;
const US = 1 << X86_BIT_US;
const PS = 1 << X86_BIT_PS;
/** Masks in the high half. */
const HI_AVAIL1 = 1 << (X86_BIT_AVAIL1 - 32);
const HI_NX = 1 << (X86_BIT_NX - 32);
/** Address bits 32..51 in the high half. */
const HI_ADDR = (1 << (X86_ADDR_HIGH_BIT - 31)) - 1;
/** ACCESSED, DIRTY, GLOBAL (prop bits 3, 4, 6) are A, D, G (PTE bits 5, 6, 8) shifted right by 2. */
const PROP_ADG = PROP_ACCESSED | PROP_DIRTY | PROP_GLOBAL;
const ADG_SHIFT = X86_BIT_A - 3;
/** USER (prop bit 5) is US (PTE bit 2) shifted left by 3. */
const USER_SHIFT = 5 - X86_BIT_US;

/** Frames per 2^32 bytes: the pfn bits that fit in the low half. */
const LO_PFNS = 2 ** (32 - X86_ADDR_LOW_BIT);
const PFN_LIMIT = 2 ** (X86_ADDR_HIGH_BIT + 1 - X86_ADDR_LOW_BIT);
const MAX_CACHE_BITS = CACHE_UNCACHEABLE << CACHE_SHIFT;

export interface X86_64Options {
  /** Allow 1 GiB leaves (highest translation level 3). OSTD never creates them: default false. */
  readonly gigantic?: boolean;
}

/** Builds the x86_64 architecture; see `X86_64Options`. */
export function createX86_64Arch(options: X86_64Options = {}): Arch {
  const consts: PagingConsts = {
    name: 'x86_64',
    nrLevels: 4,
    nrEntries: 512,
    entryBits: 9,
    basePageSize: 4096,
    pageBits: 12,
    highestTranslationLevel: options.gigantic ? 3 : 2,
    addressWidth: 48,
    userRootEntries: 256,
    physAddressWidth: 52,
  };
  return { consts, codec: createCodec(consts.highestTranslationLevel) };
}

/** The x86_64 architecture as OSTD configures it (leaves up to 2 MiB). */
export const x86_64: Arch = createX86_64Arch();

function createCodec(highest: number): PteCodec {
  /**
   * Throws unless `level` may hold leaves, `pfn` is an integer frame below 2^40 aligned to
   * the page size of `level`, and the cache policy has a PAT index. No allocation, no BigInt.
   */
  const checkLeaf = (pfn: number, prop: number, level: number): void => {
    if (!(level >= 1 && level <= highest)) {
      fail(ErrorCode.InvalidArgument, `x86_64: no leaf at level ${level}`);
    }
    if (!isValidLeafPfn(pfn, level, PFN_LIMIT)) {
      fail(ErrorCode.InvalidArgument, `x86_64: pfn ${pfn} is not a valid frame for a level-${level} leaf`);
    }
    const cache = prop & CACHE_MASK;
    if (cache > MAX_CACHE_BITS) {
      fail(ErrorCode.InvalidArgument, `x86_64: cache policy ${cache >>> CACHE_SHIFT} has no PAT entry`);
    }
  };

  /**
   * The common case that `checkLeaf` accepts, tested with integer operations only and no
   * call: a level-1 leaf (every architecture has them) of a frame below 2^31 with a
   * representable cache policy. Anything else goes through `checkLeaf`.
   */
  const isPlainLeaf = (pfn: number, prop: number, level: number): boolean =>
    level === 1 && pfn >= 0 && (pfn | 0) === pfn && (prop & CACHE_MASK) <= MAX_CACHE_BITS;

  return {
    kind(lo: number): PteKind {
      if ((lo & (P | PS)) === 0) return PTE_ABSENT;
      return lo & PS ? PTE_LEAF : PTE_TABLE;
    },

    // Leaves written by this codec never set address bits below their level's alignment
    // (bit 12 would be PAT in a huge leaf), so one mask serves every level.
    pfn(lo: number, hi: number): number {
      return (lo >>> X86_ADDR_LOW_BIT) + (hi & HI_ADDR) * LO_PFNS;
    },

    prop(lo: number, hi: number): number {
      return (
        (lo & (P | RW)) | // P, RW are R, W (bits 0, 1 in both)
        ((lo & US) << USER_SHIFT) |
        ((lo >>> ADG_SHIFT) & PROP_ADG) |
        (hi & HI_NX ? 0 : PROP_X) |
        (hi & HI_AVAIL1 ? PROP_AVAIL1 : 0) |
        (((lo >>> X86_BIT_PWT) & 3) << CACHE_SHIFT) // PCD:PWT is the cache policy
      );
    },

    leafLo(pfn: number, prop: number, level: number): number {
      if (!isPlainLeaf(pfn, prop, level)) checkLeaf(pfn, prop, level);
      const lo =
        // `&` not `%`: exact for any valid (integer, non-negative) frame, and never a
        // floating-point modulo, which `%` becomes when `pfn` is not a small integer.
        ((pfn & (LO_PFNS - 1)) << X86_ADDR_LOW_BIT) |
        PS |
        (prop & PROP_RW) | // R, W are P, RW (bits 0, 1 in both)
        ((prop & PROP_USER) >>> USER_SHIFT) |
        ((prop & PROP_ADG) << ADG_SHIFT) |
        ((prop & CACHE_MASK) >>> (CACHE_SHIFT - X86_BIT_PWT)); // policy -> PCD:PWT
      return lo >>> 0;
    },

    leafHi(pfn: number, prop: number, level: number): number {
      if (!isPlainLeaf(pfn, prop, level)) checkLeaf(pfn, prop, level);
      return (
        (Math.floor(pfn / LO_PFNS) | (prop & PROP_AVAIL1 ? HI_AVAIL1 : 0) | (prop & PROP_X ? 0 : HI_NX)) >>> 0
      );
    },

    tableLo(pfn: number): number {
      return (((pfn % LO_PFNS) << X86_ADDR_LOW_BIT) | P | RW | US) >>> 0;
    },

    tableHi(pfn: number): number {
      return Math.floor(pfn / LO_PFNS);
    },

    representableProp(prop: number, level: number): number {
      checkLeaf(0, prop, level);
      return prop & PROP_ALL_BITS;
    },

    leafFrameBitsLo: (LO_PFNS - 1) * 2 ** X86_ADDR_LOW_BIT,
    leafFrameBitsHi: HI_ADDR,

    // Every leaf has PS (bit 7); W is RW (bit 1) in the low half, the high half keeps none.
    isTrackedLeaf(lo: number, hi: number): boolean {
      return (lo & PS) !== 0 && (hi & HI_AVAIL1) === 0;
    },

    clearWLo(lo: number): number {
      return lo & PS ? (lo & ~RW) >>> 0 : lo;
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
      copyLeafWordsClearingBit(src, srcAt, dst, dstAt, nrSlots, PS, RW);
    },
  };
}
