/**
 * Conformance of every architecture to the `PteCodec` contract, plus known bit patterns
 * written by hand from the manuals' bit tables (never derived from the code under test).
 */
import { riscvSv39, riscvSv48 } from '@mmkit/arch-riscv';
import { createX86_64Arch, x86_64 } from '@mmkit/arch-x86_64';
import {
  type Arch,
  CACHE_UNCACHEABLE,
  CACHE_WRITE_COMBINING,
  CACHE_WRITE_PROTECTED,
  CACHE_WRITEBACK,
  CACHE_WRITETHROUGH,
  ErrorCode,
  leafFrameShift,
  MmError,
  PROP_ACCESSED,
  PROP_AVAIL1,
  PROP_DIRTY,
  PROP_GLOBAL,
  PROP_PERMS,
  PROP_R,
  PROP_RW,
  PROP_RWX,
  PROP_RX,
  PROP_USER,
  PROP_W,
  PTE_ABSENT,
  PTE_LEAF,
  PTE_TABLE,
  type PteKind,
  pageSize,
  pteFromBigInt,
  pteToBigInt,
  withCache,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';

/** A hand-computed entry: a leaf when `prop` is given, else a table entry. */
interface Pattern {
  readonly what: string;
  readonly level: number;
  readonly pfn: number;
  readonly prop?: number;
  readonly bits: bigint;
}

interface Config {
  readonly name: string;
  readonly arch: Arch;
  readonly consts: Record<string, number>;
  readonly caches: readonly number[];
  readonly badCaches: readonly number[];
  /** Whether a leaf above level 1 may lack all of R/W/X (on RISC-V it would read as a table). */
  readonly permlessHugeLeaves: boolean;
  readonly patterns: readonly Pattern[];
}

const AD = PROP_ACCESSED | PROP_DIRTY;

const riscvPatterns: Pattern[] = [
  {
    what: '4 KiB user RW leaf',
    level: 1,
    pfn: 0x12345,
    prop: PROP_RW | PROP_USER | AD,
    bits: 0x0000_0000_048d_14d7n,
  },
  { what: 'table entry', level: 3, pfn: 0x80201, bits: 0x0000_0000_2008_0401n },
  {
    what: '2 MiB kernel leaf',
    level: 2,
    pfn: 0x80200,
    prop: PROP_RWX | AD | PROP_GLOBAL,
    bits: 0x0000_0000_2008_00efn,
  },
  {
    what: 'uncacheable page (PBMT=IO)',
    level: 1,
    pfn: 0x10000,
    prop: withCache(PROP_RW, CACHE_UNCACHEABLE),
    bits: 0x4000_0000_0400_0007n,
  },
  {
    what: 'global kernel text page',
    level: 1,
    pfn: 1,
    prop: PROP_RX | PROP_GLOBAL | PROP_ACCESSED,
    bits: 0x46bn,
  },
  {
    what: 'untracked page at the top of physical memory',
    level: 1,
    pfn: 2 ** 44 - 1,
    prop: PROP_RW | PROP_AVAIL1,
    bits: 0x003f_ffff_ffff_fd07n,
  },
  { what: 'PROT_NONE leaf (V only)', level: 1, pfn: 0x42, prop: PROP_USER, bits: 0x0000_0000_0001_0811n },
];

const configs: Config[] = [
  {
    name: 'x86_64',
    arch: x86_64,
    consts: { nrLevels: 4, addressWidth: 48, highestTranslationLevel: 2, physAddressWidth: 52 },
    caches: [CACHE_WRITEBACK, CACHE_WRITETHROUGH, CACHE_WRITE_COMBINING, CACHE_UNCACHEABLE],
    badCaches: [CACHE_WRITE_PROTECTED],
    permlessHugeLeaves: true,
    patterns: [
      // P|RW|US|A|D|PS = 0xe7, NX because X is absent.
      {
        what: '4 KiB user RW leaf',
        level: 1,
        pfn: 0x12345,
        prop: PROP_RW | PROP_USER | AD,
        bits: 0x8000_0000_1234_50e7n,
      },
      // P|RW|A|D|PS|G = 0x1e3, address bits 21..51.
      {
        what: '2 MiB kernel leaf',
        level: 2,
        pfn: 0xabc_de00,
        prop: PROP_RWX | AD | PROP_GLOBAL,
        bits: 0x0000_00ab_cde0_01e3n,
      },
      { what: 'root table entry', level: 4, pfn: 0x1000, bits: 0x0000_0000_0100_0007n },
      { what: 'level-2 table entry, high frame', level: 2, pfn: 0xf_edcb_a987, bits: 0x0000_fedc_ba98_7007n },
      // P|RW|PWT|PCD|PS = 0x9b.
      {
        what: 'uncacheable page (PCD|PWT)',
        level: 1,
        pfn: 0xfee00,
        prop: withCache(PROP_RW, CACHE_UNCACHEABLE),
        bits: 0x8000_0000_fee0_009bn,
      },
      {
        what: 'write-combining page (PCD)',
        level: 1,
        pfn: 0x80000,
        prop: withCache(PROP_RW, CACHE_WRITE_COMBINING),
        bits: 0x8000_0000_8000_0093n,
      },
      {
        what: 'write-through page (PWT)',
        level: 1,
        pfn: 3,
        prop: withCache(PROP_R, CACHE_WRITETHROUGH),
        bits: 0x8000_0000_0000_3089n,
      },
      // P|A|PS|G = 0x1a1, executable so no NX.
      {
        what: 'global kernel text page',
        level: 1,
        pfn: 1,
        prop: PROP_RX | PROP_GLOBAL | PROP_ACCESSED,
        bits: 0x11a1n,
      },
      // US|PS = 0x84 with P clear.
      {
        what: 'PROT_NONE leaf (P=0, PS=1)',
        level: 1,
        pfn: 0x42,
        prop: PROP_USER,
        bits: 0x8000_0000_0004_2084n,
      },
      { what: 'PROT_NONE 2 MiB leaf', level: 2, pfn: 0x400, prop: 0, bits: 0x8000_0000_0040_0080n },
      // HIGH_IGN1 is bit 52.
      {
        what: 'untracked page at the top of physical memory',
        level: 1,
        pfn: 2 ** 40 - 1,
        prop: PROP_RW | PROP_AVAIL1,
        bits: 0x801f_ffff_ffff_f083n,
      },
    ],
  },
  {
    name: 'riscv-sv39',
    arch: riscvSv39,
    consts: { nrLevels: 3, addressWidth: 39, highestTranslationLevel: 2, physAddressWidth: 56 },
    caches: [CACHE_WRITEBACK, CACHE_UNCACHEABLE],
    badCaches: [CACHE_WRITETHROUGH, CACHE_WRITE_COMBINING, CACHE_WRITE_PROTECTED],
    permlessHugeLeaves: false,
    patterns: riscvPatterns,
  },
  {
    name: 'riscv-sv48',
    arch: riscvSv48,
    consts: { nrLevels: 4, addressWidth: 48, highestTranslationLevel: 3, physAddressWidth: 56 },
    caches: [CACHE_WRITEBACK, CACHE_UNCACHEABLE],
    badCaches: [CACHE_WRITETHROUGH, CACHE_WRITE_COMBINING, CACHE_WRITE_PROTECTED],
    permlessHugeLeaves: false,
    patterns: [
      ...riscvPatterns,
      {
        what: '1 GiB kernel leaf',
        level: 3,
        pfn: 0x40000,
        prop: PROP_RWX | AD | PROP_GLOBAL,
        bits: 0x1000_00efn,
      },
      { what: 'root table entry', level: 4, pfn: 0x1000, bits: 0x40_0001n },
    ],
  },
];

function expectInvalid(f: () => unknown): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MmError);
  expect((error as MmError).code).toBe(ErrorCode.InvalidArgument);
}

function levels(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

describe.each(configs)('$name conforms to the PteCodec contract', (config) => {
  const { consts, codec } = config.arch;
  const highest = consts.highestTranslationLevel;
  const pfnLimit = 2 ** (consts.physAddressWidth - consts.pageBits);
  /** Frames per page of `level`, the alignment a leaf pfn needs there. */
  const align = (level: number) => pageSize(consts, level) / consts.basePageSize;

  it('has the expected paging constants', () => {
    expect(consts).toMatchObject({
      ...config.consts,
      name: config.name,
      nrEntries: 512,
      entryBits: 9,
      basePageSize: 4096,
      pageBits: 12,
      userRootEntries: 256,
    });
  });

  it.each(levels(1, consts.nrLevels))('a zeroed PTE is absent at level %i', (level) => {
    expect(codec.kind(0, 0, level)).toBe(PTE_ABSENT);
  });

  it.each(levels(1, highest))('leaves round-trip every representable property at level %i', (level) => {
    const a = align(level);
    const pfns = [0, a, 0x3_0000 * a, pfnLimit - 2 * a, pfnLimit - a];
    const mismatches: string[] = [];
    for (const cache of config.caches) {
      for (let flags = 0; flags <= 0xff; flags++) {
        const prop = withCache(flags, cache);
        if (level > 1 && (prop & PROP_PERMS) === 0 && !config.permlessHugeLeaves) {
          expectInvalid(() => codec.representableProp(prop, level));
          continue;
        }
        expect(codec.representableProp(prop, level)).toBe(prop);
        for (const pfn of pfns) {
          const lo = codec.leafLo(pfn, prop, level);
          const hi = codec.leafHi(pfn, prop, level);
          const got = [codec.kind(lo, hi, level), codec.pfn(lo, hi, level), codec.prop(lo, hi, level)];
          if (got[0] !== PTE_LEAF || got[1] !== pfn || got[2] !== prop) {
            mismatches.push(`pfn ${pfn} prop ${prop} -> ${got.join(' ')}`);
          }
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it.each(levels(2, consts.nrLevels))('table entries round-trip at level %i', (level) => {
    for (const pfn of [0, 1, 0x12345, pfnLimit - 1]) {
      const lo = codec.tableLo(pfn);
      const hi = codec.tableHi(pfn);
      expect(codec.kind(lo, hi, level)).toBe(PTE_TABLE);
      expect(codec.pfn(lo, hi, level)).toBe(pfn);
    }
  });

  it.each(config.patterns)('matches the manual: $what', ({ level, pfn, prop, bits }) => {
    const kind: PteKind = prop === undefined ? PTE_TABLE : PTE_LEAF;
    const encoded =
      prop === undefined
        ? pteToBigInt(codec.tableLo(pfn), codec.tableHi(pfn))
        : pteToBigInt(codec.leafLo(pfn, prop, level), codec.leafHi(pfn, prop, level));
    expect(encoded.toString(16)).toBe(bits.toString(16));
    const { lo, hi } = pteFromBigInt(bits);
    expect(codec.kind(lo, hi, level)).toBe(kind);
    expect(codec.pfn(lo, hi, level)).toBe(pfn);
    if (prop !== undefined) expect(codec.prop(lo, hi, level)).toBe(prop);
  });

  it('rejects leaves it cannot encode', () => {
    for (let level = 2; level <= highest; level++) {
      expectInvalid(() => codec.leafLo(align(level) / 2, PROP_RW, level));
      expectInvalid(() => codec.leafHi(align(level) + 1, PROP_RW, level));
    }
    for (const level of [0, highest + 1]) {
      expectInvalid(() => codec.leafLo(0, PROP_RW, level));
      expectInvalid(() => codec.leafHi(0, PROP_RW, level));
      expectInvalid(() => codec.representableProp(PROP_RW, level));
    }
    for (const pfn of [-1, 0.5, pfnLimit, Number.NaN]) {
      expectInvalid(() => codec.leafLo(pfn, PROP_RW, 1));
      expectInvalid(() => codec.leafHi(pfn, PROP_RW, 1));
    }
    for (const cache of config.badCaches) {
      const prop = withCache(PROP_RW, cache);
      expectInvalid(() => codec.representableProp(prop, 1));
      expectInvalid(() => codec.leafLo(0x1000, prop, 1));
      expectInvalid(() => codec.leafHi(0x1000, prop, 1));
    }
  });
});

describe.each(configs)('$name raw-bit codec operations', (config) => {
  const { consts, codec } = config.arch;
  const highest = consts.highestTranslationLevel;
  const pfnLimit = 2 ** (consts.physAddressWidth - consts.pageBits);
  const align = (level: number) => pageSize(consts, level) / consts.basePageSize;
  const representable = (prop: number, level: number): boolean => {
    try {
      codec.representableProp(prop, level);
      return true;
    } catch {
      return false;
    }
  };

  it.each(levels(1, highest))(
    'tests tracked leaves and clears W as an encode without W would, at level %i',
    (level) => {
      const a = align(level);
      const mismatches: string[] = [];
      for (const cache of config.caches) {
        for (let flags = 0; flags <= 0xff; flags++) {
          const prop = withCache(flags, cache);
          const roProp = prop & ~PROP_W;
          if (!representable(prop, level) || !representable(roProp, level)) continue;
          for (const pfn of [0, a, 0x3_0000 * a, pfnLimit - a]) {
            const lo = codec.leafLo(pfn, prop, level);
            const hi = codec.leafHi(pfn, prop, level);
            const tracked = (prop & PROP_AVAIL1) === 0;
            const got = [
              codec.isTrackedLeaf(lo, hi, level),
              codec.clearWLo(lo, hi, level),
              codec.clearWHi(lo, hi, level),
            ];
            const want = [tracked, codec.leafLo(pfn, roProp, level), codec.leafHi(pfn, roProp, level)];
            if (got.join() !== want.join())
              mismatches.push(`pfn ${pfn} prop ${prop}: ${got.join()} != ${want.join()}`);
          }
        }
      }
      expect(mismatches).toEqual([]);
    },
  );

  it('keeps the frame number of a level-1 leaf in leafFrameBitsLo/Hi, kind and property in the other bits', () => {
    const mismatches: string[] = [];
    const flagsLo = ~codec.leafFrameBitsLo;
    const flagsHi = ~codec.leafFrameBitsHi;
    for (const cache of config.caches) {
      for (let flags = 0; flags <= 0xff; flags++) {
        const prop = withCache(flags, cache);
        if (!representable(prop, 1)) continue;
        const pfns = [0, 1, 0x3_0000, 0x8_0000, pfnLimit - 1];
        const words = pfns.map((pfn) => [codec.leafLo(pfn, prop, 1), codec.leafHi(pfn, prop, 1)]);
        for (let i = 0; i < pfns.length; i++) {
          const [lo, hi] = words[i];
          const frameOnly = codec.pfn(lo & codec.leafFrameBitsLo, hi & codec.leafFrameBitsHi, 1);
          const sameFlags =
            (lo & flagsLo) === (words[0][0] & flagsLo) && (hi & flagsHi) === (words[0][1] & flagsHi);
          if (frameOnly !== pfns[i] || !sameFlags)
            mismatches.push(`pfn ${pfns[i]} prop ${prop}: frame ${frameOnly}, same flags ${sameFlags}`);
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(codec.kind(codec.leafFrameBitsLo, codec.leafFrameBitsHi, 1)).toBe(PTE_ABSENT);
  });

  it('reads and writes a level-1 leaf frame number in the raw words with leafFrameShift, as pfn and leafLo/Hi do', () => {
    const shift = leafFrameShift(codec);
    const scale = 2 ** (32 - shift);
    // The frame bits of the low word run from `shift` to bit 31; the high word's from bit 0.
    expect(codec.leafFrameBitsLo >>> 0).toBe((0xffff_ffff >>> shift) * 2 ** shift);
    expect((codec.leafFrameBitsHi & (codec.leafFrameBitsHi + 1)) >>> 0).toBe(0);
    const mismatches: string[] = [];
    const pfns = [0, 1, 2 ** (32 - shift) - 1, 2 ** (32 - shift), 0x12_3456_789, pfnLimit - 1];
    for (const prop of [PROP_R, PROP_RW | PROP_USER | AD, PROP_RWX | PROP_AVAIL1 | PROP_GLOBAL]) {
      for (const pfn of pfns) {
        const lo = codec.leafLo(pfn, prop, 1);
        const hi = codec.leafHi(pfn, prop, 1);
        const raw = (lo >>> shift) + (hi & codec.leafFrameBitsHi) * scale;
        if (raw !== pfn || raw !== codec.pfn(lo, hi, 1)) mismatches.push(`pfn ${pfn} prop ${prop}: ${raw}`);
        // The same leaf, built from another frame's leaf of the property and this frame's bits.
        const other = 1 - (pfn & 1);
        const flagsLo = codec.leafLo(other, prop, 1) & ~codec.leafFrameBitsLo;
        const flagsHi = codec.leafHi(other, prop, 1) & ~codec.leafFrameBitsHi;
        const built = [
          (flagsLo | ((pfn & (scale - 1)) << shift)) >>> 0,
          (flagsHi | Math.floor(pfn / scale)) >>> 0,
        ];
        if (built[0] !== lo || built[1] !== hi) mismatches.push(`pfn ${pfn} prop ${prop}: built ${built}`);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it.each(levels(1, consts.nrLevels))('leaves absent and table entries alone at level %i', (level) => {
    const entries: [number, number][] = [[0, 0]];
    if (level > 1)
      entries.push(
        [codec.tableLo(0x12345), codec.tableHi(0x12345)],
        [codec.tableLo(pfnLimit - 1), codec.tableHi(pfnLimit - 1)],
      );
    for (const [lo, hi] of entries) {
      expect(codec.isTrackedLeaf(lo, hi, level)).toBe(false);
      expect([codec.clearWLo(lo, hi, level), codec.clearWHi(lo, hi, level)]).toEqual([lo, hi]);
    }
  });

  it("copies a leaf node's words with W cleared, into another node or in place", () => {
    const n = consts.nrEntries;
    const src = new Uint32Array(2 * n + 6);
    const props = [PROP_RW | PROP_USER, PROP_R, PROP_RWX | AD, PROP_RW | PROP_AVAIL1, 0, PROP_W | PROP_DIRTY];
    for (let i = 0; i < n; i++) {
      if (i % 7 === 3) continue; // absent
      const prop = props[i % props.length];
      src[4 + 2 * i] = codec.leafLo(i * 3 + 1, prop, 1);
      src[4 + 2 * i + 1] = codec.leafHi(i * 3 + 1, prop, 1);
    }
    const want = new Uint32Array(src);
    for (let i = 0; i < n; i++) {
      const at = 4 + 2 * i;
      want[at] = codec.clearWLo(src[at], src[at + 1], 1);
      want[at + 1] = codec.clearWHi(src[at], src[at + 1], 1);
    }
    const dst = new Uint32Array(2 * n + 2).fill(0xdead);
    codec.copyLeafWordsClearW(src, 4 + 2 * 10, dst, 2 + 2 * 10, n - 20);
    expect(Array.from(dst.subarray(2 + 20, 2 + 2 * (n - 10)))).toEqual(
      Array.from(want.subarray(4 + 20, 4 + 2 * (n - 10))),
    );
    // Outside the copied slots nothing was written.
    expect(Array.from(dst.subarray(0, 22)).every((w) => w === 0xdead)).toBe(true);
    expect(Array.from(dst.subarray(2 + 2 * (n - 10))).every((w) => w === 0xdead)).toBe(true);
    // Every copied leaf decodes to its frame and its property without W.
    for (let i = 10; i < n - 10; i++) {
      const lo = dst[2 + 2 * i];
      const hi = dst[2 + 2 * i + 1];
      if (i % 7 === 3) {
        expect(codec.kind(lo, hi, 1)).toBe(PTE_ABSENT);
        continue;
      }
      expect([codec.kind(lo, hi, 1), codec.pfn(lo, hi, 1), codec.prop(lo, hi, 1)]).toEqual([
        PTE_LEAF,
        i * 3 + 1,
        props[i % props.length] & ~PROP_W,
      ]);
    }
    codec.copyLeafWordsClearW(src, 4, src, 4, n);
    expect(Array.from(src)).toEqual(Array.from(want));
  });
});

describe('createX86_64Arch({ gigantic: true })', () => {
  const { consts, codec } = createX86_64Arch({ gigantic: true });

  it('allows 1 GiB leaves', () => {
    expect(consts.highestTranslationLevel).toBe(3);
    const prop = PROP_RW | AD | PROP_GLOBAL;
    // P|RW|A|D|PS|G = 0x1e3, address bits 30..51, NX.
    const lo = codec.leafLo(0x40000, prop, 3);
    const hi = codec.leafHi(0x40000, prop, 3);
    expect(pteToBigInt(lo, hi).toString(16)).toBe(0x8000_0000_4000_01e3n.toString(16));
    expect([codec.kind(lo, hi, 3), codec.pfn(lo, hi, 3), codec.prop(lo, hi, 3)]).toEqual([
      PTE_LEAF,
      0x40000,
      prop,
    ]);
    expectInvalid(() => codec.leafLo(0x200, prop, 3));
    expectInvalid(() => x86_64.codec.leafLo(0x40000, prop, 3));
  });
});
