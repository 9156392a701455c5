import { x86_64 } from '@mmkit/arch-x86_64';
import { describe, expect, it } from 'vitest';
import { FRAME_CACHE_BATCH, FrameAllocator } from '../../src/frame/allocator.ts';
import { NR_FRAME_TYPES } from '../../src/frame/frame-type.ts';
import { IN_USE_ROW_STRIDE } from '../../src/frame/frames.ts';
import { createKernel, FrameType } from '../../src/index.ts';

/**
 * Shared memory: each view takes single frames from a cache of its own, refilled from the
 * shared bitmap a batch at a time, and keeps its per-type counts in a row of its own.
 */
describe('the per-view frame cache of the shared bitmap allocator', () => {
  it('counts cached frames as free, refuses double frees and gives frames back on flush', () => {
    const a = new FrameAllocator(1000, { shared: true });
    const taken = Array.from({ length: 10 }, () => a.alloc());
    expect(new Set(taken).size).toBe(10);
    // Lowest first from a fresh bitmap.
    expect(taken).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.nrFree).toBe(990);
    a.dealloc(taken[3]);
    expect(a.isFree(taken[3])).toBe(true);
    expect(a.nrFree).toBe(991);
    expect(() => a.dealloc(taken[3])).toThrow(/BadFrameState/);
    expect(() => a.dealloc(500)).toThrow(/BadFrameState/);
    // The cache hands back the frame freed last.
    expect(a.alloc()).toBe(taken[3]);
    for (const pfn of taken) a.dealloc(pfn);
    a.flush();
    expect(a.nrFree).toBe(1000);
    // Everything went back to the bitmap: another view sees all frames free.
    const other = new FrameAllocator(1000, { attach: a.buffers() });
    expect(other.nrFree).toBe(1000);
  });

  it('never hands the same frame to two views, and bounds each cache', () => {
    const a = new FrameAllocator(4 * FRAME_CACHE_BATCH, { shared: true });
    const b = new FrameAllocator(4 * FRAME_CACHE_BATCH, { attach: a.buffers() });
    const seen = new Set<number>();
    for (let i = 0; i < 2 * FRAME_CACHE_BATCH; i++) {
      for (const v of [a, b]) {
        const pfn = v.alloc();
        expect(seen.has(pfn)).toBe(false);
        seen.add(pfn);
      }
    }
    expect(() => a.alloc()).toThrow(/OutOfFrames/);
    // Frees past twice the batch go back to the bitmap, where the other view finds them.
    for (const pfn of [...seen].slice(0, 3 * FRAME_CACHE_BATCH)) a.dealloc(pfn);
    expect(b.nrFree).toBe(FRAME_CACHE_BATCH);
    expect(b.alloc()).toBeGreaterThanOrEqual(0);
  });

  it('keeps every frame once across two views under random allocations and frees (model check)', () => {
    const nrFrames = 1000; // not a multiple of 32: the last word has frames past the end
    const a = new FrameAllocator(nrFrames, { shared: true });
    const b = new FrameAllocator(nrFrames, { attach: a.buffers() });
    const views = [a, b];
    const held: number[] = [];
    const taken = new Set<number>();
    let x = 12345;
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
      return x;
    };
    for (let step = 0; step < 6000; step++) {
      const v = views[next() % 2];
      // Allocate more than free while few frames are held, then drain.
      if (
        held.length === 0 ||
        (next() % 100 < (held.length < 900 ? 60 : 30) && held.length < nrFrames - 300)
      ) {
        const pfn = v.alloc();
        expect(pfn).toBeLessThan(nrFrames);
        expect(taken.has(pfn)).toBe(false);
        expect(v.isFree(pfn)).toBe(false);
        taken.add(pfn);
        held.push(pfn);
      } else {
        // Any view may free a frame any view allocated.
        const i = next() % held.length;
        const pfn = held[i];
        held[i] = held[held.length - 1];
        held.pop();
        taken.delete(pfn);
        v.dealloc(pfn);
        expect(v.isFree(pfn)).toBe(true);
        expect(() => v.dealloc(pfn)).toThrow(/BadFrameState/);
      }
    }
    for (const v of views) v.flush();
    expect(a.nrFree).toBe(nrFrames - held.length);
    expect(b.nrFree).toBe(nrFrames - held.length);
    for (let pfn = 0; pfn < nrFrames; pfn++) expect(a.isFree(pfn)).toBe(!taken.has(pfn));
    for (const pfn of held) a.dealloc(pfn);
    a.flush();
    expect(new FrameAllocator(nrFrames, { attach: a.buffers() }).nrFree).toBe(nrFrames);
  });

  it('leaves frames a view has cached free for check(), and flushes before contiguous runs', () => {
    const k = createKernel({ arch: x86_64, memory: 16 << 20, sharedMemory: true, linearMapping: false });
    const pfn = k.frames.alloc(FrameType.Untyped);
    k.frames.put(pfn);
    expect(k.frames.allocator.isFree(pfn)).toBe(true);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    const run = k.frames.allocContiguous(8, 8);
    for (let p = run; p < run + 8; p++) k.frames.put(p);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('sums the per-type counts of every view', () => {
    const k = createKernel({ arch: x86_64, memory: 16 << 20, sharedMemory: true, linearMapping: false });
    const view = createKernel({ arch: x86_64, memory: 16 << 20, attach: k.sharedState(1) });
    const before = k.frames.usageByType().untyped;
    const a = k.frames.alloc(FrameType.Untyped);
    const b = view.frames.alloc(FrameType.Untyped);
    expect(k.frames.usageByType().untyped).toBe(before + 2);
    expect(view.frames.nrInUseByType[FrameType.Untyped]).toBe(before + 2);
    // Freed by the other view than the one that allocated it: the sum stays exact.
    view.frames.put(a);
    k.frames.put(b);
    expect(k.frames.usageByType().untyped).toBe(before);
    view.frames.flushCaches();
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it("keeps each view's row of the per-type counts 128 bytes from the next (no shared cache line)", () => {
    const k = createKernel({ arch: x86_64, memory: 16 << 20, sharedMemory: true, linearMapping: false });
    const state = k.sharedState(2);
    const view = createKernel({ arch: x86_64, memory: 16 << 20, attach: state });
    const rows = new Int32Array(state.inUseByType);
    expect(IN_USE_ROW_STRIDE * 4).toBe(128);
    expect(IN_USE_ROW_STRIDE).toBeGreaterThanOrEqual(NR_FRAME_TYPES);
    const own = () => rows[2 * IN_USE_ROW_STRIDE + FrameType.Untyped];
    const pfn = view.frames.alloc(FrameType.Untyped);
    expect(own()).toBe(1);
    // Only the view's own row changed: every word outside it is as the boot left it.
    const outside = [...rows].filter((_, i) => i < 2 * IN_USE_ROW_STRIDE || i >= 3 * IN_USE_ROW_STRIDE);
    view.frames.put(pfn);
    expect(own()).toBe(0);
    expect([...rows].filter((_, i) => i < 2 * IN_USE_ROW_STRIDE || i >= 3 * IN_USE_ROW_STRIDE)).toEqual(
      outside,
    );
    view.frames.flushCaches();
    expect(k.check()).toEqual([]);
  });
});
