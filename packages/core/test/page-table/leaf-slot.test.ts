import {
  FrameType,
  type Kernel,
  type KernelPlugin,
  type PageTable,
  PROP_RW,
  PROP_USER,
  PROP_W,
  PTE_ABSENT,
  PTE_LEAF,
  QUERY_MAPPED,
} from '@mmkit/core';
import { lockOwner, tryLockNode, unlockNode } from '@mmkit/core/internal';
import { injectable } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';
import { codeOf } from '../support/errors.ts';

const PAGE = 4096;
const BASE = 0x4000_0000;
const USER_RW = PROP_RW | PROP_USER;
const MIB2 = 2 << 20;
const GIB = 2 ** 30;

/** The page at `va` as the cursor's `query` sees it: [pfn, prop], or null if absent. */
function queried(pt: PageTable, va: number): [number, number] | null {
  const c = pt.cursor(va, va + PAGE);
  const kind = c.query();
  const out: [number, number] | null = kind === QUERY_MAPPED ? [c.qPfn, c.qProp] : null;
  c.drop();
  return out;
}

/** Maps a fresh frame at `va` with a cursor (creating the leaf node); returns the frame. */
function mapFresh(k: Kernel, pt: PageTable, va: number): number {
  const pfn = k.frames.alloc();
  const c = pt.cursorMut(va, va + PAGE);
  c.map(pfn, USER_RW);
  c.drop();
  k.frames.put(pfn);
  return pfn;
}

/** Whether no page-table node of the kernel is locked. */
function noLockHeld(k: Kernel): boolean {
  for (let pfn = 0; pfn < k.frames.nrFrames; pfn++)
    if (k.frames.type(pfn) === FrameType.PageTable && lockOwner(k.meta, pfn) !== 0) return false;
  return true;
}

describe.each(PROTOCOL_CONFIGS)('LeafSlot on $name', (config) => {
  it('locks only a page whose leaf node exists, holding nothing otherwise', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const slot = pt.leafSlot();
    expect(slot.lock(BASE)).toBe(false);
    expect(slot.isLocked).toBe(false);
    expect(noLockHeld(k)).toBe(true);
    mapFresh(k, pt, BASE);
    // The neighbour shares the leaf node: lockable, absent.
    expect(slot.lock(BASE + PAGE)).toBe(true);
    expect(slot.kind()).toBe(PTE_ABSENT);
    expect(noLockHeld(k)).toBe(false);
    slot.unlock();
    expect(noLockHeld(k)).toBe(true);
    expectClean(k);
  });

  it('tells an absent entry on the way from a huge leaf when the page has no leaf node', () => {
    const k = testKernel(config, { linearMapping: false });
    const pt = k.kernelPageTable;
    const base = pt.lower + 64 * GIB;
    const slot = pt.leafSlot();
    expect(slot.lock(base)).toBe(false);
    expect(slot.walkMetAbsent).toBe(true);
    const c = pt.cursorMut(base, base + MIB2);
    c.mapPhys(512, 512, PROP_RW);
    c.drop();
    expect(slot.lock(base + PAGE)).toBe(false);
    expect(slot.walkMetAbsent).toBe(false);
    expect(slot.isLocked).toBe(false);
    expect(noLockHeld(k)).toBe(true);
    const u = pt.cursorMut(base, base + MIB2);
    u.unmap(MIB2);
    u.drop();
    expectClean(k);
  });

  it('maps, re-protects and replaces the page as the cursor reads it back, counting references', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const first = mapFresh(k, pt, BASE);
    const va = BASE + 7 * PAGE;
    const slot = pt.leafSlot();
    const a = k.frames.alloc();
    expect(slot.lock(va)).toBe(true);
    slot.map(a, USER_RW & ~PROP_W);
    k.frames.put(a);
    expect(slot.kind()).toBe(PTE_LEAF);
    expect(slot.pfn()).toBe(a);
    slot.setProp(USER_RW);
    slot.unlock();
    expect(queried(pt, va)).toEqual([a, USER_RW]);
    expect(k.frames.refCount(a)).toBe(1);

    const b = k.frames.alloc();
    expect(slot.lock(va)).toBe(true);
    slot.replace(b, USER_RW);
    k.frames.put(b);
    slot.unlock();
    expect(queried(pt, va)).toEqual([b, USER_RW]);
    expect(k.frames.isInUse(a)).toBe(false);
    expect(k.frames.refCount(b)).toBe(1);
    expect(queried(pt, BASE)?.[0]).toBe(first);
    expectClean(k);
  });

  it("hands a fresh allocation's handle to the PTE (mapFresh, replaceFresh), refusing a frame held elsewhere", () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const first = mapFresh(k, pt, BASE);
    const slot = pt.leafSlot();
    const shared = k.frames.alloc();
    k.frames.get(shared);
    expect(slot.lock(BASE + PAGE)).toBe(true);
    expect(codeOf(() => slot.mapFresh(shared, USER_RW))).toBe('BadFrameState');
    expect(slot.kind()).toBe(PTE_ABSENT);
    const a = k.frames.alloc();
    slot.mapFresh(a, USER_RW);
    slot.unlock();
    expect([k.frames.refCount(a), k.frames.handles(a)]).toEqual([1, 0]);
    expect(slot.lock(BASE)).toBe(true);
    expect(codeOf(() => slot.replaceFresh(shared, USER_RW))).toBe('BadFrameState');
    const b = k.frames.alloc();
    slot.replaceFresh(b, USER_RW);
    slot.unlock();
    expect(k.frames.isInUse(first)).toBe(false);
    expect([k.frames.refCount(b), k.frames.handles(b)]).toEqual([1, 0]);
    expect(queried(pt, BASE)).toEqual([b, USER_RW]);
    expect(queried(pt, BASE + PAGE)).toEqual([a, USER_RW]);
    expect([k.frames.refCount(shared), k.frames.handles(shared)]).toEqual([2, 2]);
    k.frames.put(shared);
    k.frames.put(shared);
    expectClean(k);
  });

  it('refuses bad writes, changing nothing', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const mapped = mapFresh(k, pt, BASE);
    const slot = pt.leafSlot();
    const spare = k.frames.alloc();
    expect(slot.lock(BASE)).toBe(true);
    expect(codeOf(() => slot.map(spare, USER_RW))).toBe('AlreadyMapped');
    expect(codeOf(() => slot.replace(pt.rootPfn, USER_RW))).toBe('BadFrameState');
    expect(codeOf(() => slot.replace(k.frames.nrFrames, USER_RW))).toBe('InvalidArgument');
    slot.unlock();
    expect(slot.lock(BASE + PAGE)).toBe(true);
    expect(codeOf(() => slot.setProp(USER_RW))).toBe('InvalidArgument');
    expect(codeOf(() => slot.replace(spare, USER_RW))).toBe('InvalidArgument');
    slot.unlock();
    expect(codeOf(() => slot.map(spare, USER_RW))).toBe('InvalidArgument');
    expect(k.frames.refCount(spare)).toBe(1);
    expect(queried(pt, BASE)).toEqual([mapped, USER_RW]);
    expect(queried(pt, BASE + PAGE)).toBeNull();
    k.frames.put(spare);
    expectClean(k);
  });

  it('is CursorBusy while a cursor holds the page, holding nothing; works once it is dropped', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    mapFresh(k, pt, BASE);
    const c = pt.cursorMut(BASE, BASE + 2 * PAGE);
    const slot = pt.leafSlot();
    const held = Array.from(k.meta.lockArray);
    expect(codeOf(() => slot.lock(BASE + PAGE))).toBe('CursorBusy');
    expect(slot.isLocked).toBe(false);
    expect(Array.from(k.meta.lockArray)).toEqual(held);
    c.drop();
    expect(slot.lock(BASE + PAGE)).toBe(true);
    slot.unlock();
    expectClean(k);
  });

  it('hands out a second slot while the first is locked', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    mapFresh(k, pt, BASE);
    mapFresh(k, pt, BASE + (2 << 20));
    const one = pt.leafSlot();
    expect(one.lock(BASE)).toBe(true);
    const two = pt.leafSlot();
    expect(two).not.toBe(one);
    if (config.lockProtocol === 'global') {
      // One lock per table: the second page waits for the first.
      expect(codeOf(() => two.lock(BASE + (2 << 20)))).toBe('CursorBusy');
    } else {
      expect(two.lock(BASE + (2 << 20))).toBe(true);
      two.unlock();
    }
    one.unlock();
    expect(pt.leafSlot()).toBe(two);
    expectClean(k);
  });

  it('debug mode: a write whose lock was taken away throws LockNotHeld', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    mapFresh(k, pt, BASE);
    const slot = pt.leafSlot();
    expect(slot.lock(BASE)).toBe(true);
    const lockPfn = config.lockProtocol === 'global' ? pt.rootPfn : slot.node;
    const owner = lockOwner(k.meta, lockPfn);
    unlockNode(k.meta, lockPfn);
    expect(tryLockNode(k.meta, lockPfn, owner + 1_000_000)).toBe(true);
    expect(codeOf(() => slot.setProp(USER_RW & ~PROP_W))).toBe('LockNotHeld');
    unlockNode(k.meta, lockPfn);
    expect(tryLockNode(k.meta, lockPfn, owner)).toBe(true);
    slot.unlock();
    expect(queried(pt, BASE)?.[1]).toBe(USER_RW);
    expectClean(k);
  });

  it('writes under a cursor it is borrowed from, leaving the lock to the cursor', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    mapFresh(k, pt, BASE);
    const c = pt.cursorMut(BASE, BASE + 4 * PAGE);
    c.jump(BASE + 3 * PAGE);
    expect(c.enterLeafNode()).toBe(true);
    const slot = pt.leafSlot();
    slot.borrow(c);
    const pfn = k.frames.alloc();
    slot.map(pfn, USER_RW);
    k.frames.put(pfn);
    slot.unlock();
    expect(noLockHeld(k)).toBe(false);
    c.drop();
    expect(noLockHeld(k)).toBe(true);
    expect(queried(pt, BASE + 3 * PAGE)).toEqual([pfn, USER_RW]);
    expectClean(k);
  });
});

/** Records the `cursorDroppedEmptyGuard` calls. */
@injectable()
class DropSpy implements KernelPlugin {
  readonly name = 'drop-spy';
  readonly dropped: number[] = [];
  cursorDroppedEmptyGuard(_pt: PageTable, va: number): void {
    this.dropped.push(va);
  }
}

describe('LeafSlot hooks and stray nodes', () => {
  const configs = PROTOCOL_CONFIGS.filter((c) => c.layout === 'soa' && c.arch.consts.name === 'x86_64');

  it.each(configs)('unlock reports an empty leaf node as a dropped cursor does ($name)', (config) => {
    const k = testKernel(config, { plugins: [{ name: 'drop-spy', pluginClass: DropSpy }] });
    const spy = k.plugins.get<DropSpy>('drop-spy');
    if (spy === undefined) throw new Error('no spy');
    const pt = k.newUserPageTable();
    mapFresh(k, pt, BASE);
    mapFresh(k, pt, BASE + PAGE);
    const slot = pt.leafSlot();
    expect(slot.lock(BASE + 9 * PAGE)).toBe(true);
    slot.unlock();
    expect(spy.dropped).toEqual([]);
    const c = pt.cursorMut(BASE, BASE + 2 * PAGE);
    expect(c.unmap(2 * PAGE)).toBe(2);
    c.drop();
    expect(spy.dropped).toEqual([BASE]);
    expect(slot.lock(BASE + 9 * PAGE)).toBe(true);
    slot.unlock();
    expect(spy.dropped).toEqual([BASE, BASE + 9 * PAGE]);
    expectClean(k);
  });

  it('subtree: a leaf node that stays stray makes lock give up with CursorBusy, holding nothing', () => {
    const config = configs.find((c) => c.lockProtocol === 'subtree');
    if (config === undefined) throw new Error('no subtree configuration');
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    mapFresh(k, pt, BASE);
    const slot = pt.leafSlot();
    expect(slot.lock(BASE)).toBe(true);
    const node = slot.node;
    slot.unlock();
    k.meta.setStray(node, true);
    expect(codeOf(() => slot.lock(BASE))).toBe('CursorBusy');
    expect(noLockHeld(k)).toBe(true);
    k.meta.setStray(node, false);
    expect(slot.lock(BASE)).toBe(true);
    slot.unlock();
    expectClean(k);
  });
});
