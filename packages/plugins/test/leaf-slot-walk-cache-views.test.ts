import { x86_64 } from '@mmkit/arch-x86_64';
import {
  type CursorMut,
  createKernel,
  FrameType,
  type Kernel,
  lockProtocol,
  PageTable,
  PROP_RW,
  PROP_USER,
} from '@mmkit/core';
import { lockOwner, movePtes, SWITCH_LOCK, SWITCH_UNLOCK, setSwitchProbe } from '@mmkit/core/internal';
import { pageTableRecycling } from '@mmkit/plugins';
import { afterEach, describe, expect, it } from 'vitest';
import { expectClean } from '../../core/test/support/configs.ts';

/**
 * `LeafSlot`'s walk cache on shared metadata, with a second view of the kernel (attach
 * mode, as a worker thread has) changing the table in one thread: every way a cached leaf
 * node can stop serving its addresses happens in the other view, before the slot's next
 * `lock` or, through a switch probe, just before the hit's lock or its release. The slot must
 * then land in the node the table has there (here: none, so `lock` is false) and never
 * touch the lock of a node that is no longer its own.
 */

const PAGE = 4096;
const SPAN = 0x20_0000;
/** A 2 MiB-aligned address; `OTHER` and `KEEP` are other leaf spans under its level-2 node. */
const A = 0x4000_0000;
const OTHER = A + 4 * SPAN;
const KEEP = A + 8 * SPAN;
/** Where the relink moves `A`'s leaf node (another 1 GiB). */
const D = 0x8000_0000;

interface Views {
  /** The booted kernel and the view of the slot under test. */
  a: Kernel;
  /** An attached view, as a worker thread's. */
  b: Kernel;
  ptA: PageTable;
  ptB: PageTable;
}

function twoViews(protocol: string): Views {
  const compose = {
    arch: x86_64,
    memory: 64 << 20,
    layout: 'soa',
    debug: true,
    linearMapping: false,
    services: { lockProtocol: lockProtocol(protocol) },
    plugins: [pageTableRecycling()],
  };
  const a = createKernel({ ...compose, sharedMemory: true });
  const b = createKernel({ ...compose, attach: a.sharedState(1) });
  const ptA = a.newUserPageTable();
  return { a, b, ptA, ptB: PageTable.attach(b.ctx, ptA.rootPfn, false) };
}

/** Maps a fresh frame of `frames`' view at `va` with a cursor of `pt`. */
function mapPage(pt: PageTable, frames: Kernel, va: number): void {
  const pfn = frames.frames.alloc(FrameType.Untyped);
  const c = pt.cursorMut(va, va + PAGE);
  try {
    c.mapFresh(pfn, PROP_RW | PROP_USER);
  } finally {
    c.drop();
  }
}

function unmap(pt: PageTable, va: number, len: number): void {
  const c = pt.cursorMut(va, va + len);
  try {
    c.unmap(len);
  } finally {
    c.drop();
  }
}

/** Maps a fresh frame at `va` through view A's slot (its leaf node exists; a walk fills the cache); returns the node. */
function slotMap(v: Views, va: number): number {
  const slot = v.ptA.leafSlot();
  expect(slot.lock(va)).toBe(true);
  const node = slot.node;
  slot.mapFresh(v.a.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
  slot.unlock();
  return node;
}

/**
 * Two views of a kernel under `protocol` where view A's slot has cached `A`'s leaf node (a
 * page at `KEEP` keeps their level-2 node); returns the views and that node.
 */
function cachedLeaf(protocol: string): { v: Views; node: number } {
  const v = twoViews(protocol);
  mapPage(v.ptA, v.a, KEEP);
  mapPage(v.ptA, v.a, A);
  return { v, node: slotMap(v, A + PAGE) };
}

/** View B recycles `A`'s leaf node while a reader of B keeps it retired (stray, not freed); returns that reader. */
function retireWithReader(v: Views): ReturnType<PageTable['cursor']> {
  const reader = v.ptB.cursor(KEEP, KEEP + PAGE);
  unmap(v.ptB, A, SPAN);
  expect(v.b.ctx.reclaim.nrRetired).toBe(1);
  return reader;
}

/** The leaf node holding `va`'s PTE, found by a cursor of `pt`, -1 if none. */
function leafNodeOf(pt: PageTable, va: number): number {
  const c = pt.cursorMut(va, va + PAGE);
  try {
    return c.enterLeafNode() ? c.nodeAt(1) : -1;
  } finally {
    c.drop();
  }
}

/** Moves `A`'s whole leaf node under `D` with a cursor of view B (as a 2 MiB-aligned mremap). */
function relink(v: Views): void {
  const c = v.ptB.cursorMut(A, D + SPAN);
  try {
    movePtes(c, A, D, SPAN);
  } finally {
    c.drop();
  }
}

/** Frees view B's retired nodes and gives back its frame cache, then checks the kernel. */
function finish(v: Views): void {
  v.b.ctx.reclaim.synchronize(1000);
  v.b.frames.flushCaches();
  expectClean(v.a);
}

afterEach(() => setSwitchProbe(null));

describe.each(['subtree', 'global'])('LeafSlot walk cache across views under %s', (protocol) => {
  it('does not lock a cached leaf node another view freed and reused for other addresses', () => {
    const { v, node } = cachedLeaf(protocol);
    // View B recycles the node (no reader is alive: freed at once) and its next node is
    // that frame (B's frame cache hands back the lowest first: `A`'s data frame, then the node).
    unmap(v.ptB, A, SPAN);
    expect(v.b.ctx.reclaim.nrRetired).toBe(0);
    mapPage(v.ptB, v.b, OTHER);
    expect(leafNodeOf(v.ptB, OTHER)).toBe(node);
    // View A's slot still names `A`'s span and that frame: only the shared generation tells.
    expect(v.ptA.leafSlot().lock(A + 2 * PAGE)).toBe(false);
    expect(lockOwner(v.a.meta, node)).toBe(0);
    finish(v);
  });
});

// `movePtes` relinks leaf nodes on shared metadata only under `global` (`mayRelink`).
describe('LeafSlot walk cache across views under global: relinked nodes', () => {
  const protocol = 'global';
  it('does not lock a cached leaf node another view relinked to other addresses', () => {
    const { v, node } = cachedLeaf(protocol);
    relink(v);
    expect(leafNodeOf(v.ptB, D)).toBe(node);
    expect(v.ptA.leafSlot().lock(A + 2 * PAGE)).toBe(false);
    finish(v);
  });

  it('reads the generation once locked: a relink just before the lock', () => {
    const { v, node } = cachedLeaf(protocol);
    // The hit's lock is the root's: its switch point runs view B's relink just before the
    // compare-and-swap, after which the hit reads the generation.
    const lockPfn = v.ptA.rootPfn;
    let armed = true;
    setSwitchProbe((point, pfn) => {
      if (!armed || point !== SWITCH_LOCK || pfn !== lockPfn) return;
      armed = false;
      relink(v);
    });
    expect(v.ptA.leafSlot().lock(A + 2 * PAGE)).toBe(false);
    setSwitchProbe(null);
    expect(armed).toBe(false);
    expect(leafNodeOf(v.ptB, D)).toBe(node);
    expect(lockOwner(v.a.meta, node)).toBe(0);
    finish(v);
  });
});

describe('LeafSlot walk cache across views under subtree: detached, freed and reused nodes', () => {
  it('checks stray once locked: a node detached and not freed yet', () => {
    const { v, node } = cachedLeaf('subtree');
    // A reader of view B keeps the node B recycles retired (stray, not freed): the
    // generation is unchanged, only `stray` tells.
    const reader = retireWithReader(v);
    expect(v.ptA.leafSlot().lock(A + 2 * PAGE)).toBe(false);
    expect(lockOwner(v.a.meta, node)).toBe(0);
    reader.drop();
    finish(v);
  });

  it('reads the generation once locked: a node freed and reused just before the lock', () => {
    const { v, node } = cachedLeaf('subtree');
    // Just before the hit's compare-and-swap, view B empties the node (no reader: freed at
    // once) and makes its next leaf node in that frame, linked, not stray and unlocked: the
    // hit takes a lock that is another span's node's, which only the generation tells.
    let armed = true;
    setSwitchProbe((point, pfn) => {
      if (!armed || point !== SWITCH_LOCK || pfn !== node) return;
      armed = false;
      unmap(v.ptB, A, SPAN);
      mapPage(v.ptB, v.b, OTHER);
    });
    expect(v.ptA.leafSlot().lock(A + 2 * PAGE)).toBe(false);
    setSwitchProbe(null);
    expect(armed).toBe(false);
    expect(v.b.ctx.reclaim.nrRetired).toBe(0);
    expect(leafNodeOf(v.ptB, OTHER)).toBe(node);
    expect(lockOwner(v.a.meta, node)).toBe(0);
    finish(v);
  });

  it('releases a lock taken on a frame freed meanwhile only while it is still its own', () => {
    const { v, node } = cachedLeaf('subtree');
    // A reader of view B keeps the node B recycles retired (stray, not freed).
    const reader = retireWithReader(v);
    /** View B's cursor over `OTHER`, once made: its first map makes a leaf node in the freed frame, locked. */
    const reuse: { cursor: CursorMut | null } = { cursor: null };
    const reuseNode = () => {
      const c = v.ptB.cursorMut(OTHER, OTHER + 2 * PAGE);
      c.mapFresh(v.b.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
      reuse.cursor = c;
    };
    // Just before the hit's compare-and-swap the reader ends, so the node is freed (the hit
    // is no reader): the hit locks a free frame. Just before it lets that lock go, the frame
    // becomes view B's new node, unlocked by its allocation and locked by B's cursor.
    let stage = 0;
    setSwitchProbe((point, pfn) => {
      if (pfn !== node) return;
      if (stage === 0 && point === SWITCH_LOCK) {
        stage = 1;
        reader.drop();
      } else if (stage === 1 && point === SWITCH_UNLOCK) {
        stage = 2;
        reuseNode();
      }
    });
    expect(v.ptA.leafSlot().lock(A + 2 * PAGE)).toBe(false);
    setSwitchProbe(null);
    expect(stage).toBe(2);
    const cursor = reuse.cursor as CursorMut;
    expect(cursor.nodeAt(1)).toBe(node);
    // The new node's lock is its cursor's, and the cursor goes on writing in it.
    expect(lockOwner(v.a.meta, node)).toBe(cursor.lockOwnerId);
    cursor.jump(OTHER + PAGE);
    cursor.mapFresh(v.a.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
    cursor.drop();
    finish(v);
  });
});
