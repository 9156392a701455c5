import { x86_64 } from '@mmkit/arch-x86_64';
import {
  createKernel,
  FrameType,
  type Kernel,
  LinuxSyscalls,
  lockProtocol,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PageTable,
  PROP_RW,
  PROP_USER,
  PROT_READ,
  PROT_WRITE,
  QUERY_MAPPED,
} from '@mmkit/core';
import { lockOwner, SWITCH_LOCK, SWITCH_UNLOCK, setSwitchProbe } from '@mmkit/core/internal';
import { cow, pageTableRecycling } from '@mmkit/plugins';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { expectClean } from '../../core/test/support/configs.ts';

/**
 * UP and SMP mode of a kernel on shared memory: it boots with one view (UP: plain accesses
 * to the shared words), hands out its state with `sharedState()` (SMP from then on: the
 * `Atomics` path), and an attached view is SMP from the start. What UP mode leaves on the
 * shared words (reference and handle counts, allocator bitmap and state, per-type counts,
 * lock words) must be exactly what the atomic path would have left, so that a view attached
 * afterwards sees it right and both go on.
 */

const PAGE = 4096;
const PAGES = 16;
const OWNER_BLOCK = 2 ** 24;

/** The configuration every kernel here shares: the boot view's and the attached view's. */
function config(layout: string, protocol: string) {
  return {
    arch: x86_64,
    memory: 64 << 20,
    layout,
    debug: true,
    linearMapping: false,
    services: { lockProtocol: lockProtocol(protocol) },
    plugins: [cow(), pageTableRecycling()],
  };
}

function bootShared(layout: string, protocol: string): Kernel {
  return createKernel({ ...config(layout, protocol), sharedMemory: true });
}

function attachView(k: Kernel, layout: string, protocol: string): Kernel {
  return createKernel({ ...config(layout, protocol), attach: k.sharedState(1) });
}

/** Faults, a fork, COW breaks and an unmap: a parent and a child sharing some frames. */
function forkAndBreak(sys: LinuxSyscalls): { parent: number; child: number; addr: number } {
  const parent = sys.spawn();
  const addr = sys.mmap(parent, 0, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  for (let i = 0; i < PAGES; i++) sys.writeMemory(parent, addr + i * PAGE, Uint8Array.of(i + 1));
  const child = sys.fork(parent);
  for (let i = 0; i < 8; i++) sys.writeMemory(child, addr + i * PAGE, Uint8Array.of(100 + i));
  sys.munmap(parent, addr + 12 * PAGE, 4 * PAGE);
  return { parent, child, addr };
}

/** `forkAndBreak`, then both processes exit. */
function forkBreakAndExit(sys: LinuxSyscalls): void {
  const { parent, child } = forkAndBreak(sys);
  sys.exit(child);
  sys.exit(parent);
}

/** The frames mapped in `[addr, addr + PAGES pages)` of the table at `rootPfn`, seen through `view`. */
function mappedFrames(view: Kernel, rootPfn: number, addr: number): number[] {
  const pt = PageTable.attach(view.ctx, rootPfn, false);
  const out: number[] = [];
  const q = pt.cursor(addr, addr + PAGES * PAGE);
  try {
    for (let i = 0; i < PAGES; i++) {
      q.jump(addr + i * PAGE);
      if (q.query() === QUERY_MAPPED) out.push(q.qPfn);
    }
  } finally {
    q.drop();
  }
  return out;
}

/** Page-table nodes whose lock word is held, with the owner, as `view` reads them. */
function heldLocks(view: Kernel): Map<number, number> {
  const out = new Map<number, number>();
  for (let pfn = 0; pfn < view.frames.nrFrames; pfn++)
    if (view.frames.type(pfn) === FrameType.PageTable && lockOwner(view.meta, pfn) !== 0)
      out.set(pfn, lockOwner(view.meta, pfn));
  return out;
}

describe.each([
  ['soa', 'hoh'],
  ['soa', 'subtree'],
  ['soa', 'global'],
  ['aos', 'hoh'],
  ['aos', 'subtree'],
])('UP mode, then SMP mode (%s, %s)', (layout, protocol) => {
  it('leaves exact counts, allocator state and lock words for a view attached later; both go on', () => {
    const k = bootShared(layout, protocol);
    expect(k.smp).toBe(false);
    const sys = new LinuxSyscalls(k);
    const { parent, child, addr } = forkAndBreak(sys);
    expectClean(k);
    expect(k.smp).toBe(false);

    // A cursor of the boot view holds its locks across the switch (taken with plain stores).
    const parentPt = sys.procs.require(parent).vmar.space.pt;
    const held = parentPt.cursorMut(addr, addr + PAGE);
    const view = attachView(k, layout, protocol);
    expect(k.smp).toBe(true);
    expect(view.smp).toBe(true);

    // Lock words: the view sees the boot view's owner on them, and cannot take them.
    const locks = heldLocks(view);
    expect(locks.size).toBeGreaterThan(0);
    for (const owner of locks.values()) expect(owner).toBeLessThan(OWNER_BLOCK);
    const viewPt = PageTable.attach(view.ctx, parentPt.rootPfn, false);
    expect(() => viewPt.cursorMut(addr, addr + PAGE)).toThrow(/CursorBusy/);
    held.drop();
    expect(heldLocks(view).size).toBe(0);

    // Reference counts: the PTEs that point to each frame, no handle.
    const childPt = sys.procs.require(child).vmar.space.pt;
    const frames = [
      ...mappedFrames(view, parentPt.rootPfn, addr),
      ...mappedFrames(view, childPt.rootPfn, addr),
    ];
    expect(frames.length).toBe(12 + PAGES);
    const ptes = new Map<number, number>();
    for (const pfn of frames) ptes.set(pfn, (ptes.get(pfn) ?? 0) + 1);
    expect([...ptes.values()].filter((n) => n === 2).length).toBe(4);
    for (const [pfn, n] of ptes) {
      expect(view.frames.refCount(pfn)).toBe(n);
      expect(view.frames.handles(pfn)).toBe(0);
    }

    // Allocator and per-type counts: the same once the boot view's cache is given back.
    k.frames.flushCaches();
    expect(view.frames.nrFree).toBe(k.frames.nrFree);
    expect(view.frames.usageByType()).toEqual(k.frames.usageByType());
    let free = 0;
    let backed = 0;
    for (let pfn = 0; pfn < view.frames.nrFrames; pfn++) {
      expect(view.frames.allocator.isFree(pfn)).toBe(!view.frames.isInUse(pfn));
      if (view.frames.allocator.isFree(pfn)) free++;
      if (view.memory.isBacked(pfn)) backed++;
    }
    // The shared free count and backed-frame count that UP mode kept with plain writes.
    expect(view.frames.nrFree).toBe(free);
    expect(view.memory.nrBackedFrames).toBe(backed);
    expect(backed).toBeGreaterThan(PAGES);
    // (The view's own check() knows no table of the boot view's processes: it runs at the end.)
    expectClean(k);

    // Both views go on: the view maps and unmaps in a new table, the boot view
    // faults, breaks COW and tears the processes down.
    const table = k.newUserPageTable();
    const vt = PageTable.attach(view.ctx, table.rootPfn, false);
    const c = vt.cursorMut(0x4000_0000, 0x4000_0000 + PAGES * PAGE);
    for (let i = 0; i < PAGES; i++) c.mapFresh(view.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
    c.drop();
    for (let i = 8; i < 12; i++) sys.writeMemory(parent, addr + i * PAGE, Uint8Array.of(200 + i));
    const out = new Uint8Array(1);
    sys.readMemory(child, addr + 9 * PAGE, out);
    expect(out[0]).toBe(10);
    const u = vt.cursorMut(0x4000_0000, 0x4000_0000 + PAGES * PAGE);
    expect(u.unmap(PAGES * PAGE)).toBe(PAGES);
    u.drop();
    sys.exit(child);
    sys.exit(parent);
    k.destroyUserPageTable(table);
    view.frames.flushCaches();
    k.frames.flushCaches();
    expectClean(view);
    expectClean(k);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expect(view.frames.nrInUse).toBe(k.nrBootFrames);
  });
});

describe('which path a view takes', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    setSwitchProbe(null);
  });

  it.each(['hoh', 'subtree', 'global'])(
    'reads the mode at each LeafSlot lock: UP hits the walk cache with plain accesses, SMP takes the shared path (%s)',
    (protocol) => {
      const k = bootShared('soa', protocol);
      const table = k.newUserPageTable();
      const va = 0x4000_0000;
      const slot = table.leafSlot();
      const mapOne = (at: number) => {
        const c = table.cursorMut(at, at + PAGE);
        c.mapFresh(k.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
        c.drop();
      };
      for (let i = 0; i < 4; i++) mapOne(va + i * PAGE);
      const points: number[] = [];
      setSwitchProbe((point) => points.push(point));
      const lockCount = () => points.filter((p) => p === SWITCH_LOCK).length;
      // The first lock walks and fills the cache; the next one is a hit: no lock word is
      // touched through `lock.ts`, so no switch point (plain accesses, as on a private buffer).
      expect(slot.lock(va)).toBe(true);
      slot.unlock();
      points.length = 0;
      expect(slot.lock(va + PAGE)).toBe(true);
      slot.unlock();
      expect(points).toEqual([]);

      k.sharedState(1);
      expect(slot.lock(va + 2 * PAGE)).toBe(true);
      const node = slot.node;
      expect(lockOwner(k.meta, protocol === 'global' ? table.rootPfn : node)).not.toBe(0);
      slot.unlock();
      if (protocol === 'hoh') {
        // SMP mode ignores the cache under `hoh`: the walk from the root, hand over hand.
        expect(lockCount()).toBe(k.consts.nrLevels);
        expect(points.filter((p) => p === SWITCH_UNLOCK).length).toBe(k.consts.nrLevels);
      } else {
        // The cached node (or the root) through the SMP checks: one lock, one unlock.
        expect(lockCount()).toBe(1);
        expect(points.filter((p) => p === SWITCH_UNLOCK).length).toBe(1);
      }
      setSwitchProbe(null);
      k.destroyUserPageTable(table);
      k.frames.flushCaches();
      expectClean(k);
      expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    },
  );

  const NAMES = ['add', 'sub', 'compareExchange', 'store', 'load'] as const;

  /**
   * Spies on the `Atomics` functions mmkit's shared paths use; the returned function gives
   * (and clears) the calls per function, split by the array they were made on: `k`'s node
   * lock words, `k`'s reference-count column, or any other.
   */
  function spyAtomics(k: Kernel): () => Record<string, { locks: number; counts: number; other: number }> {
    const spies = NAMES.map((name) => vi.spyOn(Atomics, name));
    const locks = k.meta.lockArray;
    const counts = k.meta.column?.('refCount')?.array;
    return () => {
      const out: Record<string, { locks: number; counts: number; other: number }> = {};
      NAMES.forEach((name, i) => {
        const by = { locks: 0, counts: 0, other: 0 };
        for (const [array] of spies[i].mock.calls as unknown[][]) {
          if (array === locks) by.locks++;
          else if (array === counts) by.counts++;
          else by.other++;
        }
        out[name] = by;
        spies[i].mockClear();
      });
      return out;
    };
  }

  const total = (calls: Record<string, { locks: number; counts: number; other: number }>) =>
    Object.values(calls).reduce((sum, by) => sum + by.locks + by.counts + by.other, 0);

  it.each(['hoh', 'subtree', 'global'])(
    'uses no Atomics in UP mode and the Atomics path once the state is handed out (%s)',
    (protocol) => {
      const k = bootShared('soa', protocol);
      const sys = new LinuxSyscalls(k);
      const calls = spyAtomics(k);
      forkBreakAndExit(sys);
      expect(total(calls())).toBe(0);

      const view = attachView(k, 'soa', protocol);
      calls();
      forkBreakAndExit(sys);
      const boot = calls();
      // The boot view's node locks (compare-and-swap, release store), the COW shares of its
      // frames (add) and their drops (sub) on its reference-count column.
      expect(boot.compareExchange.locks).toBeGreaterThan(0);
      expect(boot.store.locks).toBeGreaterThan(0);
      expect(boot.add.counts).toBeGreaterThan(0);
      expect(boot.sub.counts).toBeGreaterThan(0);

      const viewSys = new LinuxSyscalls(view);
      forkBreakAndExit(viewSys);
      const attached = calls();
      // The view's arrays are its own objects over the same buffers: "other" here.
      expect(attached.compareExchange.other).toBeGreaterThan(0);
      expect(attached.add.other).toBeGreaterThan(0);
      view.frames.flushCaches();
      k.frames.flushCaches();
      expectClean(k);
      expectClean(view);
      expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    },
  );

  it('keeps private kernels and kernels that cannot be attached in UP mode', () => {
    const priv = createKernel({ arch: x86_64, memory: 16 << 20, linearMapping: false });
    expect(priv.smp).toBe(false);
    expect(() => priv.sharedState()).toThrow(/not on thread-safe shared memory/);
    expect(priv.smp).toBe(false);
    const object = createKernel({
      arch: x86_64,
      memory: 16 << 20,
      layout: 'object',
      sharedMemory: true,
      linearMapping: false,
    });
    expect(() => object.sharedState()).toThrow(/not on thread-safe shared memory/);
    expect(object.smp).toBe(false);
    expectClean(object);
  });
});
