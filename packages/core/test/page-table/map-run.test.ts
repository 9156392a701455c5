import {
  CACHE_WRITE_PROTECTED,
  type Kernel,
  type PageTable,
  PROP_RW,
  PROP_USER,
  QUERY_NOT_MAPPED,
  withCache,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';
import { codeOf } from '../support/errors.ts';

const PAGE = 4096;
const USER_RW = PROP_RW | PROP_USER;
/** More than two leaf nodes' worth, to cross node boundaries. */
const NR = 1100;

/** Every slot of `[start, end)` as [va, pfn, prop] (pfn -1 where nothing is mapped). */
function slots(pt: PageTable, start: number, end: number): [number, number, number][] {
  const c = pt.cursor(start, end);
  const out: [number, number, number][] = [];
  for (const item of c) {
    for (let off = 0; off < item.len; off += PAGE) {
      out.push(
        item.kind === QUERY_NOT_MAPPED ? [item.va + off, -1, 0] : [item.va + off, item.pfn, item.prop],
      );
    }
  }
  c.drop();
  return out;
}

/** `NR` contiguous frames, each held by one handle. */
function frames(k: Kernel): number {
  return k.frames.allocContiguous(NR);
}

function putAll(k: Kernel, first: number): void {
  for (let i = 0; i < NR; i++) k.frames.put(first + i);
}

describe.each(PROTOCOL_CONFIGS)('mapRun on $name', (config) => {
  const userBase = 0x1000_0000;
  const start = userBase + 300 * PAGE;
  const end = start + NR * PAGE;

  it('maps a run of frames across leaf nodes as page-by-page map would', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const first = frames(k);
    const c = pt.cursorMut(userBase, userBase + 4 * NR * PAGE);
    c.jump(start);
    c.mapRun(first, NR, USER_RW);
    expect(c.va).toBe(end);
    c.drop();
    // The reference: the same frames mapped one by one in another table.
    const ref = k.newUserPageTable();
    const r = ref.cursorMut(start, end);
    for (let i = 0; i < NR; i++) r.map(first + i, USER_RW);
    r.drop();
    expect(slots(pt, userBase, end + PAGE)).toEqual(slots(ref, userBase, end + PAGE));
    expect(slots(pt, start, end).every(([va, pfn]) => pfn === first + (va - start) / PAGE)).toBe(true);
    for (let i = 0; i < NR; i++) expect(k.frames.refCount(first + i)).toBe(3);
    expectClean(k);
    for (const t of [pt, ref]) {
      const u = t.cursorMut(start, end);
      expect(u.unmap(end - start)).toBe(NR);
      u.drop();
    }
    putAll(k, first);
    expectClean(k);
  });

  it('refuses bad runs, changing nothing', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const first = frames(k);
    const m = pt.cursorMut(start, end);
    m.jump(start + 700 * PAGE);
    m.map(first, USER_RW); // one page mapped in the middle of the range
    m.drop();
    const before = slots(pt, start, end);
    const c = pt.cursorMut(start, end);
    expect(codeOf(() => c.mapRun(first + 1, NR - 1, USER_RW))).toBe('AlreadyMapped');
    expect(codeOf(() => c.mapRun(first + 1, 0, USER_RW))).toBe('InvalidArgument');
    expect(codeOf(() => c.mapRun(first + 1, 1.5, USER_RW))).toBe('InvalidArgument');
    expect(codeOf(() => c.mapRun(first + 1, NR + 1, USER_RW))).toBe('InvalidVaddr');
    expect(codeOf(() => c.mapRun(k.frames.nrFrames, 4, USER_RW))).toBe('InvalidArgument');
    expect(codeOf(() => c.mapRun(first + 1, 4, withCache(USER_RW, CACHE_WRITE_PROTECTED)))).toBe(
      'InvalidArgument',
    );
    // A run reaching the user root (a page-table frame) may not be mapped.
    expect(codeOf(() => c.mapRun(pt.rootPfn - 1, 2, USER_RW))).toBe('BadFrameState');
    expect(c.va).toBe(start);
    c.drop();
    expect(slots(pt, start, end)).toEqual(before);
    expect(k.frames.refCount(first)).toBe(2);
    for (let i = 1; i < NR; i++) expect(k.frames.refCount(first + i)).toBe(1);
    expectClean(k);
    const u = pt.cursorMut(start, end);
    expect(u.unmap(end - start)).toBe(1);
    u.drop();
    putAll(k, first);
    expectClean(k);
  });
});
