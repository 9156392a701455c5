import { type Kernel, type PageTable, PROP_RW, PROP_USER, QUERY_MAPPED } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS, expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';
import { codeOf } from '../support/errors.ts';

const PAGE = 4096;
const USER_RW = PROP_RW | PROP_USER;
const BASE = 0x4000_0000;
/** More than a leaf node's worth, to cross a node boundary. */
const NR = 600;

/** The frame mapped at `va`, or -1. */
function mappedAt(pt: PageTable, va: number): number {
  const c = pt.cursor(va, va + PAGE);
  const kind = c.query();
  const pfn = c.qPfn;
  c.drop();
  return kind === QUERY_MAPPED ? pfn : -1;
}

/** Maps `n` fresh frames from `BASE` under one cursor with `mapFresh`; returns them. */
function mapFreshRange(k: Kernel, pt: PageTable, n: number): number[] {
  const c = pt.cursorMut(BASE, BASE + n * PAGE);
  const frames: number[] = [];
  for (let i = 0; i < n; i++) {
    const pfn = k.frames.alloc();
    c.mapFresh(pfn, USER_RW);
    frames.push(pfn);
  }
  expect(c.va).toBe(BASE + n * PAGE);
  c.drop();
  return frames;
}

const CONFIGS = [
  ...PROTOCOL_CONFIGS.map((c) => ({ ...c, sharedMemory: false })),
  ...ARCHS.flatMap((a) =>
    ['hoh', 'subtree', 'global'].map((lockProtocol) => ({
      name: `${a.name}/soa/${lockProtocol}/shared memory`,
      arch: a.arch,
      layout: 'soa',
      lockProtocol,
      sharedMemory: true,
    })),
  ),
  {
    name: 'x86_64/aos/subtree/shared memory',
    arch: ARCHS[0].arch,
    layout: 'aos',
    lockProtocol: 'subtree',
    sharedMemory: true,
  },
  // SMP mode: the state handed out, so counts take the `Atomics` path.
  {
    name: 'x86_64/soa/subtree/shared memory/smp',
    arch: ARCHS[0].arch,
    layout: 'soa',
    lockProtocol: 'subtree',
    sharedMemory: true,
    smp: true,
  },
  {
    name: 'x86_64/aos/hoh/shared memory/smp',
    arch: ARCHS[0].arch,
    layout: 'aos',
    lockProtocol: 'hoh',
    sharedMemory: true,
    smp: true,
  },
];

describe.each(CONFIGS)('CursorMut.mapFresh on $name', (config) => {
  const kernel = () => {
    const k = testKernel(config, { sharedMemory: config.sharedMemory });
    if ('smp' in config && config.smp) k.sharedState(1);
    return k;
  };

  it("hands each fresh frame's one handle to its PTE: count 1, no handle, nothing leaked", () => {
    const k = kernel();
    const inUse = k.frames.nrInUse;
    const pt = k.newUserPageTable();
    const frames = mapFreshRange(k, pt, NR);
    for (const pfn of frames) expect([k.frames.refCount(pfn), k.frames.handles(pfn)]).toEqual([1, 0]);
    for (const i of [0, 511, 512, NR - 1]) expect(mappedAt(pt, BASE + i * PAGE)).toBe(frames[i]);
    expectClean(k);
    // The frames plus the root and the nodes made for them, nothing else.
    const nodes = k.frames.nrInUse - inUse - NR;
    expect(nodes).toBeGreaterThan(1);
    const c = pt.cursorMut(BASE, BASE + NR * PAGE);
    expect(c.unmap(NR * PAGE)).toBe(NR);
    c.drop();
    for (const pfn of frames) expect(k.frames.isInUse(pfn)).toBe(false);
    expect(k.frames.nrInUse).toBe(inUse + nodes);
    expectClean(k);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(inUse);
    expectClean(k);
  });

  it('refuses, changing nothing, a frame that is not a fresh allocation', () => {
    const k = kernel();
    const pt = k.newUserPageTable();
    const [mapped] = mapFreshRange(k, pt, 1);
    const held = k.frames.alloc();
    k.frames.get(held);
    const freed = k.frames.alloc();
    k.frames.put(freed);
    const c = pt.cursorMut(BASE + PAGE, BASE + 4 * PAGE);
    // Two handles: the caller's is not the only reference.
    expect(codeOf(() => c.mapFresh(held, USER_RW))).toBe('BadFrameState');
    expect([k.frames.refCount(held), k.frames.handles(held)]).toEqual([2, 2]);
    // No handle: its one reference is another PTE's.
    expect(codeOf(() => c.mapFresh(mapped, USER_RW))).toBe('BadFrameState');
    expect([k.frames.refCount(mapped), k.frames.handles(mapped)]).toEqual([1, 0]);
    // Not in use, not a frame of memory, a page-table node.
    expect(codeOf(() => c.mapFresh(freed, USER_RW))).toBe('BadFrameState');
    expect(k.frames.isInUse(freed)).toBe(false);
    expect(codeOf(() => c.mapFresh(k.frames.nrFrames, USER_RW))).toBe('InvalidArgument');
    expect(codeOf(() => c.mapFresh(-1, USER_RW))).toBe('InvalidArgument');
    expect(codeOf(() => c.mapFresh(pt.rootPfn, USER_RW))).toBe('BadFrameState');
    expect(c.va).toBe(BASE + PAGE);
    // A fresh frame where a page is mapped, or past the cursor's range.
    const fresh = k.frames.alloc();
    c.jump(BASE + 3 * PAGE);
    c.mapFresh(k.frames.alloc(), USER_RW);
    c.jump(BASE + 3 * PAGE);
    expect(codeOf(() => c.mapFresh(fresh, USER_RW))).toBe('AlreadyMapped');
    expect(codeOf(() => c.mapFresh(fresh, USER_RW))).toBe('AlreadyMapped');
    c.jump(BASE + 3 * PAGE);
    c.unmap(PAGE);
    expect(codeOf(() => c.mapFresh(fresh, USER_RW))).toBe('InvalidVaddr');
    expect([k.frames.refCount(fresh), k.frames.handles(fresh)]).toEqual([1, 1]);
    c.drop();
    expect(mappedAt(pt, BASE + PAGE)).toBe(-1);
    expect(codeOf(() => c.mapFresh(fresh, USER_RW))).toBe('InvalidArgument');
    k.frames.put(fresh);
    k.frames.put(held);
    k.frames.put(held);
    expectClean(k);
    k.destroyUserPageTable(pt);
    expect(k.frames.isInUse(mapped)).toBe(false);
    expectClean(k);
  });

  it('keeps a frame another holder references when its PTE goes, and frees it with the last', () => {
    const k = kernel();
    const pt = k.newUserPageTable();
    const [a, b] = mapFreshRange(k, pt, 2);
    k.frames.get(a);
    const c = pt.cursorMut(BASE, BASE + 2 * PAGE);
    expect(c.unmap(2 * PAGE)).toBe(2);
    c.drop();
    expect(k.frames.isInUse(b)).toBe(false);
    expect([k.frames.refCount(a), k.frames.handles(a)]).toEqual([1, 1]);
    expectClean(k);
    k.frames.put(a);
    expect(k.frames.isInUse(a)).toBe(false);
    expect(() => k.frames.put(a)).toThrow(/BadFrameState/);
    expect(() => k.frames.decRef(a)).toThrow(/BadFrameState/);
    expectClean(k);
  });
});
