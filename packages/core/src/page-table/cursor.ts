import { PROP_AVAIL1, PROP_DIRTY } from '../arch/page-prop.ts';
import { leafFrameShift, PTE_ABSENT, PTE_LEAF, PTE_TABLE, type PteCodec } from '../arch/pte-codec.ts';
import { fail, formatAddr, MmError } from '../errors.ts';
import type { PageTableContext } from './context.ts';
import { lockOwner, tryLockNode, unlockNode } from './lock.ts';
import { LOCK_GLOBAL, LOCK_HOH, LOCK_SUBTREE } from './lock-protocol.ts';
import { allocNode, nodeBase, nodeWords } from './node.ts';
import type { PageTable } from './page-table.ts';
import { plantedBugs, SWITCH_PTE_READ, SWITCH_PTE_WRITE, switchPoint } from './switch-points.ts';

/** `query()` results. Details of the slot are in `qVa`, `qLen`, `qPfn`, `qProp`. */
export const QUERY_END = 0;
export const QUERY_NOT_MAPPED = 1;
export const QUERY_MAPPED = 2;
export const QUERY_MAPPED_UNTRACKED = 3;
export type QueryKind =
  | typeof QUERY_END
  | typeof QUERY_NOT_MAPPED
  | typeof QUERY_MAPPED
  | typeof QUERY_MAPPED_UNTRACKED;

/** Placeholder of `nodeWordsAt` for levels the cursor has not entered. */
const NO_WORDS = new Uint32Array(0);

/**
 * Whether `x` is a multiple of `size` (a power of two). Dividing by a power of two, flooring
 * and multiplying back are exact on doubles, and much cheaper than `x % size`, which is a
 * floating-point modulo (a library call) for the addresses above 2^31 that most are.
 */
export function isAligned(x: number, size: number): boolean {
  return Math.floor(x / size) * size === x;
}

/**
 * Visits the slots of the node at `level` holding `[start, end)` (a range inside one node
 * of that level) that the range intersects, in order: `visit(i, from, to)` gets the slot's
 * index and the part of the range inside it. Stops at the first visit that returns true
 * and returns true; false if none did. The slot-span arithmetic of the walks that go down
 * a range without a cursor (`CursorMut` locking a subtree, `PageTable.hasMappingIn`).
 */
export function someSlotIn(
  ctx: PageTableContext,
  level: number,
  start: number,
  end: number,
  visit: (i: number, from: number, to: number) => boolean,
): boolean {
  const size = ctx.sizes[level];
  const nodeSize = ctx.sizes[level + 1];
  const nodeStart = Math.floor(start / nodeSize) * nodeSize;
  const first = Math.floor((start - nodeStart) / size);
  const last = Math.min(ctx.consts.nrEntries - 1, Math.floor((end - 1 - nodeStart) / size));
  for (let i = first; i <= last; i++) {
    const slotStart = nodeStart + i * size;
    if (visit(i, Math.max(start, slotStart), Math.min(end, slotStart + size))) return true;
  }
  return false;
}

/**
 * Told of the dirty pages an `unmap` removes: `pageDirtied(va, pfn)` for every tracked leaf
 * it clears whose PTE has `PROP_DIRTY` (`va` is the leaf's first address, `pfn` the frame it
 * mapped), in address order, before the frame loses the PTE's reference. The unmap visits
 * every PTE anyway, so whoever keeps dirty state past the PTEs (shared memory, the page
 * cache) gathers it there instead of walking the range first; the frame tells an object's
 * own page from a private copy of it. It must not use the page table (the cursor holds its
 * locks).
 */
export interface DirtyPageSink {
  pageDirtied(va: number, pfn: number): void;
}

/** Bound on restarts from the root when a node turned stray under us. */
const MAX_STRAY_RETRIES = 64;

/**
 * The mutable page-table cursor over `[barrierStart, barrierEnd)`, porting the 2024 OSTD
 * cursor (seed `000`).
 *
 * Navigation: the guard node (`guardLevel`) is the lowest existing node covering the whole
 * range (found going down while the range fits in one entry that is a child table); the
 * cursor moves between the guard and the leaves below it.
 *
 * Locks follow the kernel's lock protocol (`lock-protocol.ts`): `hoh` (the seed's: hand
 * over hand down to the guard, then the locks from the guard down to `level`), `subtree`
 * (the guard and every node below it in range, found without locks, retried when stray) or
 * `global` (the table's one lock). Every PTE write happens under the lock that covers its
 * node (checked in debug mode). A lock held by another live cursor cannot be taken:
 * creation then fails with `CursorBusy`, as does an operation that must enter a node held
 * by another. `drop()` releases every lock; after it the cursor is unusable.
 *
 * Invariants kept by every PTE write: a node's `nrChildren` equals its non-absent PTEs; a
 * tracked leaf holds one reference to its frame; a child table is referenced by exactly one
 * PTE (its parent's) and by nothing else.
 *
 * The core never frees a node. Going up from a node with no child left runs the
 * `cursorLeftEmptyNode` hook, and dropping a cursor whose guard node is empty runs
 * `cursorDroppedEmptyGuard` (the recycling plugin frees nodes there).
 */
export class CursorMut {
  /** Current virtual address. */
  va: number;
  /** Current level (1 = leaf table). */
  level: number;
  /** Level of the guard node: the cursor moves between it and the leaves below it. */
  guardLevel: number;
  readonly barrierStart: number;
  readonly barrierEnd: number;
  /** Results of the last `query()`. */
  qVa = 0;
  qLen = 0;
  qPfn = 0;
  qProp = 0;

  protected readonly ctx: PageTableContext;
  protected readonly owner: number;
  /** Per level: the node's frame, its word array and the index of its PTE 0. */
  // Plain packed arrays, not typed arrays: a cursor is created per fault or per syscall,
  // and allocating three typed arrays (each with its own backing store) dominated that.
  private readonly nodePfn: number[];
  private readonly nodeWordsAt: Uint32Array[];
  private readonly nodeBaseAt: number[];
  /** The lock protocol (`LOCK_*`), fixed for the cursor's life. */
  private readonly protocol: number;
  /** `subtree`: the nodes below the guard this cursor locked, in locking order. */
  private held: number[] | null = null;
  private alive = true;
  /** Whether `drop()` was called (`alive` also goes false when `CursorBusy` released all). */
  private dropped = false;
  /**
   * `subtree`: whether this cursor is a reader of the deferred node free, from creation
   * (before its walk without locks) to the end of `drop()` or a `CursorBusy` that released
   * all: no node it may have read the address of is freed meanwhile.
   */
  private reading = false;

  constructor(
    readonly pt: PageTable,
    start: number,
    end: number,
    /** Read-only cursors never create nodes. */
    private readonly mutable: boolean,
  ) {
    pt.checkRange(start, end);
    this.ctx = pt.ctx;
    const nrLevels = this.ctx.consts.nrLevels;
    this.barrierStart = start;
    this.barrierEnd = end;
    this.va = start;
    this.level = nrLevels;
    this.guardLevel = nrLevels;
    // Literals sized for up to 4 levels (every architecture here): one allocation each,
    // no growth. A deeper table would grow them on the first write to a level; a level is
    // always written (`enterNode`) before it is read.
    this.nodePfn = [0, 0, 0, 0, 0];
    this.nodeWordsAt = [NO_WORDS, NO_WORDS, NO_WORDS, NO_WORDS, NO_WORDS];
    this.nodeBaseAt = [0, 0, 0, 0, 0];
    this.owner = this.ctx.newOwner();
    this.protocol = this.ctx.lockProtocol.kind;
    if (this.protocol === LOCK_SUBTREE) {
      this.ctx.reclaim.enter();
      this.reading = true;
    }
    try {
      for (let attempt = 0; ; attempt++) {
        if (this.protocol === LOCK_HOH ? this.lockDownToGuard() : this.lockGuardWithoutHoh()) return;
        if (attempt === MAX_STRAY_RETRIES) fail('CursorBusy', 'page-table nodes kept turning stray');
      }
    } catch (e) {
      this.endRead();
      throw e;
    }
  }

  /**
   * `subtree`: ends this cursor's read side of the deferred node free (`NodeReclaim`),
   * once it holds no node any more; nodes detached meanwhile may then be freed.
   */
  private endRead(): void {
    if (!this.reading) return;
    this.reading = false;
    this.ctx.reclaim.leave();
  }

  /**
   * Locks the root and goes down hand over hand to the lowest existing node covering the
   * whole range. Returns false (holding nothing) when it met a stray node and must retry.
   */
  private lockDownToGuard(): boolean {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const meta = ctx.meta;
    const sizes = ctx.sizes;
    const mask = ctx.consts.nrEntries - 1;
    // The cursor is at `barrierStart`: the slot on the way down is that address's.
    const start = this.barrierStart;
    const last = this.barrierEnd - 1;
    let level = ctx.consts.nrLevels;
    this.level = level;
    this.guardLevel = level;
    this.lockAndSetNode(level, this.pt.rootPfn);
    while (level > 1) {
      const size = sizes[level];
      const slot = Math.floor(start / size);
      if (slot !== Math.floor(last / size)) break;
      switchPoint(SWITCH_PTE_READ, this.nodePfn[level], start); // explorer switch point
      const words = this.nodeWordsAt[level];
      const at = this.nodeBaseAt[level] + 2 * (slot & mask);
      const lo = words[at];
      const hi = words[at + 1];
      if (codec.kind(lo, hi, level) !== PTE_TABLE) break;
      const parent = this.nodePfn[level];
      const child = codec.pfn(lo, hi, level);
      this.lockAndSetNode(level - 1, child);
      level--;
      this.level = level;
      unlockNode(meta, parent);
      this.guardLevel = level;
      if (meta.stray(child)) {
        // Defensive: under hand-over-hand locking a child cannot be detached while we
        // hold its parent, but a lock-free walk could see one. Start again from the root.
        unlockNode(meta, child);
        return false;
      }
    }
    return true;
  }

  /**
   * `subtree` and `global`: finds the guard node without locks (`setNode`). `subtree` then
   * locks it (false, holding nothing, if it turned stray: retry from the root) and every
   * existing node below it in range; `global` locks the root first. Throws `CursorBusy`
   * (holding nothing) where another cursor holds a lock it needs.
   */
  private lockGuardWithoutHoh(): boolean {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const meta = ctx.meta;
    const sizes = ctx.sizes;
    const mask = ctx.consts.nrEntries - 1;
    const global = this.protocol === LOCK_GLOBAL;
    if (global && !tryLockNode(meta, this.pt.rootPfn, this.owner))
      fail('CursorBusy', 'the page table is locked by another cursor');
    const start = this.barrierStart;
    const last = this.barrierEnd - 1;
    let level = ctx.consts.nrLevels;
    let node = this.pt.rootPfn;
    while (level > 1) {
      const size = sizes[level];
      const slot = Math.floor(start / size);
      if (slot !== Math.floor(last / size)) break;
      switchPoint(SWITCH_PTE_READ, node, start); // explorer switch point
      const words = nodeWords(ctx, node);
      const at = nodeBase(ctx, node) + 2 * (slot & mask);
      const lo = words[at];
      const hi = words[at + 1];
      if (codec.kind(lo, hi, level) !== PTE_TABLE) break;
      node = codec.pfn(lo, hi, level);
      level--;
    }
    this.setNode(level, node);
    this.level = level;
    this.guardLevel = level;
    if (global) return true;
    if (!tryLockNode(meta, node, this.owner))
      fail('CursorBusy', `page-table node ${node} (level ${level}) is locked by another cursor`);
    if (meta.stray(node) && !plantedBugs.skipStrayCheck) {
      unlockNode(meta, node);
      return false;
    }
    this.held = [];
    if (!this.lockSubtree(node, level, start, this.barrierEnd)) {
      this.releaseAll();
      fail('CursorBusy', `a page-table node below ${node} (level ${level}) is locked by another cursor`);
    }
    return true;
  }

  /**
   * `subtree`: locks, depth first, every existing child table of `node` (at `level`) that
   * intersects `[start, end)`, and their children in turn; false at the first one another
   * cursor holds (those locked so far are in `held`).
   */
  private lockSubtree(node: number, level: number, start: number, end: number): boolean {
    if (level === 1) return true;
    const ctx = this.ctx;
    const codec = ctx.codec;
    const words = nodeWords(ctx, node);
    const base = nodeBase(ctx, node);
    const busy = someSlotIn(ctx, level, start, end, (i, from, to) => {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      if (codec.kind(lo, hi, level) !== PTE_TABLE) return false;
      const child = codec.pfn(lo, hi, level);
      if (!tryLockNode(ctx.meta, child, this.owner)) return true;
      this.held!.push(child);
      return !this.lockSubtree(child, level - 1, from, to);
    });
    return !busy;
  }

  /** Records `pfn` as the node of `level` (no locking). */
  /** `hoh` creation: locks `pfn` (`CursorBusy` if another cursor holds it), then `setNode`. */
  private lockAndSetNode(level: number, pfn: number): void {
    if (!tryLockNode(this.ctx.meta, pfn, this.owner)) this.failBusy(level, pfn);
    this.setNode(level, pfn);
  }

  private setNode(level: number, pfn: number): void {
    const memory = this.ctx.memory;
    const slot = memory.slot(pfn);
    this.nodePfn[level] = pfn;
    this.nodeWordsAt[level] = memory.wordsOf(slot);
    this.nodeBaseAt[level] = memory.wordBase(slot);
  }

  /** Debug mode: throws `LockNotHeld` unless this cursor holds the lock covering node `pfn`. */
  private assertHoldsLockOf(pfn: number): void {
    if (!this.holdsLockOf(pfn))
      throw new MmError('LockNotHeld', `PTE write to node ${pfn} without holding its lock`);
  }

  /** Whether this cursor holds the lock covering node `pfn` (for debug checks). */
  holdsLockOf(pfn: number): boolean {
    const meta = this.ctx.meta;
    return lockOwner(meta, this.protocol === LOCK_GLOBAL ? this.pt.rootPfn : pfn) === this.owner;
  }

  /**
   * Enters `pfn` as the node of `level`. `hoh` locks it; `subtree` locks it if it is new
   * (nodes in range were locked at creation); `global` takes nothing. Throws `CursorBusy`
   * (releasing all) if another cursor holds it.
   */
  private enterNode(level: number, pfn: number): void {
    const ctx = this.ctx;
    const protocol = this.protocol;
    if (protocol === LOCK_HOH) {
      if (!tryLockNode(ctx.meta, pfn, this.owner)) this.failBusy(level, pfn);
    } else if (protocol === LOCK_SUBTREE && lockOwner(ctx.meta, pfn) !== this.owner) {
      if (!tryLockNode(ctx.meta, pfn, this.owner)) this.failBusy(level, pfn);
      this.held!.push(pfn);
    }
    const memory = ctx.memory;
    const slot = memory.slot(pfn);
    this.nodePfn[level] = pfn;
    this.nodeWordsAt[level] = memory.wordsOf(slot);
    this.nodeBaseAt[level] = memory.wordBase(slot);
  }

  /**
   * `subtree`: locks node `pfn` (at `level`), which this cursor just made, before its
   * parent's PTE links it: once linked, a cursor walking down without locks could reach it
   * and take its lock first, and both would then change the same nodes. Throws
   * `CursorBusy` (freeing the node) if its lock is taken, which only a walker that read the
   * PTE of an earlier node on the same frame can do. Other protocols: nothing (`hoh` locks
   * it on entering; under `global` the root's lock covers it). The planted bug
   * `plantedBugs.linkBeforeLock` skips it (fault injection for the explorer).
   */
  private lockNewNode(level: number, pfn: number): void {
    if (this.protocol !== LOCK_SUBTREE || plantedBugs.linkBeforeLock) return;
    if (!tryLockNode(this.ctx.meta, pfn, this.owner)) {
      this.ctx.frames.put(pfn);
      this.failBusy(level, pfn);
    }
    this.held!.push(pfn);
  }

  private failBusy(level: number, pfn: number): never {
    this.releaseAll();
    this.endRead();
    return fail('CursorBusy', `page-table node ${pfn} (level ${level}) is locked by another cursor`);
  }

  /** Releases every lock this cursor holds (nodes it holds that were freed meanwhile included). */
  private releaseAll(): void {
    const meta = this.ctx.meta;
    if (this.protocol === LOCK_HOH) {
      for (let l = this.level; l <= this.guardLevel; l++) {
        const pfn = this.nodePfn[l];
        if (lockOwner(meta, pfn) === this.owner) unlockNode(meta, pfn);
      }
    } else if (this.protocol === LOCK_SUBTREE) {
      const held = this.held;
      if (held !== null) {
        for (let i = held.length - 1; i >= 0; i--) {
          if (lockOwner(meta, held[i]) === this.owner) unlockNode(meta, held[i]);
        }
      }
      const guard = this.nodePfn[this.guardLevel];
      if (lockOwner(meta, guard) === this.owner) unlockNode(meta, guard);
    } else if (lockOwner(meta, this.pt.rootPfn) === this.owner) {
      unlockNode(meta, this.pt.rootPfn);
    }
    this.alive = false;
  }

  private checkAlive(): void {
    if (!this.alive) fail('InvalidArgument', 'the cursor was dropped');
  }

  // ---- reading the current slot ----

  /** Index of the current slot in the current node. */
  protected curIdx(): number {
    return Math.floor(this.va / this.ctx.sizes[this.level]) & (this.ctx.consts.nrEntries - 1);
  }

  private curLo(): number {
    return this.nodeWordsAt[this.level][this.nodeBaseAt[this.level] + 2 * this.curIdx()];
  }

  private curHi(): number {
    return this.nodeWordsAt[this.level][this.nodeBaseAt[this.level] + 2 * this.curIdx() + 1];
  }

  protected curKind(): number {
    return this.ctx.codec.kind(this.curLo(), this.curHi(), this.level);
  }

  /** Writes the current slot's PTE, keeping the node's `nrChildren` exact. */
  private writeCur(lo: number, hi: number): void {
    const ctx = this.ctx;
    const level = this.level;
    const node = this.nodePfn[level];
    switchPoint(SWITCH_PTE_WRITE, node, this.va); // explorer switch point
    if (ctx.debug && !this.holdsLockOf(node)) {
      throw new MmError('LockNotHeld', `PTE write to node ${node} without holding its lock`);
    }
    const words = this.nodeWordsAt[level];
    const at = this.nodeBaseAt[level] + 2 * this.curIdx();
    const wasPresent = ctx.codec.kind(words[at], words[at + 1], level) !== PTE_ABSENT;
    const isPresent = ctx.codec.kind(lo, hi, level) !== PTE_ABSENT;
    words[at] = lo;
    words[at + 1] = hi;
    if (wasPresent !== isPresent) {
      ctx.meta.setNrChildren(node, ctx.meta.nrChildren(node) + (isPresent ? 1 : -1));
    }
  }

  // ---- moving ----

  /**
   * Moves to `va` inside the cursor's range, going up (and releasing locks) as needed.
   * Throws `InvalidVaddr` outside the range, `UnalignedVaddr` if not page aligned.
   */
  jump(va: number): void {
    this.checkAlive();
    if (!(va >= this.barrierStart && va < this.barrierEnd)) {
      fail('InvalidVaddr', `jump to ${formatAddr(va)} outside the cursor range`);
    }
    if (!isAligned(va, this.ctx.consts.basePageSize))
      fail('UnalignedVaddr', `jump to unaligned ${formatAddr(va)}`);
    const sizes = this.ctx.sizes;
    for (;;) {
      const nodeSize = sizes[this.level + 1];
      const nodeStart = Math.floor(this.va / nodeSize) * nodeSize;
      if (va >= nodeStart && va < nodeStart + nodeSize) {
        this.va = va;
        return;
      }
      // The cursor may sit at the end of its range, past the guard node's last entry.
      if (this.va >= this.barrierEnd && this.level === this.guardLevel) {
        this.va = va;
        return;
      }
      this.levelUp();
    }
  }

  /** Goes to the next slot at the current level, going up at the end of a node. */
  private moveForward(): void {
    const sizes = this.ctx.sizes;
    const size = sizes[this.level];
    const next = Math.floor(this.va / size) * size + size;
    const n = this.ctx.consts.nrEntries;
    while (this.level < this.guardLevel && (Math.floor(next / sizes[this.level]) & (n - 1)) === 0)
      this.levelUp();
    this.va = next;
  }

  /**
   * Leaves the current node (releasing its lock under `hoh`). If it had no child left, the
   * `cursorLeftEmptyNode` hook runs with the cursor on the node's slot in its parent.
   */
  private levelUp(): void {
    const ctx = this.ctx;
    const child = this.nodePfn[this.level];
    const empty = ctx.meta.nrChildren(child) === 0;
    if (this.protocol === LOCK_HOH) unlockNode(ctx.meta, child);
    this.level++;
    if (empty) ctx.hooks.cursorLeftEmptyNode(this, child);
  }

  /**
   * Enters the child of the current slot: an existing table, a new table if the slot is
   * absent (mutable cursors only), or a table made by splitting an untracked huge leaf.
   */
  private levelDown(): void {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const level = this.level;
    switchPoint(SWITCH_PTE_READ, this.nodePfn[level], this.va); // explorer switch point
    const lo = this.curLo();
    const hi = this.curHi();
    const kind = codec.kind(lo, hi, level);
    let child: number;
    if (kind === PTE_TABLE) {
      child = codec.pfn(lo, hi, level);
    } else if (!this.mutable) {
      throw new MmError('InvalidArgument', 'a read-only cursor cannot create page-table nodes');
    } else if (kind === PTE_ABSENT) {
      child = allocNode(ctx, level - 1);
      this.lockNewNode(level - 1, child);
      this.writeCur(codec.tableLo(child), codec.tableHi(child));
      // The parent's PTE now holds the reference the allocation handed us.
      ctx.meta.setHandles(child, 0);
    } else {
      const prop = codec.prop(lo, hi, level);
      if ((prop & PROP_AVAIL1) === 0) fail('BadFrameState', 'cannot go below a tracked huge leaf');
      child = this.splitUntrackedHuge(codec.pfn(lo, hi, level), prop);
    }
    this.enterNode(level - 1, child);
    this.level = level - 1;
  }

  /** Replaces the current untracked huge leaf by a child table of smaller leaves. */
  private splitUntrackedHuge(firstPfn: number, prop: number): number {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const level = this.level - 1;
    const child = allocNode(ctx, level);
    const words = nodeWords(ctx, child);
    const base = nodeBase(ctx, child);
    const step = ctx.pagesAt[level];
    const n = ctx.consts.nrEntries;
    // The new node is not reachable until the parent's PTE below is written.
    for (let i = 0; i < n; i++) {
      words[base + 2 * i] = codec.leafLo(firstPfn + i * step, prop, level);
      words[base + 2 * i + 1] = codec.leafHi(firstPfn + i * step, prop, level);
    }
    ctx.meta.setNrChildren(child, n);
    this.lockNewNode(level, child);
    this.writeCur(codec.tableLo(child), codec.tableHi(child));
    ctx.meta.setHandles(child, 0);
    return child;
  }

  // ---- operations ----

  /**
   * Maps the tracked 4 KiB frame `pfn` at the current address with `prop`, taking one
   * reference to it, and moves forward one page. Throws, changing nothing: `InvalidArgument`
   * for a frame number outside memory or a property the architecture cannot encode,
   * `BadFrameState` for a frame this table may not map (`PageTable.checkMappable`), `AlreadyMapped`
   * if the page is mapped.
   */
  map(pfn: number, prop: number): void {
    this.checkAlive();
    this.pt.checkMappable(pfn);
    const ctx = this.ctx;
    // Encoded before anything changes: a property the architecture rejects throws here.
    const leafProp = prop & ~PROP_AVAIL1;
    const lo = ctx.codec.leafLo(pfn, leafProp, 1);
    const hi = ctx.codec.leafHi(pfn, leafProp, 1);
    if (this.level === 1 && this.mapInLeaf(pfn, lo, hi)) return;
    if (this.va + ctx.consts.basePageSize > this.barrierEnd)
      fail('InvalidVaddr', 'map beyond the cursor range');
    // Going down only creates nodes under absent slots; a leaf on the way (a huge page) or at
    // level 1 means the page is mapped, which is reported before anything changes.
    while (this.level > 1) {
      if (this.curKind() === PTE_LEAF) this.failMapped();
      this.levelDown();
    }
    if (this.curKind() !== PTE_ABSENT) this.failMapped();
    // Checked before the reference is taken, so that a failed map changes nothing.
    if (ctx.debug) this.assertHoldsLockOf(this.nodePfn[1]);
    ctx.frames.incRef(pfn);
    this.writeCur(lo, hi);
    this.moveForward();
  }

  /**
   * `map` of a frame the caller has just allocated (`Frames.alloc`: one handle, no other
   * reference, known to nobody else): the PTE takes over the handle's reference instead of
   * taking one more that the caller's `put` then drops, so the frame's counts are written
   * once, with plain stores, even on shared memory (`Frames.checkFresh`). Afterwards the
   * caller holds no handle. Throws, changing nothing, what `map` throws, and
   * `BadFrameState` for a frame that is not in use or has other references or handles.
   */
  mapFresh(pfn: number, prop: number): void {
    this.checkAlive();
    this.pt.checkMappable(pfn);
    const ctx = this.ctx;
    ctx.frames.checkFresh(pfn);
    const codec = ctx.codec;
    const leafProp = prop & ~PROP_AVAIL1;
    const lo = codec.leafLo(pfn, leafProp, 1);
    const hi = codec.leafHi(pfn, leafProp, 1);
    const size = ctx.sizes[1];
    if (this.va + size > this.barrierEnd) fail('InvalidVaddr', 'map beyond the cursor range');
    if (this.level === 1) {
      // The common case: an absent slot of the leaf node the cursor is in.
      const n = ctx.consts.nrEntries;
      const idx = (this.va / size) & (n - 1);
      const words = this.nodeWordsAt[1];
      const at = this.nodeBaseAt[1] + 2 * idx;
      if (codec.kind(words[at], words[at + 1], 1) === PTE_ABSENT) {
        if (ctx.debug) this.assertHoldsLockOf(this.nodePfn[1]);
        ctx.meta.setHandles(pfn, 0);
        this.writeLeafSlot(words, at, lo, hi);
        if (idx + 1 < n) this.va += size;
        else this.moveForward();
        return;
      }
    }
    while (this.level > 1) {
      if (this.curKind() === PTE_LEAF) this.failMapped();
      this.levelDown();
    }
    if (this.curKind() !== PTE_ABSENT) this.failMapped();
    // Checked before the handle is handed over, so that a failed map changes nothing.
    if (ctx.debug) this.assertHoldsLockOf(this.nodePfn[1]);
    ctx.meta.setHandles(pfn, 0);
    this.writeCur(lo, hi);
    this.moveForward();
  }

  /**
   * Maps the tracked 4 KiB frames `firstPfn .. firstPfn + nrPages - 1` at consecutive pages
   * from the current address with `prop`, taking one reference to each, and moves past
   * them: what `nrPages` calls of `map` do, a leaf node's slots per pass. Throws, changing
   * nothing: `InvalidArgument` for a count that is not a whole number (at least one page),
   * a frame number outside memory or a property the architecture cannot encode,
   * `BadFrameState` for a frame this table may not map, `InvalidVaddr` past the cursor
   * range, `AlreadyMapped` if any of the pages is mapped.
   */
  mapRun(firstPfn: number, nrPages: number, prop: number): void {
    this.checkAlive();
    const ctx = this.ctx;
    const codec = ctx.codec;
    if (!Number.isSafeInteger(nrPages) || nrPages < 1)
      fail('InvalidArgument', `mapRun: page count ${nrPages} is invalid`);
    const size = ctx.sizes[1];
    const end = this.va + nrPages * size;
    if (end > this.barrierEnd) fail('InvalidVaddr', 'mapRun beyond the cursor range');
    const leafProp = prop & ~PROP_AVAIL1;
    // Everything is checked before anything changes: each frame, the property (encoding the
    // first frame) and the pages.
    for (let i = 0; i < nrPages; i++) this.pt.checkMappable(firstPfn + i);
    const firstLo = codec.leafLo(firstPfn, leafProp, 1);
    const firstHi = codec.leafHi(firstPfn, leafProp, 1);
    if (this.findMapped(this.va, end)) fail('AlreadyMapped', 'mapRun over mapped pages');
    const meta = ctx.meta;
    const frames = ctx.frames;
    const n = ctx.consts.nrEntries;
    // Each PTE is the property's flag bits with the frame's bits (`leafFrameShift`): no
    // codec call per page.
    const shift = leafFrameShift(codec);
    const scale = 2 ** (32 - shift);
    const flagsLo = firstLo & ~codec.leafFrameBitsLo;
    const flagsHi = firstHi & ~codec.leafFrameBitsHi;
    let pfn = firstPfn;
    while (this.va < end) {
      // Only absent slots and child tables lie below: nothing in the range is mapped.
      while (this.level > 1) this.levelDown();
      const node = this.nodePfn[1];
      const va = this.va;
      switchPoint(SWITCH_PTE_WRITE, node, va); // explorer switch point
      if (ctx.debug) this.assertHoldsLockOf(node);
      const first = (va / size) & (n - 1);
      const count = Math.min(n - first, (end - va) / size) | 0;
      const words = this.nodeWordsAt[1];
      const base = this.nodeBaseAt[1];
      for (let at = base + 2 * first, stop = at + 2 * count; at < stop; at += 2, pfn++) {
        frames.incRef(pfn);
        words[at] = flagsLo | ((pfn & (scale - 1)) << shift);
        words[at + 1] = flagsHi | Math.floor(pfn / scale);
      }
      meta.setNrChildren(node, meta.nrChildren(node) + count);
      this.advancePast(va + (count - 1) * size);
    }
  }

  private failMapped(): never {
    return fail('AlreadyMapped', `${formatAddr(this.va)} is already mapped`);
  }

  /**
   * Maps `nrPages` base pages of physical memory from frame `pfn` on, untracked (no
   * reference counts), using the largest pages that alignment and the architecture allow;
   * moves past the range. Throws, changing nothing: `InvalidArgument` for a frame number or
   * count that is not a whole number (at least one page) or a property the architecture
   * cannot encode, `InvalidVaddr` past the cursor range, `AlreadyMapped` if any page is
   * mapped.
   */
  mapPhys(pfn: number, nrPages: number, prop: number): void {
    this.checkAlive();
    const ctx = this.ctx;
    const codec = ctx.codec;
    if (!Number.isSafeInteger(pfn) || pfn < 0)
      fail('InvalidArgument', `mapPhys: frame number ${pfn} is invalid`);
    if (!Number.isSafeInteger(nrPages) || nrPages < 1)
      fail('InvalidArgument', `mapPhys: page count ${nrPages} is invalid`);
    const end = this.va + nrPages * ctx.consts.basePageSize;
    if (end > this.barrierEnd) fail('InvalidVaddr', 'mapPhys beyond the cursor range');
    const leafProp = prop | PROP_AVAIL1;
    // Encoding the first and last frame as base pages checks the property and the frame
    // range before anything changes (larger leaves encode the same property and frames).
    codec.leafLo(pfn, leafProp, 1);
    codec.leafLo(pfn + nrPages - 1, leafProp, 1);
    if (this.findMapped(this.va, end)) fail('AlreadyMapped', 'mapPhys over mapped pages');
    const highest = ctx.consts.highestTranslationLevel;
    let pa = pfn;
    while (this.va < end) {
      const level = this.level;
      const size = ctx.sizes[level];
      if (
        level > highest ||
        this.pt.isSharedKernelLevel(level) ||
        this.va % size !== 0 ||
        this.va + size > end ||
        pa % ctx.pagesAt[level] !== 0 ||
        this.curKind() === PTE_TABLE
      ) {
        this.levelDown();
        continue;
      }
      this.writeCur(codec.leafLo(pa, leafProp, level), codec.leafHi(pa, leafProp, level));
      pa += ctx.pagesAt[level];
      this.moveForward();
    }
  }

  /**
   * Unmaps `[va, va + len)`: tracked frames lose one reference (and are freed with the last),
   * untracked huge pages partly inside are split first. Returns the number of tracked
   * frames unmapped. Nodes left empty stay unless a hook frees them. `dirty`, if given, is
   * told of every tracked leaf removed with its dirty bit set.
   */
  unmap(len: number, dirty: DirtyPageSink | null = null): number {
    this.checkAlive();
    const ctx = this.ctx;
    const codec = ctx.codec;
    const end = this.va + len;
    if (end > this.barrierEnd) fail('InvalidVaddr', 'unmap beyond the cursor range');
    if (!isAligned(end, ctx.consts.basePageSize)) fail('UnalignedVaddr', 'unmap of a partial page');
    let nrFrames = 0;
    while (this.va < end) {
      const level = this.level;
      if (level === 1) {
        const n = this.unmapInLeaf(end, dirty);
        if (n >= 0) {
          nrFrames += n;
          continue;
        }
      }
      const size = ctx.sizes[level];
      const lo = this.curLo();
      const hi = this.curHi();
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_ABSENT) {
        if (this.va + size > end && this.va % size === 0) break;
        this.moveForward();
        continue;
      }
      if (
        kind === PTE_TABLE ||
        this.pt.isSharedKernelLevel(level) ||
        this.va % size !== 0 ||
        this.va + size > end
      ) {
        this.levelDown();
        continue;
      }
      this.writeCur(0, 0);
      const prop = codec.prop(lo, hi, level);
      if ((prop & PROP_AVAIL1) === 0) {
        const pfn = codec.pfn(lo, hi, level);
        if (dirty !== null && (prop & PROP_DIRTY) !== 0) dirty.pageDirtied(this.va, pfn);
        ctx.frames.decRef(pfn);
        nrFrames++;
      }
      this.moveForward();
    }
    return nrFrames;
  }

  /**
   * Rewrites the property of every leaf in `[va, va + len)` to `op(prop)`. An untracked
   * huge page partly inside is split; a tracked one throws `ProtectingPartial`. An absent
   * slot throws `ProtectingInvalid` unless `allowProtectInvalid`.
   */
  protect(len: number, op: (prop: number) => number, allowProtectInvalid = true): void {
    this.checkAlive();
    const ctx = this.ctx;
    const codec = ctx.codec;
    const end = this.va + len;
    if (end > this.barrierEnd) fail('InvalidVaddr', 'protect beyond the cursor range');
    while (this.va < end) {
      const level = this.level;
      if (level === 1 && this.protectInLeaf(end, op, allowProtectInvalid)) continue;
      const size = ctx.sizes[level];
      const lo = this.curLo();
      const hi = this.curHi();
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_ABSENT) {
        if (!allowProtectInvalid) fail('ProtectingInvalid', `${formatAddr(this.va)} is not mapped`);
        this.moveForward();
        continue;
      }
      if (kind === PTE_TABLE) {
        this.levelDown();
        continue;
      }
      const prop = codec.prop(lo, hi, level);
      const partial = this.va % size !== 0 || this.va + size > end;
      if (partial) {
        if ((prop & PROP_AVAIL1) === 0)
          fail('ProtectingPartial', 'protect covers part of a tracked huge page');
        this.levelDown();
        continue;
      }
      const newProp = (op(prop) & ~PROP_AVAIL1) | (prop & PROP_AVAIL1);
      if (newProp !== prop) {
        const pfn = codec.pfn(lo, hi, level);
        this.writeCur(codec.leafLo(pfn, newProp, level), codec.leafHi(pfn, newProp, level));
      }
      this.moveForward();
    }
  }

  /**
   * Reports the slot at the current address and moves past it. Returns `QUERY_END` at the
   * end of the range; otherwise the slot's start, length, frame and property are in
   * `qVa`, `qLen`, `qPfn`, `qProp`.
   */
  query(): QueryKind {
    this.checkAlive();
    const ctx = this.ctx;
    const codec = ctx.codec;
    if (this.va >= this.barrierEnd) return QUERY_END;
    if (this.level === 1) {
      const kind = this.queryInLeaf();
      if (kind >= 0) return kind as QueryKind;
    }
    const kind = this.descendToSlot();
    const level = this.level;
    const size = ctx.sizes[level];
    this.qVa = Math.floor(this.va / size) * size;
    this.qLen = size;
    if (kind === PTE_ABSENT) {
      this.qPfn = 0;
      this.qProp = 0;
      this.moveForward();
      return QUERY_NOT_MAPPED;
    }
    const lo = this.curLo();
    const hi = this.curHi();
    this.qPfn = codec.pfn(lo, hi, level);
    this.qProp = codec.prop(lo, hi, level);
    this.moveForward();
    return this.qProp & PROP_AVAIL1 ? QUERY_MAPPED_UNTRACKED : QUERY_MAPPED;
  }

  /**
   * Reports every mapped base page of `[start, end)` into the caller's arrays, in address
   * order, as `mincore` reports pages: entry `i` is the page's address (`outVa[i]`), frame
   * (`outPfn[i]`) and property (`outProp[i]`, with `PROP_AVAIL1` for untracked pages, as
   * `qProp`). A huge leaf yields one entry per base page of it inside the range. Stops when
   * the arrays (the shortest of the three) are full, leaving the cursor on the first page
   * not reported, or at `end`; returns the number of entries written. Absent slots and
   * child tables with no children are skipped without being entered; a leaf node is read
   * in one pass. Nothing is written to the page table.
   *
   * Throws `InvalidVaddr` for a range outside the cursor's, `UnalignedVaddr` for addresses
   * that are not page aligned.
   */
  queryRange(
    start: number,
    end: number,
    outVa: Float64Array,
    outPfn: Float64Array,
    outProp: Uint32Array,
  ): number {
    if (!this.startBatch('queryRange', start, end)) return 0;
    const ctx = this.ctx;
    const codec = ctx.codec;
    const page = ctx.consts.basePageSize;
    const cap = Math.min(outVa.length, outPfn.length, outProp.length);
    const sizes = ctx.sizes;
    let n = 0;
    while (this.va < end && n < cap) {
      const level = this.level;
      if (level === 1) {
        n = this.queryRangeInLeaf(end, outVa, outPfn, outProp, n, cap);
        continue;
      }
      const lo = this.curLo();
      const hi = this.curHi();
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_TABLE) {
        const child = codec.pfn(lo, hi, level);
        if (ctx.meta.nrChildren(child) !== 0) this.enterExistingChild(child);
        else this.moveForward();
        continue;
      }
      if (kind === PTE_ABSENT) {
        this.moveForward();
        continue;
      }
      // A huge leaf: one entry per base page inside the range, as far as room allows.
      const size = sizes[level];
      const slotStart = Math.floor(this.va / size) * size;
      const slotEnd = Math.min(slotStart + size, end);
      const pfn = codec.pfn(lo, hi, level);
      const prop = codec.prop(lo, hi, level);
      let va = this.va;
      for (; va < slotEnd && n < cap; va += page, n++) {
        outVa[n] = va;
        outPfn[n] = pfn + (va - slotStart) / page;
        outProp[n] = prop;
      }
      if (va === slotStart + size || va >= end) this.moveForward();
      else this.va = va;
    }
    if (this.va > end) this.va = end;
    return n;
  }

  /**
   * The start of a batch read over `[start, end)` (`what`: the caller's name): throws if
   * the cursor was dropped, or unless the range is page aligned and inside the cursor's
   * range; returns false for an empty range, else moves the cursor to `start`.
   */
  private startBatch(what: string, start: number, end: number): boolean {
    this.checkAlive();
    if (!(start >= this.barrierStart && start <= end && end <= this.barrierEnd))
      fail('InvalidVaddr', `${what} ${formatAddr(start)}..${formatAddr(end)} outside the cursor range`);
    const page = this.ctx.consts.basePageSize;
    if (!isAligned(start, page) || !isAligned(end, page))
      fail('UnalignedVaddr', `${what} bounds are not page aligned`);
    if (start === end) return false;
    if (start !== this.va) this.jump(start);
    return true;
  }

  /**
   * Reports every base page of `[start, end)` into `out`, one byte per page from `out[0]`
   * in address order, as `mincore`'s vector: the page's `QueryKind` (`QUERY_NOT_MAPPED`,
   * `QUERY_MAPPED` for a tracked frame, `QUERY_MAPPED_UNTRACKED`); a huge leaf gives its
   * kind to each of its base pages. Stops when `out` is full, leaving the cursor on the
   * first page not reported, or at `end`; returns the number of pages reported. Absent
   * slots and child tables with no children are filled without being entered; a leaf
   * node is read in one pass, whose per-page work is two word loads and a compare against
   * the run's flag bits, each run of equal flags filled at once. Nothing is written to
   * the page table.
   *
   * Throws as `queryRange` does for bad bounds.
   */
  queryKinds(start: number, end: number, out: Uint8Array): number {
    if (!this.startBatch('queryKinds', start, end)) return 0;
    const ctx = this.ctx;
    const codec = ctx.codec;
    const page = ctx.consts.basePageSize;
    const stop = Math.min(end, start + out.length * page);
    const sizes = ctx.sizes;
    while (this.va < stop) {
      const level = this.level;
      const va = this.va;
      const at = (va - start) / page;
      if (level === 1) {
        const first = (va / page) & (ctx.consts.nrEntries - 1);
        const count = Math.min(ctx.consts.nrEntries - first, (stop - va) / page) | 0;
        const nrKinds = queryLeafKinds(
          codec,
          this.nodeWordsAt[1],
          this.nodeBaseAt[1] + 2 * first,
          count,
          out,
          at,
        );
        if (nrKinds < 0) fail('BadFrameState', `node ${this.nodePfn[1]} is a leaf node with a child table`);
        if (first + count === ctx.consts.nrEntries) this.advancePast(va + (count - 1) * page);
        else this.va = va + count * page;
        continue;
      }
      const lo = this.curLo();
      const hi = this.curHi();
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_TABLE && ctx.meta.nrChildren(codec.pfn(lo, hi, level)) !== 0) {
        this.enterExistingChild(codec.pfn(lo, hi, level));
        continue;
      }
      // An absent slot, an empty child table or a huge leaf: one kind for the whole slot.
      const size = sizes[level];
      const slotEnd = Math.floor(va / size) * size + size;
      const fill =
        kind !== PTE_LEAF
          ? QUERY_NOT_MAPPED
          : codec.prop(lo, hi, level) & PROP_AVAIL1
            ? QUERY_MAPPED_UNTRACKED
            : QUERY_MAPPED;
      const to = Math.min(slotEnd, stop);
      out.fill(fill, at, (to - start) / page);
      if (to === slotEnd) this.moveForward();
      else this.va = to;
    }
    if (this.va > end) this.va = end;
    return (this.va - start) / page;
  }

  /**
   * `queryRange` over the slots of the current leaf node below `end`, writing from entry
   * `n` up to `cap`; returns the new entry count and leaves the cursor past the last slot
   * read (going up at the end of the node).
   */
  private queryRangeInLeaf(
    end: number,
    outVa: Float64Array,
    outPfn: Float64Array,
    outProp: Uint32Array,
    n: number,
    cap: number,
  ): number {
    const ctx = this.ctx;
    const size = ctx.sizes[1];
    const nrEntries = ctx.consts.nrEntries;
    const va = this.va;
    const first = (va / size) & (nrEntries - 1);
    // A small integer (`| 0`) so that the slot indexes stay integers in the loop.
    const last = Math.min(nrEntries, first + (end - va) / size) | 0;
    const words = this.nodeWordsAt[1];
    const base = this.nodeBaseAt[1];
    const before = n;
    n = queryLeafWords(
      ctx.codec,
      words,
      base + 2 * first,
      last - first,
      va,
      size,
      outVa,
      outPfn,
      outProp,
      n,
      cap,
    );
    if (n < 0) fail('BadFrameState', `node ${this.nodePfn[1]} is a leaf node with a child table`);
    // Full arrays end the pass just past the last slot reported; otherwise it read them all.
    const i = n === cap && n > before ? first + (outVa[n - 1] - va) / size + 1 : last;
    if (i === nrEntries) this.advancePast(va + (i - 1 - first) * size);
    else this.va = va + (i - first) * size;
    return n;
  }

  /**
   * Goes down through existing child tables until the slot at `va` is a leaf or absent
   * (never creating or splitting anything); returns that slot's kind.
   */
  private descendToSlot(): number {
    const codec = this.ctx.codec;
    for (;;) {
      const lo = this.curLo();
      const hi = this.curHi();
      const kind = codec.kind(lo, hi, this.level);
      if (kind !== PTE_TABLE) return kind;
      this.enterExistingChild(codec.pfn(lo, hi, this.level));
    }
  }

  /**
   * Moves to the next mapped leaf in `[va, va + len)` and returns its address, staying
   * on it; returns -1 (leaving the cursor at the end of the searched range) if there is
   * none. Skips absent slots and child tables with no children.
   */
  findNext(len: number): number {
    this.checkAlive();
    const ctx = this.ctx;
    const codec = ctx.codec;
    if (!isAligned(len, ctx.consts.basePageSize))
      fail('UnalignedVaddr', 'findNext length is not page aligned');
    const end = this.va + len;
    if (end > this.barrierEnd) fail('InvalidVaddr', 'findNext length exceeds the cursor range');
    while (this.va < end) {
      const level = this.level;
      const lo = this.curLo();
      const hi = this.curHi();
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_LEAF) return this.va;
      if (kind === PTE_TABLE) {
        const child = codec.pfn(lo, hi, level);
        if (ctx.meta.nrChildren(child) !== 0) {
          this.enterExistingChild(child);
          continue;
        }
      }
      this.moveForward();
    }
    if (this.va > end) this.va = end;
    return -1;
  }

  /**
   * Rewrites the property of the leaf at the current address (e.g. to set accessed or dirty
   * bits as the MMU would); does not move. Throws `InvalidArgument` if nothing is mapped.
   */
  setProp(prop: number): void {
    this.checkAlive();
    const ctx = this.ctx;
    const codec = ctx.codec;
    if (this.va >= this.barrierEnd) fail('InvalidVaddr', 'setProp at the end of the cursor range');
    if (this.descendToSlot() === PTE_ABSENT) fail('InvalidArgument', `${formatAddr(this.va)} is not mapped`);
    const level = this.level;
    const lo = this.curLo();
    const hi = this.curHi();
    const newProp = (prop & ~PROP_AVAIL1) | (codec.prop(lo, hi, level) & PROP_AVAIL1);
    const pfn = codec.pfn(lo, hi, level);
    this.writeCur(codec.leafLo(pfn, newProp, level), codec.leafHi(pfn, newProp, level));
  }

  // ---- fast paths inside a leaf node (level 1) ----
  //
  // Slot indexes use `& (nrEntries - 1)`: `nrEntries` is `2 ** entryBits` and `va / size` is
  // an exact integer (addresses are page aligned), so this equals `% nrEntries` without a
  // floating-point modulo (addresses above 2^31 are not small integers).
  //
  // Each does exactly what the general code does for the slots of the current level-1 node,
  // without re-deriving the slot index, re-checking the walk or going through `writeCur`
  // per page. Where a case is not the plain one (a child table where a leaf is expected,
  // a partial page), it returns having changed nothing for that slot, and the general code
  // takes over. Measured with `mmkit bench` (soa, x86_64, 1 GiB).

  /**
   * `map` of the PTE `lo`/`hi` (frame `pfn`) when the cursor is in a leaf node and the slot
   * is absent; false otherwise.
   */
  private mapInLeaf(pfn: number, lo: number, hi: number): boolean {
    const ctx = this.ctx;
    const va = this.va;
    const size = ctx.sizes[1];
    if (va + size > this.barrierEnd) return false;
    const codec = ctx.codec;
    const n = ctx.consts.nrEntries;
    const idx = (va / size) & (n - 1);
    const words = this.nodeWordsAt[1];
    const at = this.nodeBaseAt[1] + 2 * idx;
    if (codec.kind(words[at], words[at + 1], 1) !== PTE_ABSENT) return false;
    if (ctx.debug) this.assertHoldsLockOf(this.nodePfn[1]);
    ctx.frames.incRef(pfn);
    this.writeLeafSlot(words, at, lo, hi);
    if (idx + 1 < n) this.va = va + size;
    else this.moveForward();
    return true;
  }

  /** Writes a slot of the level-1 node that was absent (as `writeCur` would). */
  private writeLeafSlot(words: Uint32Array, at: number, lo: number, hi: number): void {
    const ctx = this.ctx;
    const node = this.nodePfn[1];
    switchPoint(SWITCH_PTE_WRITE, node, this.va); // explorer switch point
    if (ctx.debug && !this.holdsLockOf(node)) {
      throw new MmError('LockNotHeld', `PTE write to node ${node} without holding its lock`);
    }
    words[at] = lo;
    words[at + 1] = hi;
    if (ctx.codec.kind(lo, hi, 1) !== PTE_ABSENT) ctx.meta.setNrChildren(node, ctx.meta.nrChildren(node) + 1);
  }

  /** `query` of a slot of a leaf node; -1 (nothing done) if the slot is a child table. */
  private queryInLeaf(): number {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const va = this.va;
    const size = ctx.sizes[1];
    const n = ctx.consts.nrEntries;
    const idx = (va / size) & (n - 1);
    const words = this.nodeWordsAt[1];
    const at = this.nodeBaseAt[1] + 2 * idx;
    const lo = words[at];
    const hi = words[at + 1];
    const kind = codec.kind(lo, hi, 1);
    if (kind === PTE_TABLE) return -1;
    this.qVa = va;
    this.qLen = size;
    let result: number;
    if (kind === PTE_ABSENT) {
      this.qPfn = 0;
      this.qProp = 0;
      result = QUERY_NOT_MAPPED;
    } else {
      this.qPfn = codec.pfn(lo, hi, 1);
      this.qProp = codec.prop(lo, hi, 1);
      result = this.qProp & PROP_AVAIL1 ? QUERY_MAPPED_UNTRACKED : QUERY_MAPPED;
    }
    if (idx + 1 < n) this.va = va + size;
    else this.moveForward();
    return result;
  }

  /**
   * `unmap` of the slots of the current leaf node below `end`; returns the tracked frames
   * unmapped, or -1 (nothing done) if the current slot is a child table. `dirty` as for `unmap`.
   */
  private unmapInLeaf(end: number, dirty: DirtyPageSink | null): number {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const meta = ctx.meta;
    const frames = ctx.frames;
    const size = ctx.sizes[1];
    const n = ctx.consts.nrEntries;
    const va = this.va;
    const first = (va / size) & (n - 1);
    const last = Math.min(n, first + Math.ceil((end - va) / size));
    const words = this.nodeWordsAt[1];
    const base = this.nodeBaseAt[1];
    const node = this.nodePfn[1];
    let nrFrames = 0;
    let i = first;
    try {
      for (; i < last; i++) {
        const at = base + 2 * i;
        const lo = words[at];
        const hi = words[at + 1];
        if (lo === 0 && hi === 0) continue;
        const kind = codec.kind(lo, hi, 1);
        if (kind === PTE_ABSENT) continue;
        if (kind === PTE_TABLE) break;
        switchPoint(SWITCH_PTE_WRITE, node, va + (i - first) * size); // explorer switch point
        if (ctx.debug && !this.holdsLockOf(node)) {
          throw new MmError('LockNotHeld', `PTE write to node ${node} without holding its lock`);
        }
        words[at] = 0;
        words[at + 1] = 0;
        meta.setNrChildren(node, meta.nrChildren(node) - 1);
        const prop = codec.prop(lo, hi, 1);
        if ((prop & PROP_AVAIL1) === 0) {
          const pfn = codec.pfn(lo, hi, 1);
          if (dirty !== null && (prop & PROP_DIRTY) !== 0) dirty.pageDirtied(va + (i - first) * size, pfn);
          frames.decRef(pfn);
          nrFrames++;
        }
      }
    } catch (e) {
      // Leave the cursor on the slot that failed, as the general loop would.
      this.va = va + (i - first) * size;
      throw e;
    }
    if (i === first) return -1;
    if (i === n) {
      this.va = va + (i - 1 - first) * size;
      this.moveForward();
    } else {
      this.va = va + (i - first) * size;
    }
    return nrFrames;
  }

  /**
   * `protect` of the slots of the current leaf node below `end`; false (nothing done) if
   * the current slot is a child table or a partial page.
   */
  private protectInLeaf(end: number, op: (prop: number) => number, allowProtectInvalid: boolean): boolean {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const size = ctx.sizes[1];
    const n = ctx.consts.nrEntries;
    const va = this.va;
    if (va + size > end) return false;
    const first = (va / size) & (n - 1);
    const last = Math.min(n, first + Math.floor((end - va) / size));
    const words = this.nodeWordsAt[1];
    const base = this.nodeBaseAt[1];
    const node = this.nodePfn[1];
    let i = first;
    try {
      for (; i < last; i++) {
        const at = base + 2 * i;
        const lo = words[at];
        const hi = words[at + 1];
        const kind = codec.kind(lo, hi, 1);
        if (kind === PTE_ABSENT) {
          if (!allowProtectInvalid)
            fail('ProtectingInvalid', `${formatAddr(va + (i - first) * size)} is not mapped`);
          continue;
        }
        if (kind === PTE_TABLE) break;
        const prop = codec.prop(lo, hi, 1);
        const newProp = (op(prop) & ~PROP_AVAIL1) | (prop & PROP_AVAIL1);
        if (newProp !== prop) {
          const pfn = codec.pfn(lo, hi, 1);
          const nlo = codec.leafLo(pfn, newProp, 1);
          const nhi = codec.leafHi(pfn, newProp, 1);
          switchPoint(SWITCH_PTE_WRITE, node, va + (i - first) * size); // explorer switch point
          if (ctx.debug && !this.holdsLockOf(node)) {
            throw new MmError('LockNotHeld', `PTE write to node ${node} without holding its lock`);
          }
          words[at] = nlo;
          words[at + 1] = nhi;
          if (codec.kind(nlo, nhi, 1) === PTE_ABSENT)
            ctx.meta.setNrChildren(node, ctx.meta.nrChildren(node) - 1);
        }
      }
    } catch (e) {
      // Leave the cursor on the slot that failed, as the general loop would.
      this.va = va + (i - first) * size;
      throw e;
    }
    if (i === first) return false;
    if (i === n) {
      this.va = va + (i - 1 - first) * size;
      this.moveForward();
    } else {
      this.va = va + (i - first) * size;
    }
    return true;
  }

  private enterExistingChild(child: number): void {
    this.enterNode(this.level - 1, child);
    this.level--;
  }

  /** Whether any leaf is mapped in `[start, end)` (read without moving the cursor). */
  private findMapped(start: number, end: number): boolean {
    return this.pt.hasMappingIn(this.nodePfn[this.guardLevel], this.guardLevel, start, end);
  }

  /**
   * Releases every lock, going up level by level (so `cursorLeftEmptyNode` sees every
   * node left empty). If the guard node is below the root and empty, the
   * `cursorDroppedEmptyGuard` hook runs once the cursor holds nothing. A second `drop()`
   * throws `InvalidArgument`; after an operation failed with `CursorBusy` (which released
   * everything already) one `drop()` is still allowed and does nothing.
   */
  drop(): void {
    if (this.dropped) fail('InvalidArgument', 'the cursor was dropped twice');
    this.dropped = true;
    if (!this.alive) {
      this.endRead();
      return;
    }
    const ctx = this.ctx;
    while (this.level < this.guardLevel) this.levelUp();
    const guard = this.nodePfn[this.guardLevel];
    const emptyGuard = this.guardLevel < ctx.consts.nrLevels && ctx.meta.nrChildren(guard) === 0;
    if (this.protocol === LOCK_HOH) {
      unlockNode(ctx.meta, guard);
      this.alive = false;
    } else {
      this.releaseAll();
    }
    if (emptyGuard) ctx.hooks.cursorDroppedEmptyGuard(this.pt, this.barrierStart);
    this.endRead();
  }

  // ---- for hooks (exported through `@mmkit/core/internal`) ----

  /**
   * Writes the PTE of the current slot (`lo`, `hi`), keeping the node's `nrChildren`
   * exact. The cursor must hold the node's lock (checked in debug mode). Hooks use it to
   * detach a child node (`0, 0`) from the slot that references it.
   */
  writePte(lo: number, hi: number): void {
    this.checkAlive();
    this.writeCur(lo, hi);
  }

  /** The id this cursor's locks carry (for a `LeafSlot` borrowed from it). */
  get lockOwnerId(): number {
    return this.owner;
  }

  /** The frame of the node the cursor holds at `level` (between `level` and `guardLevel`). */
  nodeAt(level: number): number {
    return this.nodePfn[level];
  }

  /**
   * Goes down from the current slot to its leaf node (level 1), creating nodes under
   * absent slots (mutable cursors only). Returns false, staying where it is, if a leaf
   * (a huge page) is on the way.
   */
  enterLeafNode(): boolean {
    this.checkAlive();
    while (this.level > 1) {
      if (this.curKind() === PTE_LEAF) return false;
      this.levelDown();
    }
    return true;
  }

  /** Moves past the slot at `va` (in the current node), going up at the end of the node. */
  advancePast(va: number): void {
    this.checkAlive();
    this.va = va;
    this.moveForward();
  }

  /**
   * Goes down from the current slot to the node at `level`, as `map` does on its way: into
   * child tables, creating nodes under absent slots (mutable cursors only) and splitting an
   * untracked huge leaf; a tracked huge leaf on the way throws `BadFrameState`. Does nothing
   * at or below `level`.
   */
  goDownTo(level: number): void {
    this.checkAlive();
    while (this.level > level) this.levelDown();
  }

  /**
   * Goes up to the node at `level` (at most the guard's), leaving nodes as the end of a
   * node does: their locks go under `hoh`, and a node left with no child runs the
   * `cursorLeftEmptyNode` hook.
   */
  goUpTo(level: number): void {
    this.checkAlive();
    if (level > this.guardLevel) fail('InvalidArgument', `level ${level} is above the guard node`);
    while (this.level < level) this.levelUp();
  }
}

/**
 * Reports the mapped slots among `nrSlots` level-1 PTEs of `words` from word `at` on, the
 * first at address `va` (slots `size` apart), into the caller's arrays from entry `n` on,
 * stopping when entry `cap` would be written (see `CursorMut.queryRange`). Returns the new
 * entry count, or -1 if a slot is a child table (a leaf node may hold none).
 *
 * Per slot: two word loads, one compare against the run's flag bits and, for a mapped
 * slot, three stores, the address advancing by addition and the frame number read from
 * the frame bits with no call (`leafFrameShift`). `kind` and `prop` depend on the flag
 * bits alone, so they are decoded once per run of equal flags (a mapping's pages share
 * them), the run starting with none (no word has all bits set). The bound on entries is
 * hoisted out of the inner loop: each chunk of slots is at most as long as the room left.
 */
function queryLeafWords(
  codec: PteCodec,
  words: Uint32Array,
  at: number,
  nrSlots: number,
  va: number,
  size: number,
  outVa: Float64Array,
  outPfn: Float64Array,
  outProp: Uint32Array,
  n: number,
  cap: number,
): number {
  const flagsLo = ~codec.leafFrameBitsLo;
  const flagsHi = ~codec.leafFrameBitsHi;
  const frameHi = codec.leafFrameBitsHi;
  const shift = leafFrameShift(codec);
  const scale = 2 ** (32 - shift);
  let runLo = -1;
  let runHi = -1;
  let runMapped = false;
  let runProp = 0;
  let i = 0;
  while (i < nrSlots && n < cap) {
    const stop = Math.min(nrSlots, i + (cap - n));
    let slotVa = va + i * size;
    for (; i < stop; i++, at += 2, slotVa += size) {
      const lo = words[at];
      const hi = words[at + 1];
      if ((lo & flagsLo) !== runLo || (hi & flagsHi) !== runHi) {
        if (lo === 0 && hi === 0) continue;
        const kind = codec.kind(lo, hi, 1);
        if (kind === PTE_TABLE) return -1;
        runMapped = kind === PTE_LEAF;
        runProp = runMapped ? codec.prop(lo, hi, 1) : 0;
        runLo = lo & flagsLo;
        runHi = hi & flagsHi;
      }
      if (!runMapped) continue;
      outVa[n] = slotVa;
      outPfn[n] = (lo >>> shift) + (hi & frameHi) * scale;
      outProp[n] = runProp;
      n++;
    }
  }
  return n;
}

/**
 * Writes the `QueryKind` of `nrSlots` level-1 PTEs of `words` from word `at` on into
 * `out` from index `to` on (see `CursorMut.queryKinds`); returns `nrSlots`, or -1 if a
 * slot is a child table (a leaf node may hold none). The kind depends on the flag bits
 * alone: it is decoded at the start of each run of entries with equal flag bits, the run
 * is found by comparing flag bits only, and its bytes are written with one `fill`.
 */
function queryLeafKinds(
  codec: PteCodec,
  words: Uint32Array,
  at: number,
  nrSlots: number,
  out: Uint8Array,
  to: number,
): number {
  const flagsLo = ~codec.leafFrameBitsLo;
  const flagsHi = ~codec.leafFrameBitsHi;
  let i = 0;
  while (i < nrSlots) {
    const lo = words[at];
    const hi = words[at + 1];
    const kind = codec.kind(lo, hi, 1);
    if (kind === PTE_TABLE) return -1;
    const runKind =
      kind === PTE_ABSENT
        ? QUERY_NOT_MAPPED
        : codec.prop(lo, hi, 1) & PROP_AVAIL1
          ? QUERY_MAPPED_UNTRACKED
          : QUERY_MAPPED;
    const runLo = lo & flagsLo;
    const runHi = hi & flagsHi;
    const from = i;
    for (i++, at += 2; i < nrSlots; i++, at += 2) {
      if ((words[at] & flagsLo) !== runLo || (words[at + 1] & flagsHi) !== runHi) break;
    }
    out.fill(runKind, to + from, to + i);
  }
  return nrSlots;
}

/**
 * The read-only cursor: the same walk and the same locks (cursors over overlapping ranges
 * are serialized either way), but it never creates, splits or writes anything.
 */
export class Cursor {
  private readonly inner: CursorMut;
  constructor(pt: PageTable, start: number, end: number) {
    this.inner = new CursorMut(pt, start, end, false);
  }
  get va(): number {
    return this.inner.va;
  }
  get qVa(): number {
    return this.inner.qVa;
  }
  get qLen(): number {
    return this.inner.qLen;
  }
  get qPfn(): number {
    return this.inner.qPfn;
  }
  get qProp(): number {
    return this.inner.qProp;
  }
  jump(va: number): void {
    this.inner.jump(va);
  }
  query(): QueryKind {
    return this.inner.query();
  }
  findNext(len: number): number {
    return this.inner.findNext(len);
  }
  queryRange(
    start: number,
    end: number,
    outVa: Float64Array,
    outPfn: Float64Array,
    outProp: Uint32Array,
  ): number {
    return this.inner.queryRange(start, end, outVa, outPfn, outProp);
  }
  queryKinds(start: number, end: number, out: Uint8Array): number {
    return this.inner.queryKinds(start, end, out);
  }
  drop(): void {
    this.inner.drop();
  }
  /** Iterates the slots of the remaining range as plain objects (for tools, not hot paths). */
  *[Symbol.iterator](): Generator<QueryItem> {
    for (let kind = this.query(); kind !== QUERY_END; kind = this.query()) {
      yield { kind, va: this.qVa, len: this.qLen, pfn: this.qPfn, prop: this.qProp };
    }
  }
}

export interface QueryItem {
  kind: QueryKind;
  va: number;
  len: number;
  pfn: number;
  prop: number;
}
