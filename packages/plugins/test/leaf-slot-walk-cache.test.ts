import {
  ACCESS_WRITE,
  FAULT_HANDLED,
  handlePageFault,
  type Kernel,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  type PageTable,
  PROT_READ,
  PROT_WRITE,
  QUERY_MAPPED,
  type Vmar,
} from '@mmkit/core';
import { cow, pageTableRecycling } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../../core/test/support/configs.ts';
import { codeOf } from '../../core/test/support/errors.ts';

/**
 * `LeafSlot`'s walk cache (the leaf node of the last walk, reused for faults in its 2 MiB):
 * after every way a cached node can stop serving its addresses (recycled and reused for
 * other addresses, detached and waiting for its deferred free, relinked by a 2 MiB-aligned
 * mremap) a fault still lands in the node the page table has there, and a cursor holding
 * a node above the cached one still makes the slot busy, under every lock protocol, on
 * private buffers and on shared memory (where `hoh` keeps no cache). Another view changing
 * the table meanwhile: `leaf-slot-walk-cache-views.test.ts`.
 */

const PAGE = 4096;
const SPAN = 0x20_0000;
/** A 2 MiB-aligned address; `B` is another leaf node's span under the same level-2 node. */
const A = 0x4000_0000;
const B = A + 4 * SPAN;
/** Keeps the level-2 node of `A` and `B` alive when `A`'s leaf node is recycled. */
const KEEP = A + 8 * SPAN;
/** Where mremap moves `A`'s leaf node (another 1 GiB). */
const D = 0x8000_0000;
const RW = PROT_READ | PROT_WRITE;
const FIXED_ANON = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

interface Proc {
  k: Kernel;
  sys: LinuxSyscalls;
  pid: number;
  vmar: Vmar;
  pt: PageTable;
}

/**
 * Every protocol configuration, on private buffers and (soa layout) on shared memory, in UP
 * mode (one view) and in SMP mode (`sharedState()` called: the shared checks, no `hoh` cache).
 */
const CONFIGS = [
  ...PROTOCOL_CONFIGS.map((c) => ({ ...c, sharedMemory: false, smp: false })),
  ...PROTOCOL_CONFIGS.filter((c) => c.layout === 'soa').flatMap((c) => [
    { ...c, name: `${c.name}/shared`, sharedMemory: true, smp: false },
    { ...c, name: `${c.name}/shared/smp`, sharedMemory: true, smp: true },
  ]),
];

function proc(config: (typeof CONFIGS)[number]): Proc {
  const k = testKernel(config, { plugins: [pageTableRecycling(), cow()], sharedMemory: config.sharedMemory });
  if (config.smp) k.sharedState(1);
  const sys = new LinuxSyscalls(k);
  const pid = sys.spawn();
  const vmar = sys.procs.require(pid).vmar;
  return { k, sys, pid, vmar, pt: vmar.space.pt };
}

function mmap(p: Proc, addr: number, len: number): void {
  expect(p.sys.mmap(p.pid, addr, len, RW, FIXED_ANON)).toBe(addr);
}

function write(p: Proc, va: number): void {
  expect(handlePageFault(p.vmar, va, ACCESS_WRITE)).toBe(FAULT_HANDLED);
}

/** The frame mapped at `va` as a cursor sees it, -1 if none. */
function frameAt(pt: PageTable, va: number): number {
  const c = pt.cursor(va, va + PAGE);
  const pfn = c.query() === QUERY_MAPPED ? c.qPfn : -1;
  c.drop();
  return pfn;
}

/** Locks and unlocks `va`'s leaf node through the table's slot, filling its walk cache; returns the node. */
function cacheLeafNode(pt: PageTable, va: number): number {
  const slot = pt.leafSlot();
  expect(slot.lock(va)).toBe(true);
  const node = slot.node;
  slot.unlock();
  return node;
}

/** The leaf node holding `va`'s PTE, found by a cursor (the slot's walk cache untouched). */
function leafNodeOf(pt: PageTable, va: number): number {
  const c = pt.cursorMut(va, va + PAGE);
  try {
    return c.enterLeafNode() ? c.nodeAt(1) : -1;
  } finally {
    c.drop();
  }
}

describe.each(CONFIGS)('LeafSlot walk cache on $name', (config) => {
  it('does not write through a cached leaf node that was recycled and reused for other addresses', () => {
    const p = proc(config);
    mmap(p, KEEP, PAGE);
    write(p, KEEP);
    mmap(p, A, SPAN);
    write(p, A);
    write(p, A + PAGE);
    const node = cacheLeafNode(p.pt, A + 2 * PAGE);
    // Recycling frees the node; `B`'s first fault creates its leaf node in the same frame.
    expect(p.sys.munmap(p.pid, A, SPAN)).toBe(0);
    mmap(p, B, SPAN);
    write(p, B);
    expect(leafNodeOf(p.pt, B)).toBe(node);
    // The slot's cache still names `A`'s span and that frame (filled just before the munmap).
    mmap(p, A, SPAN);
    write(p, A + 3 * PAGE);
    const page = frameAt(p.pt, A + 3 * PAGE);
    expect(page).toBeGreaterThan(0);
    expect(frameAt(p.pt, B + 3 * PAGE)).toBe(-1);
    expect(leafNodeOf(p.pt, A + 3 * PAGE)).not.toBe(node);
    expectClean(p.k);
  });

  it('does not write through a cached leaf node that mremap relinked to other addresses', () => {
    const p = proc(config);
    mmap(p, A, SPAN);
    for (let va = A; va < A + SPAN; va += PAGE) write(p, va);
    const node = cacheLeafNode(p.pt, A);
    const first = frameAt(p.pt, A);
    // 2 MiB-aligned and whole: the leaf node itself moves under `D`'s parent (except under
    // `subtree` on shared memory, where the entries move and the emptied node is recycled:
    // `mayRelink`).
    expect(p.sys.mremap(p.pid, A, SPAN, SPAN, MREMAP_MAYMOVE | MREMAP_FIXED, D)).toBe(D);
    const relinked = !(config.sharedMemory && config.lockProtocol === 'subtree');
    expect(leafNodeOf(p.pt, D) === node).toBe(relinked);
    mmap(p, A, SPAN);
    write(p, A);
    const fresh = frameAt(p.pt, A);
    expect(fresh).toBeGreaterThan(0);
    expect(fresh).not.toBe(first);
    expect(frameAt(p.pt, D)).toBe(first);
    expect(leafNodeOf(p.pt, A)).not.toBe(node);
    expectClean(p.k);
  });

  it('breaks copy-on-write through the cache after a fork, the child keeping its frames', () => {
    const p = proc(config);
    mmap(p, A, SPAN);
    for (let va = A; va < A + 8 * PAGE; va += PAGE) write(p, va);
    const before = [0, 1, 2, 3].map((i) => frameAt(p.pt, A + i * PAGE));
    const child = p.sys.fork(p.pid);
    const childPt = p.sys.procs.require(child).vmar.space.pt;
    for (let i = 0; i < 4; i++) write(p, A + i * PAGE);
    for (let i = 0; i < 4; i++) {
      expect(frameAt(childPt, A + i * PAGE)).toBe(before[i]);
      expect(frameAt(p.pt, A + i * PAGE)).not.toBe(before[i]);
    }
    expectClean(p.k);
    p.sys.exit(child);
    expectClean(p.k);
  });

  it('is busy, as the walk is, while a cursor holds a node above the cached leaf node', () => {
    const p = proc(config);
    mmap(p, A, 2 * SPAN);
    write(p, A);
    cacheLeafNode(p.pt, A + PAGE);
    // A range over two leaf nodes: its guard is their level-2 node.
    const c = p.pt.cursorMut(A, A + 2 * SPAN);
    expect(codeOf(() => p.pt.leafSlot().lock(A + PAGE))).toBe('CursorBusy');
    c.drop();
    const slot = p.pt.leafSlot();
    expect(slot.lock(A + PAGE)).toBe(true);
    slot.unlock();
    expectClean(p.k);
  });
});

// Only `subtree` defers the free of a detached node (the others free it at once).
describe.each(CONFIGS.filter((c) => c.lockProtocol === 'subtree'))(
  'LeafSlot walk cache and the deferred node free on $name',
  (config) => {
    it('does not write through a cached leaf node that is detached and waiting to be freed', () => {
      const p = proc(config);
      mmap(p, KEEP, PAGE);
      write(p, KEEP);
      mmap(p, A, SPAN);
      write(p, A);
      const node = cacheLeafNode(p.pt, A + PAGE);
      // A live cursor elsewhere keeps `subtree`'s deferred free from freeing the node, so
      // it stays allocated and stray: no node was freed, only the stray flag tells.
      const reader = p.pt.cursor(KEEP, KEEP + PAGE);
      expect(p.sys.munmap(p.pid, A, SPAN)).toBe(0);
      mmap(p, A, SPAN);
      write(p, A + PAGE);
      expect(leafNodeOf(p.pt, A + PAGE)).not.toBe(node);
      reader.drop();
      expect(frameAt(p.pt, A + PAGE)).toBeGreaterThan(0);
      expect(frameAt(p.pt, A)).toBe(-1);
      expectClean(p.k);
    });

    it('frees a cached leaf node left empty at unlock after a hit, as a reader of the deferred free', () => {
      const p = proc(config);
      const nodesBefore = p.k.frames.usageByType()['page-table'];
      mmap(p, A, SPAN);
      write(p, A);
      cacheLeafNode(p.pt, A + PAGE);
      // A cursor over two level-3 entries holds the level-3 node: recycling after the
      // munmap stops there, and the leaf node stays linked and empty.
      const holder = p.pt.cursor(3 * A - PAGE, 3 * A + PAGE);
      expect(p.sys.munmap(p.pid, A, SPAN)).toBe(0);
      holder.drop();
      expect(p.k.frames.usageByType()['page-table']).toBeGreaterThan(nodesBefore);
      // A hit (no node was freed), then the unlock of the empty node recycles it at once.
      cacheLeafNode(p.pt, A + PAGE);
      expect(p.k.frames.usageByType()['page-table']).toBe(nodesBefore);
      expectClean(p.k);
    });
  },
);
