import { x86_64 } from '@mmkit/arch-x86_64';
import { describe, expect, it } from 'vitest';
import { createKernel, FrameType, PageTable, PROP_RW, PROP_USER, QUERY_MAPPED } from '../../src/index.ts';

/**
 * Attach mode on one thread: a view built over a shared kernel's buffers sees and changes
 * the same frames, metadata, pages and allocator (what worker threads rely on).
 */
describe.each(['soa', 'aos'] as const)('a kernel view attached to shared memory (%s)', (layout) => {
  const boot = () =>
    createKernel({ arch: x86_64, memory: 16 << 20, layout, sharedMemory: true, linearMapping: false });

  it('shares frames, counts and page tables with the booted kernel', () => {
    const k = boot();
    const view = createKernel({ arch: x86_64, memory: 16 << 20, layout, attach: k.sharedState(1) });
    expect(view.nrBootFrames).toBe(k.nrBootFrames);
    expect(view.frames.nrFree).toBe(k.frames.nrFree);
    const table = k.newUserPageTable();
    const pfn = view.frames.alloc(FrameType.Untyped);
    expect(k.frames.refCount(pfn)).toBe(1);
    expect(k.frames.nrInUseByType[FrameType.Untyped]).toBe(1);
    const vt = PageTable.attach(view.ctx, table.rootPfn, false);
    const c = vt.cursorMut(0x4000_0000, 0x4000_1000);
    c.map(pfn, PROP_RW | PROP_USER);
    c.drop();
    view.frames.put(pfn);
    view.memory.write(pfn, 0, new Uint8Array([7]));
    expect(k.memory.read(pfn, 0, 1)[0]).toBe(7);
    const q = table.cursor(0x4000_0000, 0x4000_1000);
    expect(q.query()).toBe(QUERY_MAPPED);
    expect(q.qPfn).toBe(pfn);
    q.drop();
    // Frames a view has cached are taken for the other views (and for their check()) until
    // it flushes, as a worker does before it ends.
    view.frames.flushCaches();
    expect(k.check()).toEqual([]);
    k.destroyUserPageTable(table);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    k.frames.flushCaches();
    expect(view.frames.nrInUse).toBe(k.nrBootFrames);
    expect(k.memory.nrBackedFrames).toBe(view.memory.nrBackedFrames);
  });

  it.each([
    ['UP mode', false],
    ['SMP mode', true],
  ])('keeps the typed errors of bad reference counts, changing nothing (%s)', (_mode, smp) => {
    const k = boot();
    if (smp) k.sharedState(1);
    expect(k.smp).toBe(smp);
    const pfn = k.frames.alloc();
    k.frames.put(pfn);
    expect(() => k.frames.incRef(pfn)).toThrow(/BadFrameState/);
    expect(() => k.frames.decRef(pfn)).toThrow(/BadFrameState/);
    const other = k.frames.alloc();
    k.frames.put(other);
    expect(() => k.frames.put(other)).toThrow(/BadFrameState/);
    expect(k.frames.isInUse(pfn)).toBe(false);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('refuses views that cannot share', () => {
    const k = boot();
    expect(() => createKernel({ arch: x86_64, memory: 32 << 20, layout, attach: k.sharedState() })).toThrow(
      /InvalidConfig/,
    );
    expect(() =>
      createKernel({ arch: x86_64, memory: 16 << 20, layout: 'object', attach: k.sharedState() }),
    ).toThrow(/InvalidConfig/);
    const priv = createKernel({ arch: x86_64, memory: 16 << 20, layout, linearMapping: false });
    expect(() => priv.sharedState()).toThrow(/not on thread-safe shared memory/);
  });
});

it('shares only the lock words with the object layout, and refuses to be attached', () => {
  const k = createKernel({
    arch: x86_64,
    memory: 16 << 20,
    layout: 'object',
    sharedMemory: true,
    linearMapping: false,
  });
  expect(() => k.sharedState()).toThrow(/not on thread-safe shared memory/);
  expect(k.check()).toEqual([]);
});
