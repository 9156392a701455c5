import {
  createKernel,
  type ForkStrategy,
  ForkStrategyToken,
  type KernelPlugin,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  type Vmar,
} from '@mmkit/core';
import { type PageTableContext, PageTableContextToken } from '@mmkit/core/internal';
import { cow, cowCopyPt } from '@mmkit/plugins';
import { inject, injectable } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { ARCHS, expectClean } from '../../core/test/support/configs.ts';

const PAGE = 4096;

/**
 * A copy-on-write fork that forgets the parent's TLB flush: the parent's PTEs lose W, but
 * its TLB still holds writable entries, so the parent's next store would go to the frame
 * it now shares with the child. The `cow` plugin without its flush.
 */
@injectable()
class ForgetfulCow implements KernelPlugin, ForkStrategy {
  readonly name = 'forgetful-cow';
  constructor(@inject(PageTableContextToken) private readonly ctx: PageTableContext) {}
  fork(parent: Vmar, child: Vmar): void {
    for (const id of parent.mappings.values()) {
      child.adoptMapping(parent, id);
      const m = parent.view(id);
      const src = parent.space.cursorMut(m.start, m.end);
      const dst = child.space.cursorMut(m.start, m.end);
      try {
        child.addRss(m.rssType, cowCopyPt(this.ctx, src, dst, m.end - m.start));
      } finally {
        dst.drop();
        src.drop();
      }
    }
  }
}

/** Forks a process that wrote 4 pages (all cached in its TLB), then lets the parent write again. */
function forkAndWrite(plugin: 'cow' | 'forgetful', arch: (typeof ARCHS)[number]['arch']) {
  const spec =
    plugin === 'cow'
      ? cow()
      : { name: 'forgetful-cow', pluginClass: ForgetfulCow, provides: [ForkStrategyToken] };
  const k = createKernel({ arch, memory: 32 << 20, plugins: [spec] });
  const sys = new LinuxSyscalls(k);
  const p = sys.spawn();
  const a = sys.mmap(p, 0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < 4; i++) expect(sys.writeMemory(p, a + i * PAGE, Uint8Array.of(i + 1))).toBe(0);
  const child = sys.fork(p);
  const afterFork = k.check().map((v) => v.kind);
  expect(sys.writeMemory(p, a, Uint8Array.of(9))).toBe(0);
  return { k, sys, p, child, a, afterFork };
}

describe.each(ARCHS)('a plugin that forgets its TLB flush, on $name', ({ arch }) => {
  it('is caught by kernel.check(): stale writable entries after the fork, a stale hit on the write', () => {
    const { k, afterFork } = forkAndWrite('forgetful', arch);
    expect(afterFork).toEqual(['tlb-stale-entry', 'tlb-stale-entry', 'tlb-stale-entry', 'tlb-stale-entry']);
    const v = k.check();
    expect(v[0].kind).toBe('tlb-stale-hit');
    expect(v[0].message).toMatch(/grants rights 0x2 the PTE no longer has: a flush is missing/);
    expect(k.tlb.nrStaleHits).toBe(1);
  });

  it('while the cow plugin, which flushes, runs clean and still gives each process its data', () => {
    const { k, sys, p, child, a, afterFork } = forkAndWrite('cow', arch);
    expect(afterFork).toEqual([]);
    const seen = new Uint8Array(1);
    sys.readMemory(child, a, seen);
    expect(seen[0]).toBe(1);
    sys.readMemory(p, a, seen);
    expect(seen[0]).toBe(9);
    expect(k.tlb.nrStaleHits).toBe(0);
    expectClean(k);
  });
});
