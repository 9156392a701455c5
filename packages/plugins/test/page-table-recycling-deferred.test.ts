import { x86_64 } from '@mmkit/arch-x86_64';
import {
  createKernel,
  FrameType,
  type Kernel,
  lockProtocol,
  PageTable,
  PROP_RW,
  PROP_USER,
} from '@mmkit/core';
import { allocNode, nodeBase, nodeWords, PTE_TABLE, tryLockNode, unlockNode } from '@mmkit/core/internal';
import { pageTableRecycling } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';

/**
 * The deferred free of recycled nodes under `subtree` (`NodeReclaim`): a node detached by
 * recycling stays a stray `PageTable` frame until no cursor that could have read its
 * address is alive, so that a cursor walking down without locks never locks a node that
 * was freed and reused elsewhere.
 */

const PAGE = 4096;
const VA = 0x4000_0000;
/** Far from `VA` (another level-4 entry): mapping there allocates fresh upper nodes. */
const FAR = 0x80_0000_0000;

function kernel(protocol: string, extra: { sharedMemory?: boolean } = {}): Kernel {
  return createKernel({
    arch: x86_64,
    memory: 16 << 20,
    debug: true,
    linearMapping: false,
    services: { lockProtocol: lockProtocol(protocol) },
    plugins: [pageTableRecycling()],
    ...extra,
  });
}

function mapPage(k: Kernel, pt: PageTable, va: number): void {
  const c = pt.cursorMut(va, va + PAGE);
  const f = k.frames.alloc();
  c.map(f, PROP_RW | PROP_USER);
  k.frames.put(f);
  c.drop();
}

function unmapPage(pt: PageTable, va: number): void {
  const c = pt.cursorMut(va, va + PAGE);
  c.unmap(PAGE);
  c.drop();
}

/** What a `subtree` cursor's creation does before it locks: the walk down without locks. */
function walkWithoutLocks(k: Kernel, pt: PageTable, va: number): number {
  const ctx = k.ctx;
  let node = pt.rootPfn;
  for (let level = ctx.consts.nrLevels; level > 1; level--) {
    const words = nodeWords(ctx, node);
    const at = nodeBase(ctx, node) + 2 * (Math.floor(va / ctx.sizes[level]) & (ctx.consts.nrEntries - 1));
    if (ctx.codec.kind(words[at], words[at + 1], level) !== PTE_TABLE) break;
    node = ctx.codec.pfn(words[at], words[at + 1], level);
  }
  return node;
}

describe('recycling under subtree frees detached nodes after a grace period', () => {
  it('a walker that read a child PTE before the node was recycled finds it stray, not reused', () => {
    const k = kernel('subtree');
    const pt = k.newUserPageTable();
    mapPage(k, pt, VA);
    // A cursor over [VA, VA + PAGE) is created: it enters the read side and walks down
    // without locks to the leaf node; then, before it locks that node, another cursor
    // unmaps the page (recycling the leaf node and its empty ancestors) and a third maps
    // elsewhere, allocating nodes.
    k.ctx.reclaim.enter();
    const leaf = walkWithoutLocks(k, pt, VA);
    expect(k.meta.level(leaf)).toBe(1);
    unmapPage(pt, VA);
    mapPage(k, pt, FAR);
    // Freed at once, the leaf's frame would be the allocator's first pick for those nodes:
    // allocation clears `stray` and the walker would take a node that is now elsewhere.
    expect(k.frames.type(leaf)).toBe(FrameType.PageTable);
    expect(tryLockNode(k.meta, leaf, 1)).toBe(true);
    expect(k.meta.stray(leaf)).toBe(true);
    unlockNode(k.meta, leaf);
    expect(k.ctx.reclaim.nrRetired).toBe(3);
    // Retired nodes are accounted by check(): not leaked, not reachable.
    expect(k.check()).toEqual([]);
    const inUse = k.frames.nrInUse;
    k.ctx.reclaim.leave();
    expect(k.ctx.reclaim.nrRetired).toBe(0);
    expect(k.frames.nrInUse).toBe(inUse - 3);
    expect(k.frames.isInUse(leaf)).toBe(false);
    unmapPage(pt, FAR);
    k.destroyUserPageTable(pt);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('keeps nodes retired while any cursor of the view lives, and frees them at the last drop', () => {
    const k = kernel('subtree');
    const pt = k.newUserPageTable();
    mapPage(k, pt, VA);
    // A cursor whose guard is its own leaf node (not the root, which recycling must lock).
    mapPage(k, pt, FAR);
    const nodes = k.frames.usageByType()['page-table'];
    const other = pt.cursorMut(FAR, FAR + PAGE);
    unmapPage(pt, VA);
    expect(k.ctx.reclaim.nrRetired).toBe(3);
    expect(k.frames.usageByType()['page-table']).toBe(nodes);
    expect(k.check()).toEqual([]);
    other.drop();
    expect(k.ctx.reclaim.nrRetired).toBe(0);
    expect(k.frames.usageByType()['page-table']).toBe(nodes - 3);
    unmapPage(pt, FAR);
    k.destroyUserPageTable(pt);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('waits for the cursors of other views (threads) before freeing, and synchronize drains', () => {
    const k = kernel('subtree', { sharedMemory: true });
    const view = createKernel({
      arch: x86_64,
      memory: 16 << 20,
      debug: true,
      linearMapping: false,
      services: { lockProtocol: lockProtocol('subtree') },
      plugins: [pageTableRecycling()],
      attach: k.sharedState(1),
    });
    const pt = k.newUserPageTable();
    const vt = PageTable.attach(view.ctx, pt.rootPfn, false);
    mapPage(k, pt, VA);
    mapPage(k, pt, FAR);
    // The view's cursor started before the detach: it might have read the nodes' addresses.
    const reader = vt.cursorMut(FAR, FAR + PAGE);
    unmapPage(pt, VA);
    expect(k.ctx.reclaim.nrRetired).toBe(3);
    expect(k.ctx.reclaim.reclaim()).toBe(3);
    expect(() => k.ctx.reclaim.synchronize(20)).toThrow(/CursorBusy/);
    expect(k.check()).toEqual([]);
    // A cursor the view makes after the detach does not hold them back.
    reader.drop();
    const later = vt.cursorMut(FAR, FAR + PAGE);
    k.ctx.reclaim.synchronize();
    expect(k.ctx.reclaim.nrRetired).toBe(0);
    later.drop();
    unmapPage(pt, FAR);
    k.destroyUserPageTable(pt);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('a locked leaf slot (one-page faults) is a reader too: nodes retired meanwhile wait for its unlock', () => {
    const k = kernel('subtree');
    const pt = k.newUserPageTable();
    mapPage(k, pt, VA);
    mapPage(k, pt, FAR);
    const nodes = k.frames.usageByType()['page-table'];
    const slot = pt.leafSlot();
    expect(slot.lock(FAR)).toBe(true);
    unmapPage(pt, VA);
    expect(k.ctx.reclaim.nrRetired).toBe(3);
    expect(k.frames.usageByType()['page-table']).toBe(nodes);
    expect(k.check()).toEqual([]);
    slot.unlock();
    expect(k.ctx.reclaim.nrRetired).toBe(0);
    expect(k.frames.usageByType()['page-table']).toBe(nodes - 3);
    // A slot that finds no leaf node holds no read side afterwards.
    expect(slot.lock(VA)).toBe(false);
    expect(() => k.ctx.reclaim.leave()).toThrow(/InvalidArgument/);
    unmapPage(pt, FAR);
    k.destroyUserPageTable(pt);
    expect(k.check()).toEqual([]);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('refuses a synchronize that would wait for its own view', () => {
    const k = kernel('subtree');
    const pt = k.newUserPageTable();
    const c = pt.cursorMut(VA, VA + PAGE);
    expect(() => k.ctx.reclaim.synchronize()).toThrow(/InvalidArgument/);
    c.drop();
    expect(() => k.ctx.reclaim.leave()).toThrow(/InvalidArgument/);
  });

  it('ends the read side of a cursor that failed with CursorBusy', () => {
    const k = kernel('subtree');
    const pt = k.newUserPageTable();
    mapPage(k, pt, VA);
    const holder = pt.cursorMut(VA, VA + PAGE);
    expect(() => pt.cursorMut(VA, VA + PAGE)).toThrow(/CursorBusy/);
    holder.drop();
    // Only a reader still alive would keep these retired.
    unmapPage(pt, VA);
    expect(k.ctx.reclaim.nrRetired).toBe(0);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it.each(['hoh', 'global'])('frees at once under %s (a node is reached only under its parent lock)', (p) => {
    const k = kernel(p);
    const pt = k.newUserPageTable();
    mapPage(k, pt, VA);
    const nodes = k.frames.usageByType()['page-table'];
    const c = pt.cursorMut(VA, VA + PAGE);
    c.unmap(PAGE);
    c.drop();
    expect(k.ctx.reclaim.nrRetired).toBe(0);
    expect(k.frames.usageByType()['page-table']).toBe(nodes - 3);
    k.destroyUserPageTable(pt);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });

  it('check() reports a stray node in use that is neither reachable nor retired', () => {
    const k = kernel('subtree');
    const node = allocNode(k.ctx, 1);
    k.meta.setStray(node, true);
    expect(k.check().map((v) => v.kind)).toContain('node-stray');
    k.meta.setStray(node, false);
    k.frames.put(node);
    expect(k.check()).toEqual([]);
  });
});
