import {
  type CursorMut,
  type Kernel,
  MmError,
  type PageTable,
  PROP_R,
  PROP_USER,
  PROP_W,
  PROP_X,
  QUERY_MAPPED,
  QUERY_MAPPED_UNTRACKED,
} from '@mmkit/core';
import { cowCopyPt } from '@mmkit/plugins';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClean, KERNEL_CONFIGS, testKernel } from '../../core/test/support/configs.ts';

/**
 * The `cow` plugin's `cowCopyPt` (a leaf node at a time) against the seed's page-by-page
 * `cow_copy_pt`: two identical kernels get the same random parent (tracked pages with random
 * rights, untracked physical ranges that make huge pages) and child (a few pages already
 * mapped, which must fail with `AlreadyMapped` at the same point); one copies in bulk, the
 * other page by page, over a random sub-range. Results, every PTE of both tables, reference
 * counts and `kernel.check()` must agree.
 */
const PAGE = 4096;
/** 1 MiB below a 1 GiB boundary, so ranges cross nodes at every level. */
const BASE = 0x4000_0000 - 0x10_0000;
const NR_PAGES = 1536;
/** Untracked physical memory starts at a 2 MiB-aligned frame; page i maps PHYS + i. */
const PHYS = 1 << 20;

/** The seed's page-by-page `cow_copy_pt`, untracked pages mapped one base page at a time. */
function copyPageByPage(src: CursorMut, dst: CursorMut, size: number): number {
  const end = src.va + size;
  let nrCopied = 0;
  for (let va = src.findNext(size); va >= 0; va = src.findNext(end - src.va)) {
    const kind = src.query();
    if (kind === QUERY_MAPPED_UNTRACKED) {
      dst.jump(va);
      dst.mapPhys(src.qPfn + (va - src.qVa) / PAGE, 1, src.qProp);
      if (va + PAGE < src.va) src.jump(va + PAGE);
      continue;
    }
    if (kind !== QUERY_MAPPED) continue;
    const pfn = src.qPfn;
    const prop = src.qProp & ~PROP_W;
    if (prop !== src.qProp) {
      src.jump(va);
      src.protect(src.qLen, (p) => p & ~PROP_W);
    }
    dst.jump(va);
    dst.map(pfn, prop);
    nrCopied++;
  }
  return nrCopied;
}

type Layout = {
  tracked: { page: number; perms: number }[];
  phys: { page: number; n: number }[];
  childMapped: number[];
  from: number;
  len: number;
};

const perms = fc.constantFrom(PROP_R, PROP_R | PROP_W, PROP_R | PROP_X, PROP_R | PROP_W | PROP_X);
const pageIdx = fc.integer({ min: 0, max: NR_PAGES - 1 });
const layout: fc.Arbitrary<Layout> = fc.record({
  tracked: fc.oneof(
    fc.array(fc.record({ page: pageIdx, perms }), { maxLength: 60 }),
    // Dense runs, so that whole leaf nodes are copied.
    fc
      .tuple(pageIdx, fc.integer({ min: 1, max: 1100 }), perms)
      .map(([page, n, p]) =>
        Array.from({ length: Math.min(n, NR_PAGES - page) }, (_, i) => ({ page: page + i, perms: p })),
      ),
  ),
  phys: fc.array(fc.record({ page: pageIdx, n: fc.integer({ min: 1, max: 600 }) }), { maxLength: 2 }),
  childMapped: fc.array(pageIdx, { maxLength: 2 }),
  from: pageIdx,
  len: fc.integer({ min: 1, max: NR_PAGES }),
});

/** Builds the layout on a fresh kernel and copies with `copy`; returns what to compare. */
function run(config: (typeof KERNEL_CONFIGS)[number], l: Layout, copy: typeof copyPageByPage) {
  const k: Kernel = testKernel(config);
  const parent = k.newUserPageTable();
  const child = k.newUserPageTable();
  const mapped = new Set<number>();
  const frames: number[] = [];
  for (const { page, perms: p } of l.tracked) {
    if (mapped.has(page)) continue;
    mapped.add(page);
    const pfn = k.frames.alloc();
    frames.push(pfn);
    const c = parent.cursorMut(BASE + page * PAGE, BASE + (page + 1) * PAGE);
    c.map(pfn, p | PROP_USER);
    c.drop();
    k.frames.put(pfn);
  }
  for (const { page, n } of l.phys) {
    const len = Math.min(n, NR_PAGES - page);
    let free = true;
    for (let i = page; i < page + len; i++) if (mapped.has(i)) free = false;
    if (!free) continue;
    for (let i = page; i < page + len; i++) mapped.add(i);
    const c = parent.cursorMut(BASE + page * PAGE, BASE + (page + len) * PAGE);
    c.mapPhys(PHYS + page, len, PROP_R | PROP_W | PROP_USER);
    c.drop();
  }
  for (const page of new Set(l.childMapped)) {
    const pfn = k.frames.alloc();
    frames.push(pfn);
    const c = child.cursorMut(BASE + page * PAGE, BASE + (page + 1) * PAGE);
    c.map(pfn, PROP_R | PROP_USER);
    c.drop();
    k.frames.put(pfn);
  }
  const len = Math.min(l.len, NR_PAGES - l.from) * PAGE;
  const start = BASE + l.from * PAGE;
  const src = parent.cursorMut(start, start + len);
  const dst = child.cursorMut(start, start + len);
  let result: number | string;
  try {
    result = copy(src, dst, len);
  } catch (e) {
    if (!(e instanceof MmError)) throw e;
    result = e.code;
  } finally {
    dst.drop();
    src.drop();
  }
  expectClean(k);
  return {
    result,
    parent: dump(parent),
    child: dump(child),
    refCounts: frames.map((pfn) => k.frames.refCount(pfn)),
  };
}

function dump(pt: PageTable): string[] {
  const c = pt.cursor(BASE, BASE + NR_PAGES * PAGE);
  const out: string[] = [];
  for (const q of c) if (q.kind !== 1) out.push(`${q.kind} ${q.va} ${q.len} ${q.pfn} ${q.prop}`);
  c.drop();
  return out;
}

describe.each(KERNEL_CONFIGS)('cowCopyPt on $name', (config) => {
  it('equals the page-by-page cow_copy_pt', () => {
    fc.assert(
      fc.property(layout, (l) => {
        const bulk = run(config, l, (src, dst, size) => cowCopyPt(src.pt.ctx, src, dst, size));
        const reference = run(config, l, copyPageByPage);
        expect(bulk).toEqual(reference);
      }),
      { numRuns: 40 },
    );
  });
});
