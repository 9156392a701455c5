import { x86_64 } from '@mmkit/arch-x86_64';
import {
  FrameType,
  LAYOUT_NAMES,
  MmError,
  PhysMemory,
  PROP_RW,
  PROP_USER,
  QUERY_MAPPED,
  REF_COUNT_MAX,
  REF_COUNT_UNUSED,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, testKernel } from '../support/configs.ts';

describe.each(LAYOUT_NAMES)('frame allocator on %s', (layout) => {
  it('hands out distinct frames and reuses freed ones first', () => {
    const k = testKernel({ arch: x86_64, layout });
    const a = k.frames.alloc();
    const b = k.frames.alloc();
    expect(a).not.toBe(b);
    k.frames.put(a);
    expect(k.frames.alloc()).toBe(a);
  });

  it('reports exhaustion as a typed error and recovers after frees', () => {
    const k = testKernel({ arch: x86_64, layout }, { memory: 4 << 20, linearMapping: false });
    const taken: number[] = [];
    for (;;) {
      try {
        taken.push(k.frames.alloc());
      } catch (e) {
        expect(e).toBeInstanceOf(MmError);
        expect((e as MmError).code).toBe('OutOfFrames');
        break;
      }
    }
    expect(k.frames.nrFree).toBe(0);
    expect(taken.length).toBe(1024 - k.nrBootFrames);
    k.frames.put(taken[3]);
    expect(k.frames.alloc()).toBe(taken[3]);
    for (const pfn of taken) k.frames.put(pfn);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expectClean(k);
  });

  it('allocates contiguous aligned segments', () => {
    const k = testKernel({ arch: x86_64, layout });
    k.frames.alloc();
    const first = k.frames.allocContiguous(512, 512);
    expect(first % 512).toBe(0);
    for (let p = first; p < first + 512; p++) expect(k.frames.refCount(p)).toBe(1);
    const other = k.frames.allocContiguous(3, 4);
    expect(other % 4).toBe(0);
    expect(other >= first + 512 || other + 3 <= first).toBe(true);
    expect(() => k.frames.allocContiguous(1 << 20, 1)).toThrow(/OutOfFrames/);
    expect(() => k.frames.allocContiguous(4, 3)).toThrow(/InvalidArgument/);
  });
});

describe.each(LAYOUT_NAMES)('reference counts on %s', (layout) => {
  it('follows the unused / in use states of the metadata slot', () => {
    const k = testKernel({ arch: x86_64, layout });
    const pfn = k.frames.alloc();
    expect(k.frames.refCount(pfn)).toBe(1);
    k.frames.get(pfn);
    expect(k.frames.refCount(pfn)).toBe(2);
    k.frames.put(pfn);
    k.frames.put(pfn);
    expect(k.frames.refCount(pfn)).toBe(REF_COUNT_UNUSED);
    expect(() => k.frames.put(pfn)).toThrow(/BadFrameState/);
    expect(() => k.frames.get(pfn)).toThrow(/BadFrameState/);
  });

  it('never crosses the ceiling', () => {
    const k = testKernel({ arch: x86_64, layout });
    const pfn = k.frames.alloc();
    k.meta.setRefCount(pfn, REF_COUNT_MAX);
    expect(() => k.frames.incRef(pfn)).toThrow(/RefCountOverflow/);
    expect(k.frames.refCount(pfn)).toBe(REF_COUNT_MAX);
  });

  it('runs the drop hook with count 0 before the frame returns to the allocator', () => {
    const k = testKernel({ arch: x86_64, layout });
    const seen: { count: number; free: boolean }[] = [];
    k.frames.setDropHook(FrameType.Kernel, (pfn) => {
      seen.push({ count: k.frames.refCount(pfn), free: k.frames.allocator.isFree(pfn) });
    });
    const pfn = k.frames.alloc(FrameType.Kernel);
    k.frames.put(pfn);
    expect(seen).toEqual([{ count: 0, free: false }]);
    expect(k.frames.allocator.isFree(pfn)).toBe(true);
  });

  it('counts frames in use per type', () => {
    const k = testKernel({ arch: x86_64, layout });
    const before = k.frames.usageByType().untyped;
    const a = k.frames.alloc();
    expect(k.frames.usageByType().untyped).toBe(before + 1);
    k.frames.put(a);
    expect(k.frames.usageByType().untyped).toBe(before);
  });
});

describe('simulated frame contents', () => {
  it('reads zeros from a never-written frame without spending memory', () => {
    const mem = new PhysMemory(1024);
    expect(mem.read(7, 0, 16)).toEqual(new Uint8Array(16));
    expect(mem.nrBackedFrames).toBe(0);
    mem.write(7, 100, Uint8Array.of(1, 2, 3));
    expect(mem.nrBackedFrames).toBe(1);
    expect(Array.from(mem.read(7, 99, 5))).toEqual([0, 1, 2, 3, 0]);
  });

  it.each([
    { what: 'short', len: 5 },
    { what: 'long', len: 300 },
  ])('reads into and writes from the caller’s arrays at an index ($what copy)', ({ len }) => {
    const mem = new PhysMemory(1024);
    const src = Uint8Array.from({ length: len + 4 }, (_, i) => (i * 7 + 1) & 0xff);
    const out = new Uint8Array(len + 6).fill(0xee);
    mem.readInto(3, 10, len, out, 2);
    expect(Array.from(out)).toEqual([0xee, 0xee, ...new Array(len).fill(0), 0xee, 0xee, 0xee, 0xee]);
    expect(mem.nrBackedFrames).toBe(0);
    mem.writeFrom(3, 10, src, 4, len);
    expect(mem.read(3, 10, len)).toEqual(src.subarray(4, 4 + len));
    expect(mem.read(3, 9, 1)[0]).toBe(0);
    expect(mem.read(3, 10 + len, 1)[0]).toBe(0);
    mem.readInto(3, 10, len, out, 1);
    expect(out.subarray(1, 1 + len)).toEqual(src.subarray(4, 4 + len));
    expect(out[0]).toBe(0xee);
    expect(() => mem.readInto(3, 4090, 10, out, 0)).toThrow(/outside a 4 KiB frame/);
    expect(() => mem.writeFrom(3, 4090, src, 0, 10)).toThrow(/outside a 4 KiB frame/);
  });

  it('copies and forgets contents', () => {
    const mem = new PhysMemory(1024);
    mem.write(1, 4095, Uint8Array.of(9));
    mem.copyFrame(1, 2);
    expect(mem.read(2, 4095, 1)[0]).toBe(9);
    mem.release(1);
    expect(mem.read(1, 4095, 1)[0]).toBe(0);
    mem.copyFrame(1, 2);
    expect(mem.isBacked(2)).toBe(false);
    expect(() => mem.read(1, 4090, 10)).toThrow(/outside a 4 KiB frame/);
  });

  it.each([false, true])('populateHost leaves every frame as it was (shared: %s)', (shared) => {
    const mem = new PhysMemory(600, { shared });
    mem.write(0, 0, Uint8Array.of(1, 2, 3));
    mem.write(599, 4092, Uint8Array.of(0xff, 0xfe, 0xfd, 0xfc));
    const backed = mem.nrBackedFrames;
    mem.populateHost();
    expect(Array.from(mem.read(0, 0, 4))).toEqual([1, 2, 3, 0]);
    expect(Array.from(mem.read(599, 4092, 4))).toEqual([0xff, 0xfe, 0xfd, 0xfc]);
    expect(mem.read(300, 0, 4096)).toEqual(new Uint8Array(4096));
    expect(mem.nrBackedFrames).toBe(backed);
    expect(mem.isBacked(300)).toBe(false);
  });

  it('populateHost keeps a booted shared kernel intact', () => {
    const k = testKernel({ arch: x86_64 }, { sharedMemory: true });
    const t = k.newUserPageTable();
    const c = t.cursorMut(0x4000_0000, 0x4000_2000);
    const pfn = k.frames.alloc(FrameType.Untyped);
    c.mapFresh(pfn, PROP_RW | PROP_USER);
    c.drop();
    k.memory.populateHost();
    const q = t.cursor(0x4000_0000, 0x4000_1000);
    expect(q.query()).toBe(QUERY_MAPPED);
    expect(q.qPfn).toBe(pfn);
    q.drop();
    expect(k.check()).toEqual([]);
  });

  it('frees the contents of a frame with the frame', () => {
    const k = testKernel({ arch: x86_64 });
    const pfn = k.frames.alloc();
    k.memory.write(pfn, 0, Uint8Array.of(42));
    k.frames.put(pfn);
    const again = k.frames.alloc();
    expect(again).toBe(pfn);
    expect(k.memory.read(again, 0, 1)[0]).toBe(0);
  });
});

describe.each(LAYOUT_NAMES)('boot on %s', (layout) => {
  it('boots 16 GiB (4M frames) with metadata pages reserved', () => {
    const k = testKernel({ arch: x86_64, layout }, { memory: 16 * 2 ** 30, debug: false });
    expect(k.frames.nrFrames).toBe(4 * 1024 * 1024);
    expect(k.frames.usageByType()['meta-page']).toBe(
      Math.ceil((4 * 1024 * 1024 * k.meta.bytesPerEntity) / 4096),
    );
    // soa's budget is 32 bytes per frame; aos spends Asterinas's 64-byte slot.
    if (layout === 'soa') expect(k.meta.bytesPerEntity).toBeLessThanOrEqual(32);
    if (layout === 'aos') expect(k.meta.bytesPerEntity).toBe(64);
  });

  it('can keep the metadata columns on a SharedArrayBuffer', () => {
    const k = testKernel({ arch: x86_64, layout }, { sharedMemory: true });
    expect(k.meta.lockArray.buffer).toBeInstanceOf(SharedArrayBuffer);
    const pfn = k.frames.alloc();
    expect(k.frames.refCount(pfn)).toBe(1);
    k.frames.put(pfn);
    expectClean(k);
  });

  it('rejects bad memory sizes with a typed error', () => {
    expect(() => testKernel({ arch: x86_64, layout }, { memory: 12345 })).toThrow(/InvalidConfig/);
    expect(() => testKernel({ arch: x86_64, layout }, { memory: -4096 })).toThrow(/InvalidConfig/);
    expect(() => testKernel({ arch: x86_64, layout }, { layout: 'nope' })).toThrow(/unknown layout/);
  });
});
