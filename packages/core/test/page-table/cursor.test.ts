import {
  type Kernel,
  PROP_ACCESSED,
  PROP_R,
  PROP_RW,
  PROP_USER,
  PROP_W,
  pageSize,
  QUERY_END,
  QUERY_MAPPED,
  QUERY_MAPPED_UNTRACKED,
  QUERY_NOT_MAPPED,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';
import { codeOf } from '../support/errors.ts';

const PAGE = 4096;
const MiB2 = 2 << 20;
const GiB = 2 ** 30;
const USER_RW = PROP_RW | PROP_USER;

/** Collects the slots of `[start, end)` as [va, len, kind] triples. */
function slots(k: Kernel, pt = k.kernelPageTable, start: number, end: number): [number, number, number][] {
  const c = pt.cursor(start, end);
  const out: [number, number, number][] = [];
  for (const item of c) out.push([item.va, item.len, item.kind]);
  c.drop();
  return out;
}

describe.each(PROTOCOL_CONFIGS)('cursor on $name', (config) => {
  const userBase = 0x1000_0000;

  it('maps one 4 KiB page and queries it', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const frame = k.frames.alloc();
    const c = pt.cursorMut(userBase, userBase + PAGE);
    c.map(frame, USER_RW);
    expect(c.va).toBe(userBase + PAGE);
    c.drop();
    expect(k.frames.refCount(frame)).toBe(2);
    const q = pt.cursor(userBase, userBase + PAGE);
    expect(q.query()).toBe(QUERY_MAPPED);
    expect([q.qVa, q.qLen, q.qPfn, q.qProp]).toEqual([userBase, PAGE, frame, USER_RW]);
    expect(q.query()).toBe(QUERY_END);
    q.drop();
    expectClean(k);
    k.frames.put(frame);
    expectClean(k);
  });

  it('refuses to map over a mapped page, changing nothing', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const a = k.frames.alloc();
    const b = k.frames.alloc();
    const c = pt.cursorMut(userBase, userBase + PAGE);
    c.map(a, USER_RW);
    c.jump(userBase);
    expect(codeOf(() => c.map(b, USER_RW))).toBe('AlreadyMapped');
    c.drop();
    expect(k.frames.refCount(b)).toBe(1);
    expectClean(k);
  });

  it('maps 0 .. 1 GiB + 8 KiB of physical memory with the largest pages', () => {
    const k = testKernel(config, { linearMapping: false });
    const base = k.kernelPageTable.lower + 64 * GiB;
    const len = GiB + 2 * PAGE;
    const c = k.kernelPageTable.cursorMut(base, base + len);
    c.mapPhys(0, len / PAGE, PROP_RW);
    c.drop();
    const got = slots(k, k.kernelPageTable, base, base + len).filter((s) => s[2] !== QUERY_NOT_MAPPED);
    const highest = config.arch.consts.highestTranslationLevel;
    const huge = pageSize(config.arch.consts, Math.min(highest, 3));
    const expected: [number, number, number][] = [];
    for (let off = 0; off < GiB; off += huge) expected.push([base + off, huge, QUERY_MAPPED_UNTRACKED]);
    expected.push(
      [base + GiB, PAGE, QUERY_MAPPED_UNTRACKED],
      [base + GiB + PAGE, PAGE, QUERY_MAPPED_UNTRACKED],
    );
    expect(got).toEqual(expected);
    expectClean(k);
  });

  it('splits an untracked 2 MiB page when protecting half of it', () => {
    const k = testKernel(config, { linearMapping: false });
    const base = k.kernelPageTable.lower + 64 * GiB;
    const c = k.kernelPageTable.cursorMut(base, base + MiB2);
    c.mapPhys(512, 512, PROP_RW);
    c.jump(base);
    c.protect(MiB2 / 2, (p) => p & ~PROP_W);
    c.drop();
    const q = k.kernelPageTable.cursor(base, base + MiB2);
    const items = [...q];
    q.drop();
    expect(items).toHaveLength(512);
    items.forEach((item, i) => {
      expect(item.kind).toBe(QUERY_MAPPED_UNTRACKED);
      expect(item.pfn).toBe(512 + i);
      expect(item.prop & PROP_RW).toBe(i < 256 ? PROP_R : PROP_RW);
    });
    expectClean(k);
  });

  it('unmaps part of an untracked huge page, splitting it', () => {
    const k = testKernel(config, { linearMapping: false });
    const base = k.kernelPageTable.lower + 64 * GiB;
    const c = k.kernelPageTable.cursorMut(base, base + MiB2);
    c.mapPhys(1024, 512, PROP_RW);
    c.jump(base + PAGE);
    expect(c.unmap(2 * PAGE)).toBe(0);
    c.drop();
    const got = slots(k, k.kernelPageTable, base, base + 4 * PAGE);
    expect(got.map((s) => s[2])).toEqual([
      QUERY_MAPPED_UNTRACKED,
      QUERY_NOT_MAPPED,
      QUERY_NOT_MAPPED,
      QUERY_MAPPED_UNTRACKED,
    ]);
    expectClean(k);
  });

  it('unmaps tracked frames, freeing those whose last reference goes', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const frames = [k.frames.alloc(), k.frames.alloc(), k.frames.alloc()];
    const c = pt.cursorMut(userBase, userBase + 3 * PAGE);
    for (const f of frames) c.map(f, USER_RW);
    k.frames.put(frames[0]);
    k.frames.put(frames[2]);
    c.jump(userBase);
    expect(c.unmap(3 * PAGE)).toBe(3);
    c.drop();
    expect(k.frames.isInUse(frames[0])).toBe(false);
    expect(k.frames.refCount(frames[1])).toBe(1);
    expect(k.frames.isInUse(frames[2])).toBe(false);
    expectClean(k);
  });

  it('jumps back and forth inside its range', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const start = userBase;
    const end = userBase + 3 * MiB2;
    const c = pt.cursorMut(start, end);
    const pfns: number[] = [];
    for (const va of [start + MiB2 + PAGE, start, end - PAGE, start + 5 * PAGE]) {
      c.jump(va);
      const f = k.frames.alloc();
      pfns.push(f);
      c.map(f, USER_RW);
      k.frames.put(f);
    }
    c.jump(start + 5 * PAGE);
    expect(c.query()).toBe(QUERY_MAPPED);
    expect(c.qPfn).toBe(pfns[3]);
    c.jump(start + MiB2 + PAGE);
    expect(c.query()).toBe(QUERY_MAPPED);
    expect(c.qPfn).toBe(pfns[0]);
    c.jump(end - PAGE);
    expect(c.query()).toBe(QUERY_MAPPED);
    expect(c.query()).toBe(QUERY_END);
    c.jump(start);
    expect(c.query()).toBe(QUERY_MAPPED);
    expect(codeOf(() => c.jump(end))).toBe('InvalidVaddr');
    expect(codeOf(() => c.jump(start - PAGE))).toBe('InvalidVaddr');
    expect(codeOf(() => c.jump(start + 1))).toBe('UnalignedVaddr');
    c.drop();
    expectClean(k);
  });

  it('validates the range at creation', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    expect(codeOf(() => pt.cursorMut(userBase, userBase))).toBe('InvalidVaddrRange');
    expect(codeOf(() => pt.cursorMut(userBase + PAGE, userBase))).toBe('InvalidVaddrRange');
    expect(codeOf(() => pt.cursorMut(pt.upper - PAGE, pt.upper + PAGE))).toBe('InvalidVaddrRange');
    expect(codeOf(() => pt.cursorMut(k.kernelPageTable.lower, k.kernelPageTable.lower + PAGE))).toBe(
      'InvalidVaddrRange',
    );
    expect(codeOf(() => k.kernelPageTable.cursorMut(0, PAGE))).toBe('InvalidVaddrRange');
    expect(codeOf(() => pt.cursorMut(userBase + 1, userBase + PAGE))).toBe('UnalignedVaddr');
    expect(codeOf(() => pt.cursorMut(userBase, userBase + 100))).toBe('UnalignedVaddr');
    expectClean(k);
  });

  it('reports protect outcomes of the seed', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const f = k.frames.alloc();
    const c = pt.cursorMut(userBase, userBase + 2 * PAGE);
    c.map(f, USER_RW);
    c.jump(userBase);
    // The mapped page before the hole is changed before the hole is met, as in the seed.
    expect(codeOf(() => c.protect(2 * PAGE, (p) => p & ~PROP_W, false))).toBe('ProtectingInvalid');
    c.jump(userBase);
    c.query();
    expect(c.qProp).toBe(PROP_R | PROP_USER);
    c.jump(userBase);
    c.protect(2 * PAGE, (p) => p | PROP_ACCESSED, true);
    c.jump(userBase);
    c.query();
    expect(c.qProp).toBe(PROP_R | PROP_USER | PROP_ACCESSED);
    c.drop();
    expectClean(k);
  });

  it('finds the next mapped page', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const c = pt.cursorMut(userBase, userBase + 4 * MiB2);
    const f = k.frames.alloc();
    c.jump(userBase + 3 * MiB2 + 7 * PAGE);
    c.map(f, USER_RW);
    c.jump(userBase);
    expect(c.findNext(MiB2)).toBe(-1);
    expect(c.va).toBe(userBase + MiB2);
    expect(c.findNext(3 * MiB2)).toBe(userBase + 3 * MiB2 + 7 * PAGE);
    expect(c.query()).toBe(QUERY_MAPPED);
    expect(codeOf(() => c.findNext(4 * MiB2))).toBe('InvalidVaddr');
    c.drop();
    expectClean(k);
  });

  it('tears a user page table down, returning every frame', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const c = pt.cursorMut(userBase, userBase + 1024 * PAGE);
    for (let i = 0; i < 1024; i++) {
      const f = k.frames.alloc();
      c.map(f, USER_RW);
      k.frames.put(f);
    }
    c.drop();
    expectClean(k);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expectClean(k);
  });
});
