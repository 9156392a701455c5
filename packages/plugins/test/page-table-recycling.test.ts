import { FrameType, type Kernel, nodesPerLevel, PROP_RW, PROP_USER } from '@mmkit/core';
import { pageTableRecycling } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../../core/test/support/configs.ts';

const PAGE = 4096;
const BASE = 0x4000_0000 - 0x20_0000;
const NR_PAGES = 3000;

function mapRegion(k: Kernel, pt: ReturnType<Kernel['newUserPageTable']>): void {
  const c = pt.cursorMut(BASE, BASE + NR_PAGES * PAGE);
  for (let i = 0; i < NR_PAGES; i++) {
    const f = k.frames.alloc();
    c.map(f, PROP_RW | PROP_USER);
    k.frames.put(f);
  }
  c.drop();
}

function userNodes(k: Kernel): number {
  return k.frames.usageByType()['page-table'];
}

describe.each(PROTOCOL_CONFIGS)('page-table recycling on $name', (config) => {
  it('returns the node frames of an unmapped region to the allocator, and keeps them without the plugin', () => {
    for (const recycle of [false, true]) {
      const k = testKernel(config, { plugins: recycle ? [pageTableRecycling()] : [] });
      const pt = k.newUserPageTable();
      const nodesBefore = userNodes(k);
      mapRegion(k, pt);
      const nodesMapped = userNodes(k);
      expect(nodesMapped).toBeGreaterThan(nodesBefore + 3);
      const c = pt.cursorMut(BASE, BASE + NR_PAGES * PAGE);
      expect(c.unmap(NR_PAGES * PAGE)).toBe(NR_PAGES);
      c.drop();
      expectClean(k);
      expect(userNodes(k)).toBe(recycle ? nodesBefore : nodesMapped);
      k.destroyUserPageTable(pt);
      expect(k.frames.nrInUse).toBe(k.nrBootFrames);
      expectClean(k);
    }
  });

  it('cleans up on drop by re-walking from the root to the guard node', () => {
    const k = testKernel(config, { plugins: [pageTableRecycling()] });
    const pt = k.newUserPageTable();
    const va = 0x4000_0000 + 5 * PAGE;
    const before = nodesPerLevel(k);
    const m = pt.cursorMut(va, va + PAGE);
    const f = k.frames.alloc();
    m.map(f, PROP_RW | PROP_USER);
    m.drop();
    k.frames.put(f);
    // A cursor whose guard is the level-1 node: unmapping empties it, and only the drop's
    // re-walk can free it and its now-empty ancestors.
    const c = pt.cursorMut(va, va + PAGE);
    expect(c.guardLevel).toBe(1);
    c.unmap(PAGE);
    c.drop();
    expect(nodesPerLevel(k)).toEqual(before);
    expectClean(k);
  });

  it('marks detached nodes stray before freeing them, and never frees roots or kernel nodes', () => {
    const k = testKernel(config, { plugins: [pageTableRecycling()] });
    const strayAtFree: boolean[] = [];
    k.events.on('frameFree', (pfn, type) => {
      if (type === FrameType.PageTable) strayAtFree.push(k.meta.stray(pfn));
    });
    const pt = k.newUserPageTable();
    mapRegion(k, pt);
    const c = pt.cursorMut(BASE, BASE + NR_PAGES * PAGE);
    c.unmap(NR_PAGES * PAGE);
    c.drop();
    expect(strayAtFree.length).toBeGreaterThan(0);
    expect(strayAtFree.every((s) => s)).toBe(true);
    // Unmapping in the kernel half never frees the shared nodes under the kernel root.
    const kernelNodes = nodesPerLevel(k)[config.arch.consts.nrLevels - 1];
    const kva = k.kernelPageTable.lower + 8 * 2 ** 30;
    const kc = k.kernelPageTable.cursorMut(kva, kva + 4 * PAGE);
    kc.mapPhys(0, 4, PROP_RW);
    kc.jump(kva);
    kc.unmap(4 * PAGE);
    kc.drop();
    expect(nodesPerLevel(k)[config.arch.consts.nrLevels - 1]).toBe(kernelNodes);
    expect(nodesPerLevel(k)[config.arch.consts.nrLevels]).toBe(2);
    expectClean(k);
  });
});
