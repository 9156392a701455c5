import {
  type Kernel,
  type PageTable,
  PROP_ACCESSED,
  PROP_AVAIL1,
  PROP_DIRTY,
  PROP_R,
  PROP_RW,
  PROP_USER,
  QUERY_NOT_MAPPED,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';
import { codeOf } from '../support/errors.ts';

const PAGE = 4096;
const MiB2 = 2 << 20;
const GiB = 2 ** 30;
const USER_RW = PROP_RW | PROP_USER;

/** The mapped base pages of `[start, end)` as [va, pfn, prop], from `query()` slot by slot. */
function pagesByQuery(pt: PageTable, start: number, end: number): [number, number, number][] {
  const c = pt.cursor(start, end);
  const out: [number, number, number][] = [];
  for (const item of c) {
    if (item.kind === QUERY_NOT_MAPPED) continue;
    for (let off = 0; off < item.len; off += PAGE) {
      const va = item.va + off;
      if (va >= start && va < end) out.push([va, item.pfn + off / PAGE, item.prop]);
    }
  }
  c.drop();
  return out;
}

/** The same pages from `queryRange`, called repeatedly with arrays of `cap` entries. */
function pagesByQueryRange(
  pt: PageTable,
  start: number,
  end: number,
  cap: number,
): [number, number, number][] {
  const c = pt.cursor(start, end);
  const va = new Float64Array(cap);
  const pfn = new Float64Array(cap);
  const prop = new Uint32Array(cap);
  const out: [number, number, number][] = [];
  for (let from = start; from < end; from = c.va) {
    const n = c.queryRange(from, end, va, pfn, prop);
    for (let i = 0; i < n; i++) out.push([va[i], pfn[i], prop[i]]);
    if (n < cap) {
      expect(c.va).toBe(end);
      break;
    }
  }
  c.drop();
  return out;
}

/** The `QueryKind` of every base page of `[start, end)`, from `query()` slot by slot. */
function kindsByQuery(pt: PageTable, start: number, end: number): number[] {
  const c = pt.cursor(start, end);
  const out: number[] = [];
  for (const item of c) {
    for (let off = 0; off < item.len; off += PAGE) {
      const va = item.va + off;
      if (va >= start && va < end) out.push(item.kind);
    }
  }
  c.drop();
  return out;
}

/** The same kinds from `queryKinds`, called repeatedly with a vector of `cap` pages. */
function kindsByQueryKinds(pt: PageTable, start: number, end: number, cap: number): number[] {
  const c = pt.cursor(start, end);
  const vec = new Uint8Array(cap);
  const out: number[] = [];
  for (let from = start; from < end; ) {
    const n = c.queryKinds(from, end, vec);
    expect(n).toBe(Math.min(cap, (end - from) / PAGE));
    out.push(...vec.subarray(0, n));
    from += n * PAGE;
    expect(c.va).toBe(from);
  }
  c.drop();
  return out;
}

/** Maps a tracked frame at every `stride`-th page of `[start, start + nrPages * PAGE)`; returns the frames. */
function mapSparse(k: Kernel, pt: PageTable, start: number, nrPages: number, stride: number): number[] {
  const frames: number[] = [];
  const c = pt.cursorMut(start, start + nrPages * PAGE);
  for (let i = 0; i < nrPages; i += stride) {
    const f = k.frames.alloc();
    c.jump(start + i * PAGE);
    c.map(f, USER_RW);
    k.frames.put(f);
    frames.push(f);
  }
  c.drop();
  return frames;
}

describe.each(PROTOCOL_CONFIGS)('queryRange on $name', (config) => {
  const userBase = 0x1000_0000;

  it('reports every mapped page of several leaf nodes, in order, whatever the array size', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    // 3 leaf nodes' worth, every third page mapped, starting mid-node.
    const start = userBase + 100 * PAGE;
    const frames = mapSparse(k, pt, start, 3 * 512, 3);
    const want = frames.map((f, i): [number, number, number] => [start + 3 * i * PAGE, f, USER_RW]);
    expect(pagesByQuery(pt, start, start + 3 * 512 * PAGE)).toEqual(want);
    for (const cap of [1, 7, 512, 4096]) {
      expect(pagesByQueryRange(pt, userBase, userBase + 8 * MiB2, cap)).toEqual(want);
    }
    // A sub-range that starts and ends between mapped pages.
    const sub = pagesByQueryRange(pt, start + PAGE, start + 601 * PAGE, 5);
    expect(sub).toEqual(want.filter(([va]) => va >= start + PAGE && va < start + 601 * PAGE));
    expectClean(k);
  });

  it('reports each page with its own property where properties change from page to page', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const start = userBase + 500 * PAGE;
    const props = [
      USER_RW,
      PROP_USER | PROP_R,
      USER_RW | PROP_ACCESSED,
      USER_RW | PROP_ACCESSED | PROP_DIRTY,
    ];
    const c = pt.cursorMut(start, start + 40 * PAGE);
    // Runs of 1, 2, 3, ... pages sharing a property; every seventh page untracked; a hole.
    for (let i = 0, run = 0, len = 1, p = 0; i < 40; i++) {
      if (i === 20) continue;
      c.jump(start + i * PAGE);
      if (i % 7 === 6) c.mapPhys(2000 + i, 1, props[p]);
      else {
        const f = k.frames.alloc();
        c.map(f, props[p]);
        k.frames.put(f);
      }
      if (++run === len) {
        run = 0;
        len++;
        p = (p + 1) % props.length;
      }
    }
    c.drop();
    const want = pagesByQuery(pt, start, start + 40 * PAGE);
    expect(want).toHaveLength(39);
    expect(new Set(want.map(([, , prop]) => prop)).size).toBeGreaterThan(props.length);
    for (const cap of [1, 3, 64]) expect(pagesByQueryRange(pt, start, start + 40 * PAGE, cap)).toEqual(want);
    expectClean(k);
  });

  it('reports each base page of untracked huge leaves, from a start inside one', () => {
    const k = testKernel(config, { linearMapping: false });
    const base = k.kernelPageTable.lower + 64 * GiB;
    const c = k.kernelPageTable.cursorMut(base, base + 2 * MiB2 + 2 * PAGE);
    c.mapPhys(1024, 2 * 512 + 2, PROP_RW);
    c.drop();
    const start = base + 300 * PAGE;
    const end = base + 2 * MiB2 + 2 * PAGE;
    const want = pagesByQuery(k.kernelPageTable, start, end);
    expect(want).toHaveLength(2 * 512 + 2 - 300);
    expect(want[0]).toEqual([start, 1024 + 300, PROP_RW | PROP_AVAIL1]);
    for (const cap of [1, 100, 2048])
      expect(pagesByQueryRange(k.kernelPageTable, start, end, cap)).toEqual(want);
    // An end inside a huge leaf.
    const mid = base + MiB2 + 7 * PAGE;
    expect(pagesByQueryRange(k.kernelPageTable, start, mid, 64)).toEqual(want.filter(([va]) => va < mid));
    expectClean(k);
  });

  it('equals a page-by-page walk on random tables: runs, holes, node edges, huge and high frames', () => {
    let seed = 0x2545f491;
    /** xorshift32: deterministic, so a failure replays. */
    const rand = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const props = [USER_RW, PROP_USER | PROP_R, USER_RW | PROP_ACCESSED | PROP_DIRTY];
    for (let round = 0; round < 4; round++) {
      const k = testKernel(config);
      const pt = k.newUserPageTable();
      const start = userBase;
      const end = userBase + 4 * MiB2;
      const c = pt.cursorMut(start, end);
      // Runs of tracked frames, untracked frames (some above 2^32 pages, whose frame
      // bits reach the PTE's high word) and holes, placed anywhere, across node edges.
      for (let va = start + rand(8) * PAGE; va < end; ) {
        const len = Math.min(1 + rand(700), (end - va) / PAGE);
        const prop = props[rand(props.length)];
        const what = rand(3);
        c.jump(va);
        if (what === 0) {
          for (let i = 0; i < len; i++) {
            const f = k.frames.alloc();
            c.map(f, prop);
            k.frames.put(f);
          }
        } else if (what === 1) {
          c.mapPhys((rand(2) === 0 ? 0x1_2345_6000 : 0x8000) + rand(64) * 512, len, prop);
        }
        va += len * PAGE;
      }
      c.drop();
      // One 2 MiB-aligned untracked huge leaf, when its slot is free.
      const huge = userBase + 5 * MiB2;
      const h = pt.cursorMut(huge, huge + MiB2);
      h.mapPhys(0x40_0000, 512, USER_RW);
      h.drop();
      const from = start + rand(64) * PAGE;
      const to = huge + MiB2 - rand(64) * PAGE;
      const want = pagesByQuery(pt, from, to);
      expect(want.length).toBeGreaterThan(512);
      expect(want.some(([, pfn]) => pfn >= 2 ** 32)).toBe(true);
      for (const cap of [1, 1 + rand(600), 8192]) expect(pagesByQueryRange(pt, from, to, cap)).toEqual(want);
      const kinds = kindsByQuery(pt, from, to);
      expect(new Set(kinds).size).toBe(3);
      for (const cap of [1, 1 + rand(600), 8192]) expect(kindsByQueryKinds(pt, from, to, cap)).toEqual(kinds);
      expectClean(k);
    }
  });

  it('returns 0 for an empty range, nothing mapped in an empty table, and refuses bad bounds', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const c = pt.cursor(userBase, userBase + GiB);
    const va = new Float64Array(4);
    const pfn = new Float64Array(4);
    const prop = new Uint32Array(4);
    expect(c.queryRange(userBase, userBase + GiB, va, pfn, prop)).toBe(0);
    expect(c.va).toBe(userBase + GiB);
    expect(c.queryRange(userBase, userBase, va, pfn, prop)).toBe(0);
    expect(codeOf(() => c.queryRange(userBase - PAGE, userBase, va, pfn, prop))).toBe('InvalidVaddr');
    expect(codeOf(() => c.queryRange(userBase, userBase + GiB + PAGE, va, pfn, prop))).toBe('InvalidVaddr');
    expect(codeOf(() => c.queryRange(userBase + PAGE, userBase, va, pfn, prop))).toBe('InvalidVaddr');
    expect(codeOf(() => c.queryRange(userBase + 1, userBase + PAGE, va, pfn, prop))).toBe('UnalignedVaddr');
    const vec = new Uint8Array(4);
    expect(c.queryKinds(userBase, userBase + 3 * PAGE, vec)).toBe(3);
    expect([...vec]).toEqual([QUERY_NOT_MAPPED, QUERY_NOT_MAPPED, QUERY_NOT_MAPPED, 0]);
    expect(c.queryKinds(userBase, userBase, vec)).toBe(0);
    expect(codeOf(() => c.queryKinds(userBase - PAGE, userBase, vec))).toBe('InvalidVaddr');
    expect(codeOf(() => c.queryKinds(userBase, userBase + GiB + PAGE, vec))).toBe('InvalidVaddr');
    expect(codeOf(() => c.queryKinds(userBase + 1, userBase + PAGE, vec))).toBe('UnalignedVaddr');
    c.drop();
    expect(codeOf(() => c.queryRange(userBase, userBase + PAGE, va, pfn, prop))).toBe('InvalidArgument');
    expectClean(k);
  });
});
