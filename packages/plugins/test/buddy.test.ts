import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { x86_64 } from '@mmkit/arch-x86_64';
import { FrameAllocatorToken, parseOp, Replayer } from '@mmkit/core';
import {
  BuddyAllocator,
  buddy,
  cow,
  type PageCachePlugin,
  pageCache,
  pageTableRecycling,
} from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { ARCHS, expectClean, testKernel } from '../../core/test/support/configs.ts';

const TRACES_DIR = join(import.meta.dirname, '..', '..', 'core', 'test', 'fixtures', 'traces');
const TRACES = readdirSync(TRACES_DIR)
  .filter((f) => f.endsWith('.trace.jsonl'))
  .map((f) => f.slice(0, -'.trace.jsonl'.length))
  .sort();

describe('buddy plugin', () => {
  it('replaces the frame allocator service of the kernel', () => {
    const k = testKernel({ arch: x86_64 }, { plugins: [buddy()] });
    expect(k.container.resolve(FrameAllocatorToken)).toBeInstanceOf(BuddyAllocator);
    const a = k.frames.alloc();
    const huge = k.frames.allocContiguous(512, 512);
    expect(huge % 512).toBe(0);
    expectClean(k);
    k.frames.put(a);
    for (let p = huge; p < huge + 512; p++) k.frames.put(p);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expectClean(k);
  });

  it('adds its free-list invariants to kernel.check()', () => {
    const k = testKernel({ arch: x86_64 }, { plugins: [buddy()] });
    const allocator = k.container.resolve<BuddyAllocator>(FrameAllocatorToken);
    // A free list entry pointing at itself: a corruption only the buddy's check can see.
    const next = (allocator as unknown as { next: Int32Array; heads: Int32Array }).next;
    const heads = (allocator as unknown as { heads: Int32Array }).heads;
    const order = heads.findIndex((h) => h >= 0);
    next[heads[order]] = heads[order];
    expect(k.check().some((v) => v.kind === 'buddy-free-lists')).toBe(true);
  });

  describe.each(ARCHS)('replays every sample with cow, recycle, pagecache and buddy on $name', ({ arch }) => {
    it.each(TRACES)("%s gives Linux's results, invariants hold, no leak", (name) => {
      const lines = readFileSync(join(TRACES_DIR, `${name}.trace.jsonl`), 'utf8')
        .trimEnd()
        .split('\n');
      const r = new Replayer(lines[0], {
        arch,
        memory: 32 << 20,
        plugins: [cow(), pageTableRecycling(), pageCache(), buddy()],
      });
      const out = [r.headerResult()];
      for (let i = 1; i < lines.length; i++) out.push(r.step(parseOp(lines[i], i + 1, r.header), i + 1));
      expect(r.check()).toEqual([]);
      for (const p of r.sys.procs.live) r.sys.exit(p.pid);
      r.kernel.plugins.get<PageCachePlugin>('pagecache')!.unlinkAll();
      expect(r.kernel.frames.nrInUse).toBe(r.kernel.nrBootFrames);
      expectClean(r.kernel);
      const want = readFileSync(join(TRACES_DIR, `${name}.expected.jsonl`), 'utf8')
        .trimEnd()
        .split('\n');
      expect(out).toEqual(want);
    });
  });
});
