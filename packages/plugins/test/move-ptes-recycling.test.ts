import { type Kernel, PROP_RW, PROP_USER } from '@mmkit/core';
import { movePtes } from '@mmkit/core/internal';
import { pageTableRecycling } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../../core/test/support/configs.ts';

const PAGE = 4096;
/** 2 MiB below 1 GiB: the range crosses a 1 GiB boundary. */
const BASE = 0x4000_0000 - 0x20_0000;
const NR_PAGES = 3000;

function userNodes(k: Kernel): number {
  return k.frames.usageByType()['page-table'];
}

describe.each(PROTOCOL_CONFIGS)('movePtes with page-table recycling on $name', (config) => {
  // Aligned to 2 MiB (whole leaf nodes relinked) and one page off it (entries moved).
  it.each([
    ['aligned', 0x1_0000_0000],
    ['unaligned', 0x1_0000_0000 + PAGE],
  ])('frees the source nodes a move empties (%s destination)', (_, dst) => {
    const k = testKernel(config, { plugins: [pageTableRecycling()] });
    const pt = k.newUserPageTable();
    const nodesBefore = userNodes(k);
    const len = NR_PAGES * PAGE;
    const m = pt.cursorMut(BASE, BASE + len);
    for (let i = 0; i < NR_PAGES; i++) {
      const f = k.frames.alloc();
      m.map(f, PROP_RW | PROP_USER);
      k.frames.put(f);
    }
    m.drop();
    const c = pt.cursorMut(BASE, dst + len);
    expect(movePtes(c, BASE, dst, len)).toBe(NR_PAGES);
    c.drop();
    expectClean(k);
    // Unmapping the destination frees its nodes; the source's went during the move.
    const u = pt.cursorMut(dst, dst + len);
    expect(u.unmap(len)).toBe(NR_PAGES);
    u.drop();
    expect(userNodes(k)).toBe(nodesBefore);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expectClean(k);
  });
});
