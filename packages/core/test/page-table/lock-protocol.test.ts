import { x86_64 } from '@mmkit/arch-x86_64';
import { LOCK_PROTOCOLS, MmError, PROP_RW, PROP_USER, QUERY_MAPPED } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';

const PAGE = 4096;
const MiB2 = 2 << 20;
const USER_RW = PROP_RW | PROP_USER;

/** Maps one page so that the nodes down to level 1 exist at `va`. */
function populate(
  k: ReturnType<typeof testKernel>,
  pt: ReturnType<ReturnType<typeof testKernel>['newUserPageTable']>,
  va: number,
) {
  const f = k.frames.alloc();
  const c = pt.cursorMut(va, va + PAGE);
  c.map(f, USER_RW);
  c.drop();
  k.frames.put(f);
}

// Lock words in SMP mode (shared memory whose state was handed out) are taken with Atomics,
// otherwise (a plain buffer, or shared memory in UP mode) with plain accesses (see lock.ts):
// the protocol must be the same either way. (The `object` layout cannot be handed out: UP only.)
const LOCK_CONFIGS = PROTOCOL_CONFIGS.flatMap((c) => [
  { ...c, sharedMemory: false, smp: false },
  { ...c, name: `${c.name}/shared`, sharedMemory: true, smp: false },
  ...(c.layout === 'object' ? [] : [{ ...c, name: `${c.name}/shared/smp`, sharedMemory: true, smp: true }]),
]);

describe.each(LOCK_CONFIGS)('lock protocol on $name', ({ sharedMemory, smp, ...config }) => {
  const global = config.lockProtocol === 'global';

  it('lets cursors on disjoint ranges live at once (one table lock: not under global) and serializes overlapping ones', () => {
    const k = testKernel(config, { sharedMemory });
    if (smp) k.sharedState(1);
    expect(k.smp).toBe(smp);
    const pt = k.newUserPageTable();
    const a = 0x4000_0000;
    const b = a + 4 * MiB2;
    populate(k, pt, a);
    populate(k, pt, b);
    const first = pt.cursorMut(a, a + 16 * PAGE);
    const second = pt.tryCursorMut(b, b + 16 * PAGE);
    expect(second === null).toBe(global);
    expect(pt.tryCursorMut(a + PAGE, a + 2 * PAGE)).toBeNull();
    expect(() => pt.cursorMut(a, a + PAGE)).toThrow(MmError);
    expect(() => pt.cursorMut(a, a + PAGE)).toThrow(/CursorBusy/);
    first.drop();
    const third = pt.tryCursorMut(a + PAGE, a + 2 * PAGE);
    expect(third).not.toBeNull();
    third?.drop();
    second?.drop();
    expectClean(k);
  });

  it('keeps only the guard node locked after creation', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const va = 0x4000_0000;
    populate(k, pt, va);
    const c = pt.cursorMut(va, va + 8 * PAGE);
    expect(c.guardLevel).toBe(1);
    expect(c.level).toBe(1);
    // The root and the upper nodes are free again: a cursor elsewhere in the same 1 GiB goes
    // through them down to the level-2 node, whose entry for its range is absent.
    const other = pt.tryCursorMut(va + 64 * MiB2, va + 65 * MiB2);
    expect(other === null).toBe(global);
    if (other !== null) expect(other.guardLevel).toBe(2);
    other?.drop();
    c.drop();
    expectClean(k);
  });

  it('a cursor on a range spanning nodes locks their common ancestor', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const va = 0x4000_0000;
    populate(k, pt, va);
    populate(k, pt, va + MiB2);
    const c = pt.cursorMut(va + MiB2 - PAGE, va + MiB2 + PAGE);
    expect(c.guardLevel).toBe(2);
    // Both level-1 nodes sit below the guard: even a range inside one of them is busy.
    expect(pt.tryCursorMut(va, va + PAGE)).toBeNull();
    c.drop();
    expectClean(k);
  });

  it('serializes a cursor with nodes another cursor created in its range', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const va = 0x4000_0000;
    const c = pt.cursorMut(va, va + 4 * MiB2);
    const f = k.frames.alloc();
    c.jump(va + MiB2);
    c.map(f, USER_RW);
    k.frames.put(f);
    // The new nodes down to level 1 belong to `c` until it drops.
    expect(pt.tryCursorMut(va + MiB2, va + MiB2 + PAGE)).toBeNull();
    c.drop();
    const d = pt.cursorMut(va + MiB2, va + MiB2 + PAGE);
    expect(d.guardLevel).toBe(1);
    expect(d.unmap(PAGE)).toBe(1);
    d.drop();
    expectClean(k);
  });

  it('retries from the root when the guard node is stray, and gives up with CursorBusy', () => {
    const k = testKernel(config);
    const pt = k.newUserPageTable();
    const va = 0x4000_0000;
    populate(k, pt, va);
    const c = pt.cursorMut(va, va + PAGE);
    const leaf = c.nodeAt(1);
    c.drop();
    // A node detached by a concurrent unmap is marked stray before its parent entry is
    // cleared: a walker that reaches it in between must not use it.
    k.meta.setStray(leaf, true);
    if (global) {
      // One lock for the whole table: nobody can detach a node under a live cursor, so the
      // walk never meets a stray node it must retry for.
      pt.cursorMut(va, va + PAGE).drop();
    } else {
      expect(() => pt.cursorMut(va, va + PAGE)).toThrow(/CursorBusy.*stray/);
    }
    k.meta.setStray(leaf, false);
    for (const node of [leaf, pt.rootPfn]) expect(k.meta.lockArray[k.meta.lockIndex(node)]).toBe(0);
    expectClean(k);
  });
});

describe('debug mode', () => {
  /**
   * Maps a page through a cursor whose guard node's lock was stolen from under it, as a
   * buggy caller could; returns what the map did (the error, or null) with the lock given
   * back and the cursor dropped.
   */
  function mapWithStolenLock(debug: boolean) {
    const k = testKernel({ arch: x86_64 }, { debug });
    const pt = k.newUserPageTable();
    const va = 0x4000_0000;
    populate(k, pt, va);
    const c = pt.cursorMut(va, va + 2 * PAGE);
    const guard = k.meta.lockArray.findIndex((owner) => owner !== 0);
    const owner = k.meta.lockArray[guard];
    Atomics.store(k.meta.lockArray, guard, 0);
    const f = k.frames.alloc();
    c.jump(va + PAGE);
    let error: unknown = null;
    try {
      c.map(f, USER_RW);
    } catch (e) {
      error = e;
    }
    Atomics.store(k.meta.lockArray, guard, owner);
    c.jump(va + PAGE);
    const mapped = c.query() === QUERY_MAPPED && c.qPfn === f;
    c.drop();
    k.frames.put(f);
    return { k, error, mapped };
  }

  it('throws when a PTE is written to a node whose lock the cursor does not hold', () => {
    const { error, mapped } = mapWithStolenLock(true);
    expect(error).toBeInstanceOf(MmError);
    expect((error as MmError).code).toBe('LockNotHeld');
    expect(mapped).toBe(false);
  });

  it.each(LOCK_PROTOCOLS)('checks every PTE write under the %s protocol', (name) => {
    const k = testKernel({ arch: x86_64, lockProtocol: name });
    const pt = k.newUserPageTable();
    const va = 0x4000_0000;
    populate(k, pt, va);
    const c = pt.cursorMut(va, va + 2 * PAGE);
    const f = k.frames.alloc();
    c.jump(va + PAGE);
    // Take every lock the cursor holds away from it (the table's one lock under global).
    const locks = k.meta.lockArray;
    const held = [...locks.keys()].filter((i) => locks[i] !== 0);
    expect(held.length).toBeGreaterThan(0);
    const owner = locks[held[0]];
    for (const i of held) locks[i] = 0;
    expect(() => c.map(f, USER_RW)).toThrow(/LockNotHeld/);
    for (const i of held) locks[i] = owner;
    c.map(f, USER_RW);
    c.drop();
    k.frames.put(f);
    expectClean(k);
  });

  it('does not check locks outside debug mode: the same write goes through', () => {
    const { k, error, mapped } = mapWithStolenLock(false);
    expect(k.debug).toBe(false);
    expect(error).toBeNull();
    expect(mapped).toBe(true);
    expectClean(k);
  });
});
