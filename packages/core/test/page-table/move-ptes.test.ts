import { type Kernel, type PageTable, PROP_R, PROP_RW, PROP_USER } from '@mmkit/core';
import { movePtes } from '@mmkit/core/internal';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';
import { codeOf } from '../support/errors.ts';

const PAGE = 4096;
/** Pages per leaf node (every architecture here has 512-entry nodes). */
const NODE = 512;
/** A base aligned to every node size below the root's (1 GiB), in every user half here. */
const BASE = 2 ** 32;
const GIB_PAGES = 2 ** 18;

/** Every mapped base page of `[start, end)` as [va, pfn, prop] (queryRange). */
function pages(pt: PageTable, start: number, end: number): [number, number, number][] {
  const n = (end - start) / PAGE;
  const va = new Float64Array(n);
  const pfn = new Float64Array(n);
  const prop = new Uint32Array(n);
  const c = pt.cursor(start, end);
  const got = c.queryRange(start, end, va, pfn, prop);
  c.drop();
  return Array.from({ length: got }, (_, i) => [va[i], pfn[i], prop[i]]);
}

/** Whether page `i` of a populated range is mapped: holes every 7 pages and one 60-page gap. */
const mappedAt = (i: number) => i % 7 !== 3 && !(i >= 700 && i < 760);

/**
 * Maps pages `[first, first + count)` (in pages from `BASE`) where `mappedAt` says so, with
 * fresh frames (the PTE holds the only reference), alternating two properties.
 */
function populate(k: Kernel, pt: PageTable, first: number, count: number): number[] {
  const c = pt.cursorMut(BASE + first * PAGE, BASE + (first + count) * PAGE);
  const frames: number[] = [];
  for (let i = 0; i < count; i++) {
    if (!mappedAt(i)) continue;
    const pfn = k.frames.alloc();
    c.jump(BASE + (first + i) * PAGE);
    c.map(pfn, (i & 1 ? PROP_R : PROP_RW) | PROP_USER);
    k.frames.put(pfn);
    frames.push(pfn);
  }
  c.drop();
  return frames;
}

/** Moves with one cursor over both ranges, as `Vmar.remap` does; returns the pages moved. */
function move(pt: PageTable, src: number, dst: number, len: number): number {
  const c = pt.cursorMut(Math.min(src, dst), Math.max(src, dst) + len);
  try {
    return movePtes(c, src, dst, len);
  } finally {
    c.drop();
  }
}

/** The leaf node mapping `va` (which must be under a leaf node), read through a cursor. */
function leafNodeOf(pt: PageTable, va: number): number {
  const c = pt.cursorMut(va, va + PAGE);
  c.goDownTo(1);
  const node = c.nodeAt(1);
  c.drop();
  return node;
}

/** [source page, destination page, length in pages] from `BASE`. */
const CASES: [string, number, number, number][] = [
  ['one whole leaf node, both aligned (relinked)', 0, 4 * NODE, NODE],
  ['three whole leaf nodes, both aligned', 0, 8 * NODE, 3 * NODE],
  ['aligned distance, partial first and last node', 1, 4 * NODE + 1, 1100],
  ['one page off the alignment', 0, 4 * NODE + 1, 1100],
  ['a single page', 300, 5000, 1],
  ['two pages across a node boundary', NODE - 1, 3 * NODE + 7, 2],
  ['within one leaf node', 10, 100, 50],
  ['downwards, unaligned', 4 * NODE, 5, 700],
  ['downwards, aligned', 6 * NODE, NODE, 2 * NODE],
  ['across a 1 GiB boundary to another 1 GiB region', GIB_PAGES - 600, 3 * GIB_PAGES + 7, 1100],
];

describe.each(PROTOCOL_CONFIGS)('movePtes on $name', (config) => {
  it.each(CASES)('moves %s as the entries were, references unchanged', (_, s, d, n) => {
    const k = testKernel(config);
    const before = k.frames.nrInUse;
    const pt = k.newUserPageTable();
    const src = BASE + s * PAGE;
    const dst = BASE + d * PAGE;
    const len = n * PAGE;
    // Pages outside the moved range, on both sides, must stay where they are.
    const frames = populate(k, pt, s - 3, n + 6);
    const lo = Math.min(src, dst) - 3 * PAGE;
    const hi = Math.max(src, dst) + len + 3 * PAGE;
    const all = pages(pt, lo, hi);
    const refs = frames.map((f) => k.frames.refCount(f));
    const inRange = all.filter(([va]) => va >= src && va < src + len);

    expect(move(pt, src, dst, len)).toBe(inRange.length);

    const expected = all
      .map(([va, pfn, prop]): [number, number, number] =>
        va >= src && va < src + len ? [va - src + dst, pfn, prop] : [va, pfn, prop],
      )
      .sort((a, b) => a[0] - b[0]);
    expect(pages(pt, lo, hi)).toEqual(expected);
    expect(pages(pt, src, src + len)).toEqual([]);
    expect(frames.map((f) => k.frames.refCount(f))).toEqual(refs);
    expectClean(k);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(before);
  });

  it('relinks a whole leaf node when both ends are aligned, and moves entries otherwise', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    populate(k, pt, 0, 2 * NODE);
    const node = leafNodeOf(pt, BASE);
    move(pt, BASE, BASE + 4 * NODE * PAGE, NODE * PAGE);
    expect(leafNodeOf(pt, BASE + 4 * NODE * PAGE)).toBe(node);
    const second = leafNodeOf(pt, BASE + NODE * PAGE);
    move(pt, BASE + NODE * PAGE, BASE + (8 * NODE + 1) * PAGE, NODE * PAGE);
    expect(leafNodeOf(pt, BASE + (8 * NODE + 1) * PAGE)).not.toBe(second);
    expectClean(k);
  });

  it('refuses overlapping ranges, a mapped destination and bad ranges, changing nothing', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    populate(k, pt, 0, 2 * NODE);
    const before = pages(pt, BASE, BASE + 4 * NODE * PAGE);
    const hull = pt.cursorMut(BASE, BASE + 4 * NODE * PAGE);
    expect(codeOf(() => movePtes(hull, BASE, BASE + 10 * PAGE, 20 * PAGE))).toBe('InvalidArgument');
    expect(codeOf(() => movePtes(hull, BASE + 10 * PAGE, BASE, 20 * PAGE))).toBe('InvalidArgument');
    expect(codeOf(() => movePtes(hull, BASE, BASE + 100 * PAGE, 20 * PAGE))).toBe('AlreadyMapped');
    expect(codeOf(() => movePtes(hull, BASE, BASE + 2 * NODE * PAGE + 1, PAGE))).toBe('UnalignedVaddr');
    expect(codeOf(() => movePtes(hull, BASE, BASE + 4 * NODE * PAGE, PAGE))).toBe('InvalidVaddr');
    expect(movePtes(hull, BASE, BASE + 3 * NODE * PAGE, 0)).toBe(0);
    hull.drop();
    expect(pages(pt, BASE, BASE + 4 * NODE * PAGE)).toEqual(before);
    expectClean(k);
  });

  it('moves an untracked huge page whole when the distance allows, else splits it', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const huge = NODE * PAGE;
    const c = pt.cursorMut(BASE, BASE + 2 * huge);
    c.mapPhys(NODE, NODE, PROP_RW | PROP_USER);
    c.drop();
    const query = (va: number) => {
      const q = pt.cursor(va, va + PAGE);
      q.query();
      const r = [q.qVa, q.qLen, q.qPfn];
      q.drop();
      return r;
    };
    // Aligned: the 2 MiB leaf itself moves.
    move(pt, BASE, BASE + 4 * huge, huge);
    expect(query(BASE + 4 * huge + 5 * PAGE)).toEqual([BASE + 4 * huge, huge, NODE]);
    // One page off: split, then moved as base pages.
    move(pt, BASE + 4 * huge, BASE + 8 * huge + PAGE, huge);
    const moved = pages(pt, BASE + 8 * huge, BASE + 10 * huge);
    expect(moved.length).toBe(NODE);
    expect(moved.every(([va, pfn], i) => va === BASE + 8 * huge + (i + 1) * PAGE && pfn === NODE + i)).toBe(
      true,
    );
    // Part of a huge page: the part moves, the rest stays.
    const d = pt.cursorMut(BASE, BASE + huge);
    d.mapPhys(2 * NODE, NODE, PROP_RW | PROP_USER);
    d.drop();
    move(pt, BASE + 100 * PAGE, BASE + 2 * huge, 10 * PAGE);
    expect(pages(pt, BASE, BASE + huge).length).toBe(NODE - 10);
    expect(pages(pt, BASE + 2 * huge, BASE + 3 * huge).map(([, pfn]) => pfn)).toEqual(
      Array.from({ length: 10 }, (_, i) => 2 * NODE + 100 + i),
    );
    expectClean(k);
  });
});

describe('movePtes relinks leaf nodes only where no lock-free walk can reach them', () => {
  // Under `subtree` a walk of another thread finds nodes without locks, so a kernel whose
  // page tables other threads may share moves the entries instead; `hoh` and `global`
  // walks always hold the parent.
  it.each([
    ['hoh', true],
    ['global', true],
    ['subtree', false],
  ])('with shared memory under %s: relinked %s', (lockProtocol, relinked) => {
    const k = testKernel(
      { arch: PROTOCOL_CONFIGS[0].arch, layout: 'soa', lockProtocol },
      { sharedMemory: true },
    );
    const pt = k.newUserPageTable();
    populate(k, pt, 0, NODE);
    const node = leafNodeOf(pt, BASE);
    expect(move(pt, BASE, BASE + 4 * NODE * PAGE, NODE * PAGE)).toBe(
      Array.from({ length: NODE }, (_, i) => i).filter(mappedAt).length,
    );
    expect(leafNodeOf(pt, BASE + 4 * NODE * PAGE) === node).toBe(relinked);
    expectClean(k);
  });
});
