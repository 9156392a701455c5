import { PROP_AVAIL1 } from '../arch/page-prop.ts';
import { PTE_ABSENT, PTE_TABLE } from '../arch/pte-codec.ts';
import { fail, formatAddr, MmError } from '../errors.ts';
import type { PageTableContext } from './context.ts';
import type { CursorMut } from './cursor.ts';
import { lockOwner, tryLockNode, unlockIfOwner, unlockNode } from './lock.ts';
import { LOCK_GLOBAL, LOCK_HOH, LOCK_SUBTREE } from './lock-protocol.ts';
import type { PageTable } from './page-table.ts';

/** Bound on restarts from the root when the leaf node turned stray under us (as the cursor's). */
const MAX_STRAY_RETRIES = 64;

/**
 * The words of no node: what a slot's `words` and `cachedWords` hold before its first lock
 * and walk (never read then: the cache's span is empty and `words` is read only while
 * locked). Shared by every slot, so that a new slot (one per page table) allocates none.
 */
const NO_WORDS = new Uint32Array(0);

/**
 * One base page's PTE in its existing leaf node (level 1), for the operations that touch a
 * single page, a page fault above all ("one page, one node"): no cursor, no walk state,
 * one node.
 *
 * `lock(va)` takes exactly the locks a cursor over `[va, va + page)` would hold once it has
 * reached the leaf node, under the kernel's lock protocol:
 * - `subtree`: walks down without locks, locks the leaf node, and starts again from the
 *   root if that node turned `stray` (detached under us);
 * - `hoh`: locks the root and goes down hand over hand (lock the child, release the
 *   parent), ending with the leaf node's lock alone;
 * - `global`: locks the root (the table's one lock) and walks down.
 * It returns false, holding nothing, when the page has no leaf node (an absent slot or a
 * huge leaf on the way): the caller then takes a cursor, which creates or splits nodes.
 * A lock another cursor holds makes it throw `CursorBusy`, holding nothing.
 *
 * While locked, `kind`/`pfn`/`prop` read the PTE and `map`/`setProp`/`replace` write it,
 * keeping the cursor's invariants (the node's `nrChildren` equals its non-absent PTEs; a
 * tracked leaf holds one reference to its frame); debug mode checks the lock on every
 * write. `unlock()` releases the lock; if the leaf node is left with no child it then runs
 * the `cursorDroppedEmptyGuard` hook, as dropping the cursor would.
 *
 * A slot can also be borrowed from a cursor that sits on a leaf node (`borrow`): it then
 * writes under the cursor's lock, and `unlock()` leaves the lock to the cursor.
 *
 * Walk cache: the slot remembers the leaf node its last walk reached, the span of addresses
 * that node serves and the nodes above it; the next `lock` in that span takes the node's
 * lock without walking (faults run through a table's pages in order, 512 to a leaf node).
 * Why the cached node is the one the walk would reach:
 * - it is used only while the node-link generation (`NodeReclaim.linkGeneration`, one
 *   count for every view of the kernel) is what it was before the walk that found it. That
 *   count is bumped whenever a node is freed, by any thread (so the cached frame was not
 *   freed, hence not reused as another node, of this table or another, or as data), and
 *   whenever `movePtes` moves an entry (so no node was relinked to serve other addresses,
 *   as a 2 MiB-aligned mremap does with whole leaf nodes). Creating nodes does not bump
 *   it: a node never replaces an existing table entry;
 * - a node detached and not freed yet (under `subtree` a detached node waits for its
 *   grace period) is `stray`: recycling marks it before clearing its parent's entry, and
 *   the slot checks the flag once it holds the lock, as the lock-free walk does;
 * - its ancestors are detached only once empty, so only after it, and never moved.
 * Under each protocol a hit takes the locks the walk ends with, and yields to the walk
 * (which then reports `CursorBusy` exactly as before) wherever the walk would meet a lock
 * another cursor holds.
 *
 * On metadata of this thread alone (a private buffer, or shared memory in UP mode: one view,
 * see `PageTableContext.smp`) nothing runs between the checks and the lock:
 * - `subtree`: the leaf node's lock (the walk takes no other), without becoming a reader
 *   of the deferred node free (no node was freed since the walk, and a locked node cannot
 *   be detached: detaching takes its lock);
 * - `hoh`: the leaf node's lock, after checking that no cursor holds a node above it (a
 *   live cursor holds the nodes from its guard down, so a held ancestor is on this path);
 * - `global`: the root's lock.
 *
 * On shared metadata in SMP mode (other threads' views free, reuse and relink nodes meanwhile) the
 * cached node is only an address read earlier, as the lock-free walk's are, but held
 * across reader epochs: the frame may have been retired, freed and allocated again (as
 * any frame) at any moment, and a lock taken on it then is overwritten by the new node's
 * allocation, or is the lock of another table's node. So:
 * - `subtree`: the hit takes the lock word first (`Atomics.compareExchange`), then reads
 *   the generation and `stray`. The generation unchanged after the lock was taken means
 *   the frame was not freed up to then, so the lock is the node's; not `stray` means the
 *   node was still linked, and it cannot be detached while the lock is held (detaching
 *   takes it), so it serves the span until `unlock()`, without a reader of the deferred
 *   free. Otherwise the hit releases the word only if it still holds its owner id
 *   (`unlockIfOwner`): a node allocated in the frame meanwhile starts unlocked and may be
 *   locked by its cursor already, whose lock a plain release would drop. A hit on a foreign
 *   node holds its lock for those two reads only (that node's cursor meets `CursorBusy`
 *   and retries, as on any other lock);
 * - `global`: the root's lock first (the root is never freed while the table lives), then
 *   the generation: with the table's one lock held nothing of it changes, and a node
 *   detached under `global` is freed at once, which bumps the generation;
 * - `hoh`: no cache; every `lock` walks. A node detached under `hoh` is freed at once (no
 *   grace period: the walk reaches a node only under its parent's lock), so nothing keeps
 *   the cached frame from being freed and allocated again between any check and the
 *   compare-and-swap; and the "no ancestor held" check reads the ancestors' lock words one
 *   by one, which another thread's hand-over-hand descent can pass in between.
 *
 * The mode is read at each `lock`, so a slot goes on across the switch to SMP mode
 * (`Kernel.sharedState()`): a node cached in UP mode is served by the SMP checks above
 * (their generation is the one read before that walk, as theirs would be), except under
 * `hoh`, where SMP mode ignores the cache; a lock taken in UP mode is released with
 * `Atomics` after the switch.
 */
export class LeafSlot {
  /** The page's address (valid while locked). */
  va = 0;
  /** The leaf node. */
  node = 0;
  private words: Uint32Array = NO_WORDS;
  /** Index in `words` of the PTE's low word. */
  private at = 0;
  /** The lock covering the node (the node's own, or the root's under `global`). */
  private lockPfn = 0;
  private owner = 0;
  /** 0: not locked; 1: holds its own lock; 2: borrowed from a cursor. */
  private state = 0;
  /**
   * After a `lock` that returned false: whether its walk stopped at an absent entry (the
   * page is not mapped, and no PTE of it exists), rather than at a huge leaf. Read under
   * the locks of that walk; like any result of a walk, it may change once they are gone.
   */
  walkMetAbsent = false;
  /** `subtree`: whether this slot is a reader of the deferred node free (`NodeReclaim`) until `unlock()`. */
  private reading = false;
  private readonly ctx: PageTableContext;
  /** Walk cache (see the class comment): the leaf node, its words and its PTE 0's index. */
  private cachedNode = 0;
  private cachedWords: Uint32Array = NO_WORDS;
  private cachedBase = 0;
  /** The span `[cachedStart, cachedEnd)` the cached node serves (empty: no entry). */
  private cachedStart = 0;
  private cachedEnd = 0;
  /** The node-link generation before the walk that filled the cache. */
  private cachedGeneration = 0;
  /** The nodes above the cached node, by level (`[2, nrLevels]`). */
  private readonly cachedPath: number[];
  /** The nodes the current walk passed, by level (scratch of every walk). */
  private readonly path: number[];

  constructor(readonly pt: PageTable) {
    const ctx = pt.ctx;
    this.ctx = ctx;
    this.path = new Array<number>(ctx.consts.nrLevels + 1).fill(0);
    this.cachedPath = new Array<number>(ctx.consts.nrLevels + 1).fill(0);
  }

  /** Whether the slot is locked (or borrowed) and not yet unlocked. */
  get isLocked(): boolean {
    return this.state !== 0;
  }

  /**
   * Locks the leaf node holding the PTE of the page at `va` (page aligned, in the table's
   * half); false (holding nothing) if the page has no leaf node (`walkMetAbsent` then tells
   * an absent entry from a huge leaf). See the class comment.
   */
  lock(va: number): boolean {
    if (this.state !== 0) fail('InvalidArgument', 'the leaf slot is already locked');
    const pt = this.pt;
    const ctx = this.ctx;
    const page = ctx.consts.basePageSize;
    if (!(va >= pt.lower && va < pt.upper && Math.floor(va / page) * page === va))
      pt.checkRange(va, va + page);
    if (pt.isDestroyed) fail('InvalidArgument', 'the page table was destroyed');
    this.walkMetAbsent = false;
    // Locks can change PTEs: the table's `check()` cache must not outlive them.
    pt.generation++;
    const owner = ctx.newOwner();
    const protocol = ctx.lockProtocol.kind;
    if (va < this.cachedEnd && va >= this.cachedStart) {
      if (
        ctx.smp
          ? protocol !== LOCK_HOH && this.lockCachedShared(va, owner, protocol)
          : ctx.reclaim.linkGeneration() === this.cachedGeneration && this.lockCached(va, owner, protocol)
      )
        return true;
    }
    return this.lockByWalk(va, owner, protocol);
  }

  /**
   * `lock` by the walk. `subtree` walks without locks: the slot is a reader of the deferred
   * node free until `unlock()`. (With one view, private metadata or UP mode, a walk cache
   * hit needs no reader: no node was freed since the walk that filled it, and once locked
   * the node cannot be detached, which takes its lock.)
   */
  private lockByWalk(va: number, owner: number, protocol: number): boolean {
    const ctx = this.ctx;
    const reading = protocol === LOCK_SUBTREE;
    if (reading) ctx.reclaim.enter();
    try {
      if (this.lockLeaf(va, owner, protocol)) {
        this.reading = reading;
        return true;
      }
    } catch (e) {
      if (reading) ctx.reclaim.leave();
      throw e;
    }
    if (reading) ctx.reclaim.leave();
    return false;
  }

  /** The walk, retried from the root while the leaf node turns stray; fills the walk cache. */
  private lockLeaf(va: number, owner: number, protocol: number): boolean {
    const ctx = this.ctx;
    const generation = ctx.reclaim.linkGeneration();
    const pt = this.pt;
    for (let attempt = 0; attempt <= MAX_STRAY_RETRIES; attempt++) {
      const node =
        protocol === LOCK_HOH ? this.lockHandOverHand(va, owner) : this.lockWithoutHoh(va, owner, protocol);
      if (node === 0) return false;
      if (node > 0) {
        const memory = ctx.memory;
        const slot = memory.slot(node);
        const words = memory.wordsOf(slot);
        const base = memory.wordBase(slot);
        this.take(va, node, owner, protocol === LOCK_GLOBAL ? pt.rootPfn : node, words, base);
        if (!ctx.smp || protocol !== LOCK_HOH) {
          const span = ctx.sizes[2];
          this.cachedNode = node;
          this.cachedWords = words;
          this.cachedBase = base;
          this.cachedStart = Math.floor(va / span) * span;
          this.cachedEnd = this.cachedStart + span;
          this.cachedGeneration = generation;
          const path = this.path;
          const cachedPath = this.cachedPath;
          for (let level = path.length - 1; level >= 2; level--) cachedPath[level] = path[level];
        }
        return true;
      }
    }
    return fail('CursorBusy', 'page-table nodes kept turning stray');
  }

  /**
   * The walk cache's hit with one view, private metadata or UP mode (`va` in the cached
   * span, the generation unchanged): takes the locks the walk would end with, or returns false holding nothing
   * where the walk must decide (a lock another cursor holds, a node turned stray). See the
   * class comment.
   */
  private lockCached(va: number, owner: number, protocol: number): boolean {
    const meta = this.ctx.meta;
    // Plain loads and stores of the lock words, as `lock.ts` does for metadata no other
    // thread sees (the only kind this path runs on); for the same reason no switch point:
    // the explorer's CPUs share their metadata.
    const locks = meta.lockArray;
    const node = this.cachedNode;
    let lockPfn = node;
    if (protocol === LOCK_GLOBAL) {
      lockPfn = this.pt.rootPfn;
    } else if (protocol === LOCK_HOH) {
      const path = this.cachedPath;
      for (let level = path.length - 1; level >= 2; level--)
        if (locks[meta.lockIndex(path[level])] !== 0) return false;
    }
    const lockAt = meta.lockIndex(lockPfn);
    if (locks[lockAt] !== 0) return false;
    locks[lockAt] = owner;
    if (meta.stray(node)) {
      locks[lockAt] = 0;
      this.cachedEnd = 0;
      return false;
    }
    this.take(va, node, owner, lockPfn, this.cachedWords, this.cachedBase);
    return true;
  }

  /**
   * The walk cache's hit on shared metadata (`va` in the cached span; `subtree` or
   * `global`): the lock, then the checks, as the class comment gives, or false holding
   * nothing (and no reader) where the walk must decide.
   */
  private lockCachedShared(va: number, owner: number, protocol: number): boolean {
    const ctx = this.ctx;
    const meta = ctx.meta;
    const reclaim = ctx.reclaim;
    const node = this.cachedNode;
    const generation = this.cachedGeneration;
    if (protocol === LOCK_GLOBAL) {
      const root = this.pt.rootPfn;
      if (!tryLockNode(meta, root, owner)) return false;
      if (reclaim.linkGeneration() !== generation) {
        unlockNode(meta, root);
        this.cachedEnd = 0;
        return false;
      }
      this.take(va, node, owner, root, this.cachedWords, this.cachedBase);
      return true;
    }
    // The lock first, then the checks: the frame may have been freed and allocated again
    // since the walk, so the lock may not be the node's (released only if still ours).
    if (!tryLockNode(meta, node, owner)) return false;
    if (reclaim.linkGeneration() !== generation || meta.stray(node)) {
      unlockIfOwner(meta, node, owner);
      this.cachedEnd = 0;
      return false;
    }
    this.take(va, node, owner, node, this.cachedWords, this.cachedBase);
    return true;
  }

  /** Points the locked slot at `va`'s PTE in leaf node `node` (PTE 0 at `words[base]`). */
  private take(
    va: number,
    node: number,
    owner: number,
    lockPfn: number,
    words: Uint32Array,
    base: number,
  ): void {
    const ctx = this.ctx;
    this.va = va;
    this.node = node;
    this.owner = owner;
    this.lockPfn = lockPfn;
    this.words = words;
    this.at = base + 2 * ((va / ctx.consts.basePageSize) & (ctx.consts.nrEntries - 1));
    this.state = 1;
  }

  /**
   * `hoh`: locks the root and goes down hand over hand to the leaf node of `va`. Returns
   * the leaf node (locked), 0 (holding nothing) if there is none, -1 (holding nothing) if a
   * node on the way turned stray.
   */
  private lockHandOverHand(va: number, owner: number): number {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const meta = ctx.meta;
    const memory = ctx.memory;
    const mask = ctx.consts.nrEntries - 1;
    const path = this.path;
    let level = ctx.consts.nrLevels;
    let node = this.pt.rootPfn;
    if (!tryLockNode(meta, node, owner)) busy(node, level);
    while (level > 1) {
      path[level] = node;
      const slot = memory.slot(node);
      const words = memory.wordsOf(slot);
      const at = memory.wordBase(slot) + 2 * (Math.floor(va / ctx.sizes[level]) & mask);
      const lo = words[at];
      const hi = words[at + 1];
      const kind = codec.kind(lo, hi, level);
      if (kind !== PTE_TABLE) {
        this.walkMetAbsent = kind === PTE_ABSENT;
        unlockNode(meta, node);
        return 0;
      }
      const child = codec.pfn(lo, hi, level);
      if (!tryLockNode(meta, child, owner)) {
        unlockNode(meta, node);
        busy(child, level - 1);
      }
      unlockNode(meta, node);
      node = child;
      level--;
      if (meta.stray(node)) {
        unlockNode(meta, node);
        return -1;
      }
    }
    return node;
  }

  /**
   * `subtree` and `global`: walks down to the leaf node of `va` without locks (`global`
   * holds the root's lock first), then `subtree` locks the leaf node. Returns it, 0 (holding
   * nothing) if there is none, -1 (holding nothing) if it turned stray.
   */
  private lockWithoutHoh(va: number, owner: number, protocol: number): number {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const meta = ctx.meta;
    const memory = ctx.memory;
    const mask = ctx.consts.nrEntries - 1;
    const root = this.pt.rootPfn;
    const global = protocol === LOCK_GLOBAL;
    if (global && !tryLockNode(meta, root, owner))
      fail('CursorBusy', 'the page table is locked by another cursor');
    const path = this.path;
    let level = ctx.consts.nrLevels;
    let node = root;
    while (level > 1) {
      path[level] = node;
      const slot = memory.slot(node);
      const words = memory.wordsOf(slot);
      const at = memory.wordBase(slot) + 2 * (Math.floor(va / ctx.sizes[level]) & mask);
      const lo = words[at];
      const hi = words[at + 1];
      const kind = codec.kind(lo, hi, level);
      if (kind !== PTE_TABLE) {
        this.walkMetAbsent = kind === PTE_ABSENT;
        if (global) unlockNode(meta, root);
        return 0;
      }
      node = codec.pfn(lo, hi, level);
      level--;
    }
    if (global) return node;
    if (!tryLockNode(meta, node, owner)) busy(node, 1);
    if (meta.stray(node)) {
      unlockNode(meta, node);
      return -1;
    }
    return node;
  }

  /**
   * Points this slot at the page `cursor` sits on, in the leaf node the cursor holds
   * (`cursor.level` must be 1); the slot writes under the cursor's lock and its `unlock()`
   * leaves that lock to the cursor.
   */
  borrow(cursor: CursorMut): void {
    if (this.state !== 0) fail('InvalidArgument', 'the leaf slot is already locked');
    if (cursor.level !== 1) fail('InvalidArgument', 'the cursor is not on a leaf node');
    const ctx = this.ctx;
    const node = cursor.nodeAt(1);
    const memory = ctx.memory;
    const slot = memory.slot(node);
    const va = cursor.va;
    this.va = va;
    this.node = node;
    this.owner = cursor.lockOwnerId;
    this.lockPfn = ctx.lockProtocol.kind === LOCK_GLOBAL ? this.pt.rootPfn : node;
    this.words = memory.wordsOf(slot);
    this.at = memory.wordBase(slot) + 2 * ((va / ctx.consts.basePageSize) & (ctx.consts.nrEntries - 1));
    this.state = 2;
  }

  /**
   * Releases the slot's lock (a borrowed slot leaves it to its cursor). A leaf node left
   * without children then goes to the `cursorDroppedEmptyGuard` hook, as at a cursor's drop.
   */
  unlock(): void {
    const state = this.state;
    if (state === 0) return;
    this.state = 0;
    if (state === 2) return;
    const ctx = this.ctx;
    const meta = ctx.meta;
    if (!ctx.smp) meta.lockArray[meta.lockIndex(this.lockPfn)] = 0;
    else unlockNode(meta, this.lockPfn);
    if (meta.nrChildren(this.node) === 0) this.leftEmpty();
    if (this.reading) {
      this.reading = false;
      ctx.reclaim.leave();
    }
  }

  /**
   * `unlock` of a leaf node left without children: the `cursorDroppedEmptyGuard` hook, as
   * at a cursor's drop, and under `subtree` as a reader of the deferred node free (as the
   * cursor is), also after a walk cache hit with one view, which took no reader.
   */
  private leftEmpty(): void {
    const ctx = this.ctx;
    const enter = !this.reading && ctx.lockProtocol.kind === LOCK_SUBTREE;
    if (enter) ctx.reclaim.enter();
    try {
      ctx.hooks.cursorDroppedEmptyGuard(this.pt, this.va);
    } finally {
      if (enter) ctx.reclaim.leave();
    }
  }

  /** The PTE's kind (`PTE_ABSENT` or `PTE_LEAF`: a leaf node holds no child table). */
  kind(): number {
    return this.ctx.codec.kind(this.words[this.at], this.words[this.at + 1], 1);
  }

  /** The mapped frame (the PTE must be a leaf). */
  pfn(): number {
    return this.ctx.codec.pfn(this.words[this.at], this.words[this.at + 1], 1);
  }

  /** The mapped property, with `PROP_AVAIL1` for an untracked page (the PTE must be a leaf). */
  prop(): number {
    return this.ctx.codec.prop(this.words[this.at], this.words[this.at + 1], 1);
  }

  /**
   * Maps the tracked frame `pfn` with `prop` into the absent slot, taking one reference.
   * Throws, changing nothing, as `CursorMut.map`: `InvalidArgument` for a frame outside
   * memory or a property the architecture cannot encode, `BadFrameState` for a frame this
   * table may not map, `AlreadyMapped` if the page is mapped.
   */
  map(pfn: number, prop: number): void {
    this.mapTaking(pfn, prop, false);
  }

  /**
   * `map` of a frame the caller has just allocated (`Frames.alloc`: its one handle, no
   * other reference, known to nobody else): the PTE takes over the handle's reference
   * instead of taking one more and the caller putting the handle, as a new page-table
   * node's parent PTE does. Throws `BadFrameState`, changing nothing, for a frame with other
   * references or handles.
   */
  mapFresh(pfn: number, prop: number): void {
    this.mapTaking(pfn, prop, true);
  }

  private mapTaking(pfn: number, prop: number, fresh: boolean): void {
    this.checkWritable();
    this.pt.checkMappable(pfn);
    if (fresh) this.ctx.frames.checkFresh(pfn);
    const ctx = this.ctx;
    const codec = ctx.codec;
    const leafProp = prop & ~PROP_AVAIL1;
    const lo = codec.leafLo(pfn, leafProp, 1);
    const hi = codec.leafHi(pfn, leafProp, 1);
    const words = this.words;
    const at = this.at;
    if (codec.kind(words[at], words[at + 1], 1) !== PTE_ABSENT)
      fail('AlreadyMapped', `${formatAddr(this.va)} is already mapped`);
    const meta = ctx.meta;
    if (fresh) meta.setHandles(pfn, 0);
    else ctx.frames.incRef(pfn);
    words[at] = lo;
    words[at + 1] = hi;
    meta.setNrChildren(this.node, meta.nrChildren(this.node) + 1);
  }

  /**
   * Rewrites the mapped page's property to `prop` (its `PROP_AVAIL1` kept), as
   * `CursorMut.setProp`. Throws `InvalidArgument` if the page is not mapped.
   */
  setProp(prop: number): void {
    this.checkWritable();
    const codec = this.ctx.codec;
    const words = this.words;
    const at = this.at;
    const lo = words[at];
    const hi = words[at + 1];
    if (codec.kind(lo, hi, 1) === PTE_ABSENT) fail('InvalidArgument', `${formatAddr(this.va)} is not mapped`);
    const newProp = (prop & ~PROP_AVAIL1) | (codec.prop(lo, hi, 1) & PROP_AVAIL1);
    const pfn = codec.pfn(lo, hi, 1);
    words[at] = codec.leafLo(pfn, newProp, 1);
    words[at + 1] = codec.leafHi(pfn, newProp, 1);
  }

  /**
   * Replaces the mapped page by the tracked frame `pfn` with `prop`: what unmapping the
   * page and mapping `pfn` there do (the old frame, if tracked, loses its reference and is
   * freed with its last; `pfn` gains one). Throws, changing nothing, as `map` does for
   * `pfn` and `prop`, and `InvalidArgument` if the page is not mapped.
   */
  replace(pfn: number, prop: number): void {
    this.replaceTaking(pfn, prop, false);
  }

  /** `replace` by a frame just allocated, whose handle the PTE takes over (as `mapFresh`). */
  replaceFresh(pfn: number, prop: number): void {
    this.replaceTaking(pfn, prop, true);
  }

  private replaceTaking(pfn: number, prop: number, fresh: boolean): void {
    this.checkWritable();
    this.pt.checkMappable(pfn);
    if (fresh) this.ctx.frames.checkFresh(pfn);
    const ctx = this.ctx;
    const codec = ctx.codec;
    const words = this.words;
    const at = this.at;
    const oldLo = words[at];
    const oldHi = words[at + 1];
    if (codec.kind(oldLo, oldHi, 1) === PTE_ABSENT)
      fail('InvalidArgument', `${formatAddr(this.va)} is not mapped`);
    const leafProp = prop & ~PROP_AVAIL1;
    const lo = codec.leafLo(pfn, leafProp, 1);
    const hi = codec.leafHi(pfn, leafProp, 1);
    const frames = ctx.frames;
    // The new reference first: the old frame may be `pfn`'s last other holder.
    if (fresh) ctx.meta.setHandles(pfn, 0);
    else frames.incRef(pfn);
    words[at] = lo;
    words[at + 1] = hi;
    if ((codec.prop(oldLo, oldHi, 1) & PROP_AVAIL1) === 0) frames.decRef(codec.pfn(oldLo, oldHi, 1));
  }

  /** Throws unless the slot is locked; debug mode: unless its owner holds the covering lock. */
  private checkWritable(): void {
    if (this.state === 0) fail('InvalidArgument', 'the leaf slot is not locked');
    if (this.ctx.debug && lockOwner(this.ctx.meta, this.lockPfn) !== this.owner)
      throw new MmError('LockNotHeld', `PTE write to node ${this.node} without holding its lock`);
  }
}

function busy(node: number, level: number): never {
  return fail('CursorBusy', `page-table node ${node} (level ${level}) is locked by another cursor`);
}
