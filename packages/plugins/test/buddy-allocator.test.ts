import { MmError } from '@mmkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUDDY_MAX_ORDER, BuddyAllocator } from '../src/buddy/buddy-allocator.ts';

describe('buddy allocator', () => {
  it('starts with memory as the largest aligned blocks', () => {
    const b = new BuddyAllocator(3000);
    // 3000 = 2×1024 + 512 + 256 + 128 + 32 + 16 + 8
    const perOrder = b.freeBlocksPerOrder();
    expect(perOrder[BUDDY_MAX_ORDER]).toBe(2);
    expect(perOrder[9]).toBe(1);
    expect(perOrder[8]).toBe(1);
    expect(perOrder[7]).toBe(1);
    expect(perOrder[5]).toBe(1);
    expect(perOrder[4]).toBe(1);
    expect(perOrder[3]).toBe(1);
    expect(b.nrFree).toBe(3000);
    expect(b.check()).toEqual([]);
  });

  it('splits a block for a single frame and merges it back on free', () => {
    const b = new BuddyAllocator(1024);
    const pfn = b.alloc();
    expect(pfn).toBe(0);
    // One block of each order 0..9 is left: the halves of every split.
    expect(b.freeBlocksPerOrder()).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    expect(b.nrSplits).toBe(10);
    expect(b.check()).toEqual([]);
    b.dealloc(pfn);
    expect(b.freeBlocksPerOrder()).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(b.nrMerges).toBe(10);
    expect(b.check()).toEqual([]);
  });

  it('gives the most recently freed frame back first', () => {
    const b = new BuddyAllocator(64);
    const frames = [b.alloc(), b.alloc(), b.alloc(), b.alloc()];
    expect(frames).toEqual([0, 1, 2, 3]);
    b.dealloc(1);
    expect(b.alloc()).toBe(1);
  });

  it('allocates 2 MiB blocks aligned to their size and gives the unused tail of a block back', () => {
    const b = new BuddyAllocator(4096);
    b.alloc();
    const huge = b.allocContiguous(512, 512);
    expect(huge % 512).toBe(0);
    const odd = b.allocContiguous(3, 1);
    // A 3-frame request takes a 4-frame block and frees its fourth frame.
    expect(b.isFree(odd + 3)).toBe(true);
    for (let p = odd; p < odd + 3; p++) expect(b.isFree(p)).toBe(false);
    expect(b.nrFree).toBe(4096 - 1 - 512 - 3);
    expect(b.check()).toEqual([]);
  });

  it('carves runs larger than the largest block from the bitmap', () => {
    const b = new BuddyAllocator(5000);
    // 5000 frames end in an order-3 block: the single frame comes from there.
    const first = b.alloc();
    expect(first).toBe(4992);
    const run = b.allocContiguous(2100, 1);
    expect(run).toBe(0);
    for (let p = run; p < run + 2100; p++) expect(b.isFree(p)).toBe(false);
    expect(b.nrFree).toBe(5000 - 2101);
    expect(b.check()).toEqual([]);
    for (let p = run; p < run + 2100; p++) b.dealloc(p);
    b.dealloc(first);
    expect(b.nrFree).toBe(5000);
    expect(b.check()).toEqual([]);
    expect(b.freeBlocksPerOrder()[BUDDY_MAX_ORDER]).toBe(4);
  });

  it('reports exhaustion, double frees and bad requests as typed errors', () => {
    const b = new BuddyAllocator(8);
    for (let i = 0; i < 8; i++) b.alloc();
    expect(() => b.alloc()).toThrow(MmError);
    expect(() => b.alloc()).toThrow(/OutOfFrames/);
    expect(() => b.allocContiguous(2, 2)).toThrow(/OutOfFrames/);
    b.dealloc(5);
    expect(() => b.dealloc(5)).toThrow(/freed twice/);
    expect(() => b.dealloc(-1)).toThrow(/not a frame/);
    expect(() => b.dealloc(8)).toThrow(/not a frame/);
    expect(() => b.allocContiguous(4, 3)).toThrow(/InvalidArgument/);
    expect(() => b.allocContiguous(0, 1)).toThrow(/InvalidArgument/);
    expect(b.check()).toEqual([]);
  });

  it('check() catches a corrupted free list', () => {
    const b = new BuddyAllocator(64);
    const pfn = b.alloc();
    // Mark a frame of a free block taken behind the allocator's back.
    const taken = (b as unknown as { taken: Uint32Array }).taken;
    taken[40 >>> 5] |= 1 << (40 & 31);
    const v = b.check();
    expect(v.some((m) => /taken but lies in free block/.test(m))).toBe(true);
    expect(pfn).toBe(0);
  });

  it('agrees with a model of taken frames over random alloc/free sequences', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('alloc' as const) }),
      fc.record({
        kind: fc.constant('contig' as const),
        count: fc.integer({ min: 1, max: 600 }),
        alignLog: fc.integer({ min: 0, max: 10 }),
      }),
      fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.array(op, { maxLength: 50 }), (nrFrames, ops) => {
        const b = new BuddyAllocator(nrFrames);
        const taken = new Set<number>();
        for (const o of ops) {
          if (o.kind === 'free') {
            if (taken.size === 0) continue;
            const list = [...taken];
            const pfn = list[o.pick % list.length];
            b.dealloc(pfn);
            taken.delete(pfn);
          } else {
            const count = o.kind === 'alloc' ? 1 : o.count;
            const align = o.kind === 'alloc' ? 1 : 1 << o.alignLog;
            let start: number;
            try {
              start = o.kind === 'alloc' ? b.alloc() : b.allocContiguous(count, align);
            } catch (e) {
              expect((e as MmError).code).toBe('OutOfFrames');
              // It really did not fit: no free aligned run of that length exists.
              for (let s = 0; s + count <= nrFrames; s += align) {
                let free = true;
                for (let p = s; p < s + count && free; p++) free = !taken.has(p);
                expect(free).toBe(false);
              }
              continue;
            }
            expect(start % align).toBe(0);
            for (let p = start; p < start + count; p++) {
              expect(taken.has(p)).toBe(false);
              taken.add(p);
            }
          }
          expect(b.nrFree).toBe(nrFrames - taken.size);
          expect(b.check()).toEqual([]);
        }
        for (let p = 0; p < nrFrames; p++) expect(b.isFree(p)).toBe(!taken.has(p));
      }),
      { numRuns: 60 },
    );
  });
});
