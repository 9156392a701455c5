import {
  createKernel,
  FrameType,
  type Kernel,
  MmError,
  type PageTable,
  PROP_RW,
  PROP_USER,
  withCache,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, KERNEL_CONFIGS, testKernel } from '../support/configs.ts';

const PAGE = 4096;
const MiB2 = 2 << 20;
const USER_RW = PROP_RW | PROP_USER;
const VA = 0x4000_0000;
/** A cache policy no architecture encodes: every codec rejects it. */
const BAD_PROP = withCache(USER_RW, 7);

function errorOf(fn: () => unknown): MmError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MmError) return e;
    throw e;
  }
  throw new Error('expected an MmError, nothing was thrown');
}

/** Maps `pfn` at `va` through a fresh cursor, dropping it whatever happens. */
function mapAt(pt: PageTable, va: number, pfn: number, prop = USER_RW): void {
  const c = pt.cursorMut(va, va + PAGE);
  try {
    c.map(pfn, prop);
  } finally {
    c.drop();
  }
}

/** Frames in use and the reference count of each, to show that nothing changed. */
function snapshot(k: Kernel): { inUse: number; counts: number[] } {
  const counts: number[] = [];
  for (let pfn = 0; pfn < k.meta.capacity; pfn++) counts.push(k.meta.refCount(pfn));
  return { inUse: k.frames.nrInUse, counts };
}

describe.each(KERNEL_CONFIGS)('bad input to the cursor on $name', (config) => {
  it.each([false, true])('refuses frame numbers outside memory (debug %s), changing nothing', (debug) => {
    const k = createKernel({ memory: 64 << 20, arch: config.arch, layout: config.layout, debug });
    const pt = k.newUserPageTable();
    const before = snapshot(k);
    for (const pfn of [k.meta.capacity, k.meta.capacity + 5, -1, 1.5, Number.NaN, 2 ** 32]) {
      const e = errorOf(() => mapAt(pt, VA, pfn));
      expect(e.code).toBe('InvalidArgument');
      expect(e.message).toMatch(/frame number .* is invalid/);
    }
    expect(snapshot(k)).toEqual(before);
    expectClean(k);
  });

  it('refuses to map metadata pages, page-table nodes, kernel and free frames as user pages', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const kernelFrame = k.frames.alloc(FrameType.Kernel);
    const free = k.frames.alloc();
    k.frames.put(free);
    const refused: [number, string][] = [
      [k.metaPagesStart, 'meta-page'],
      [k.kernelPageTable.rootPfn, 'page-table'],
      [pt.rootPfn, 'page-table'],
      [kernelFrame, 'kernel'],
      [free, 'free'],
    ];
    const before = snapshot(k);
    for (const [pfn, type] of refused) {
      const e = errorOf(() => mapAt(pt, VA, pfn));
      expect(e.code).toBe('BadFrameState');
      expect(e.message).toContain(`frame ${pfn} (${type}) may not be mapped as a user page`);
    }
    expect(snapshot(k)).toEqual(before);
    // Data and page-cache frames are what user pages are made of.
    const data = k.frames.alloc();
    const cached = k.frames.alloc(FrameType.PageCache);
    mapAt(pt, VA, data);
    mapAt(pt, VA + PAGE, cached);
    expect(k.meta.refCount(data)).toBe(2);
    expect(k.meta.refCount(cached)).toBe(2);
    k.frames.put(kernelFrame);
    k.frames.put(data);
    k.frames.put(cached);
    expectClean(k);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('leaves no reference behind when the property is bad, on the first page of a node and the next', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const f = k.frames.alloc();
    // The first map goes down through absent slots; the second takes the in-leaf path.
    const before = snapshot(k);
    expect(errorOf(() => mapAt(pt, VA, f, BAD_PROP)).code).toBe('InvalidArgument');
    expect(snapshot(k)).toEqual(before);
    mapAt(pt, VA, f);
    const c = pt.cursorMut(VA, VA + 2 * PAGE);
    c.jump(VA + PAGE);
    const mapped = snapshot(k);
    expect(errorOf(() => c.map(f, BAD_PROP)).code).toBe('InvalidArgument');
    expect(snapshot(k)).toEqual(mapped);
    expect(c.va).toBe(VA + PAGE);
    c.map(f, USER_RW);
    c.drop();
    expect(k.meta.refCount(f)).toBe(3);
    k.frames.put(f);
    expectClean(k);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('refuses bad mapPhys arguments before changing anything', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const before = snapshot(k);
    const attempts: [number, number, number, string][] = [
      [Number.NaN, 1, USER_RW, 'InvalidArgument'],
      [-1, 1, USER_RW, 'InvalidArgument'],
      [0, 0, USER_RW, 'InvalidArgument'],
      [0, 1.5, USER_RW, 'InvalidArgument'],
      [0, 4, BAD_PROP, 'InvalidArgument'],
      [0, 8, USER_RW, 'InvalidVaddr'],
    ];
    for (const [pfn, nrPages, prop, code] of attempts) {
      const c = pt.cursorMut(VA, VA + 4 * PAGE);
      try {
        expect(errorOf(() => c.mapPhys(pfn, nrPages, prop)).code).toBe(code);
      } finally {
        c.drop();
      }
    }
    expect(snapshot(k)).toEqual(before);
    expectClean(k);
  });

  it('throws on a second drop, but allows one drop after CursorBusy released everything', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const c = pt.cursorMut(VA, VA + PAGE);
    c.drop();
    const e = errorOf(() => c.drop());
    expect(e.code).toBe('InvalidArgument');
    expect(e.message).toMatch(/dropped twice/);

    // Two leaf nodes; `inner` holds the second, `outer` spans both and must enter it.
    const f = k.frames.alloc();
    mapAt(pt, VA, f);
    mapAt(pt, VA + MiB2, f);
    const inner = pt.cursorMut(VA + MiB2 + PAGE, VA + MiB2 + 2 * PAGE);
    const outer = pt.cursorMut(VA, VA + 2 * MiB2);
    outer.jump(VA + MiB2 + PAGE);
    expect(errorOf(() => outer.map(f, USER_RW)).code).toBe('CursorBusy');
    outer.drop();
    expect(errorOf(() => outer.drop()).code).toBe('InvalidArgument');
    inner.drop();
    k.frames.put(f);
    expectClean(k);
  });

  it('says what is wrong with an address, a range or a frame number', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const nan = errorOf(() => pt.cursorMut(Number.NaN, VA));
    expect(nan.code).toBe('InvalidVaddrRange');
    expect(nan.message).not.toContain('0xNaN');
    expect(nan.message).toContain('NaN');
    const reversed = errorOf(() => pt.cursorMut(VA + PAGE, VA));
    expect(reversed.code).toBe('InvalidVaddrRange');
    expect(reversed.message).toMatch(/reversed/);
    expect(errorOf(() => pt.cursorMut(VA, VA)).message).toMatch(/empty/);
    const c = pt.cursorMut(VA, VA + PAGE);
    const jump = errorOf(() => c.jump(Number.NaN));
    c.drop();
    expect(jump.message).toBe('InvalidVaddr: jump to NaN outside the cursor range');
    const put = errorOf(() => k.frames.put(-1));
    expect(put.code).toBe('InvalidArgument');
    expect(put.message).toMatch(/frame number -1 is invalid/);
    expect(put.message).not.toMatch(/twice/);
    expectClean(k);
  });
});
