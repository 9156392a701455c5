import { PTE_ABSENT, PTE_TABLE } from '../arch/pte-codec.ts';
import { fail, formatAddr, MmError } from '../errors.ts';
import type { PageTableContext } from './context.ts';
import { type CursorMut, isAligned } from './cursor.ts';
import { lockOwner } from './lock.ts';
import { LOCK_HOH, LOCK_SUBTREE } from './lock-protocol.ts';
import { nodeBase, nodeWords } from './node.ts';

/**
 * Moving page-table entries from one range to another (the page-table part of `mremap`),
 * as Linux's `move_page_tables`: the entries themselves move, raw, so frames keep their
 * references (a move neither takes nor drops one) and untracked entries stay untracked.
 *
 * - A leaf node's run of entries moves per pass: copied under the source node's lock,
 *   written under the destination node's lock, then cleared under the source's again; a
 *   run never crosses a leaf node on either side, so an unaligned move takes two passes
 *   per leaf node. Node allocation at the destination is the only step that can fail, and
 *   it comes before the source changes, so a pass moves all of its run or nothing.
 * - A whole leaf node moves by relinking (Linux's `move_normal_pmd`) when the source and
 *   destination are both aligned to the node's span, the range covers the node and the
 *   destination's slot is absent: its table entry is written into the destination parent
 *   and cleared from the source parent (both `nrChildren` stay exact), each under that
 *   parent's lock. A node is only relinked when no other cursor can hold it or be on its way
 *   to it (`mayRelink`).
 * - A huge leaf inside the range whose size divides the distance moves as one entry; an
 *   untracked one that does not is split first (as `map` splits), then moved as smaller
 *   entries.
 */

/** One leaf node's entries in flight (two words per slot), grown on first use. */
let scratch = new Uint32Array(0);

/**
 * Moves every present entry of `[src, src + len)` to the same offset from `dst` with the
 * cursor `c`, which must cover both ranges; returns the base pages moved (for the TLB
 * flush of the source range, which the caller owns). The cursor is left somewhere in its
 * range. Throws, changing nothing: `UnalignedVaddr` for addresses or a length that are not
 * page aligned, `InvalidVaddr` for a range outside the cursor's, `InvalidArgument` for
 * overlapping ranges, `AlreadyMapped` if anything is mapped at the destination. A failure
 * while moving (`OutOfFrames` for a destination node) leaves the passes done so far moved
 * and the rest in place.
 */
export function movePtes(c: CursorMut, src: number, dst: number, len: number): number {
  const ctx = c.pt.ctx;
  const page = ctx.consts.basePageSize;
  if (!isAligned(src, page) || !isAligned(dst, page) || !isAligned(len, page) || len < 0)
    fail('UnalignedVaddr', 'movePtes: addresses or length not page aligned');
  if (len === 0) return 0;
  const lo = Math.min(src, dst);
  const hi = Math.max(src, dst) + len;
  if (!(lo >= c.barrierStart && hi <= c.barrierEnd))
    fail('InvalidVaddr', `movePtes: ${formatAddr(lo)}..${formatAddr(hi)} is outside the cursor range`);
  if (src < dst + len && dst < src + len)
    fail('InvalidArgument', `movePtes: ${formatAddr(src)} and ${formatAddr(dst)} overlap over ${len} bytes`);
  if (c.pt.hasMappingIn(c.nodeAt(c.guardLevel), c.guardLevel, dst, dst + len))
    fail('AlreadyMapped', `movePtes: the destination ${formatAddr(dst)} is mapped`);
  const span = ctx.sizes[2];
  const end = src + len;
  const delta = dst - src;
  const relinkable = isAligned(delta, span);
  if (scratch.length < 2 * ctx.consts.nrEntries) scratch = new Uint32Array(2 * ctx.consts.nrEntries);
  let moved = 0;
  let off = 0;
  // Leaf nodes below this address move by runs (their relink was refused).
  let runsBelow = src;
  while (off < len) {
    c.jump(src + off);
    const va = c.findNext(len - off);
    if (va < 0) break;
    const level = c.level;
    if (level === 1) {
      const nodeStart = Math.floor(va / span) * span;
      if (relinkable && nodeStart >= src && nodeStart + span <= end && nodeStart >= runsBelow) {
        const n = relinkLeafNode(c, nodeStart, delta);
        if (n < 0) {
          runsBelow = nodeStart + span;
        } else {
          moved += n;
          off = nodeStart + span - src;
        }
        continue;
      }
      // The run ends at the end of the source node, of the range or of the destination node.
      const dstNodeEnd = Math.floor((va + delta) / span) * span + span;
      const runEnd = Math.min(nodeStart + span, end, dstNodeEnd - delta);
      moved += moveLeafRun(c, va, runEnd, delta);
      off = runEnd - src;
      continue;
    }
    const size = ctx.sizes[level];
    const slotStart = Math.floor(va / size) * size;
    if (
      slotStart >= src &&
      slotStart + size <= end &&
      isAligned(delta, size) &&
      moveEntry(c, slotStart, delta)
    ) {
      moved += ctx.pagesAt[level];
      off = slotStart + size - src;
      continue;
    }
    // Part of a huge leaf, or one that cannot land whole: split it and move its pieces.
    c.jump(va);
    c.goDownTo(level - 1);
  }
  return moved;
}

/**
 * Moves the present entries of the current leaf node in `[va, runEnd)` (one destination
 * leaf node's worth at most) to `va + delta`; returns how many moved.
 */
function moveLeafRun(c: CursorMut, va: number, runEnd: number, delta: number): number {
  const ctx = c.pt.ctx;
  const codec = ctx.codec;
  const meta = ctx.meta;
  const size = ctx.sizes[1];
  const mask = ctx.consts.nrEntries - 1;
  const count = (runEnd - va) / size;
  const first = (va / size) & mask;
  const srcNode = c.nodeAt(1);
  let words = nodeWords(ctx, srcNode);
  let at = nodeBase(ctx, srcNode) + 2 * first;
  const buf = scratch;
  let present = 0;
  // Absent entries travel as zeros: the destination slots are absent already.
  for (let i = 0; i < 2 * count; i += 2) {
    const lo = words[at + i];
    const hi = words[at + i + 1];
    const kind = lo === 0 && hi === 0 ? PTE_ABSENT : codec.kind(lo, hi, 1);
    if (kind === PTE_ABSENT) {
      buf[i] = 0;
      buf[i + 1] = 0;
      continue;
    }
    if (kind === PTE_TABLE) fail('BadFrameState', `node ${srcNode} is a leaf node with a child table`);
    buf[i] = lo;
    buf[i + 1] = hi;
    present++;
  }
  c.jump(va + delta);
  c.goDownTo(1);
  const dstNode = c.nodeAt(1);
  assertLocked(ctx, c, dstNode);
  words = nodeWords(ctx, dstNode);
  at = nodeBase(ctx, dstNode) + 2 * (((va + delta) / size) & mask);
  words.set(buf.subarray(0, 2 * count), at);
  meta.setNrChildren(dstNode, meta.nrChildren(dstNode) + present);
  // Back to the source node, which still has children (it is not recycled meanwhile).
  c.jump(va);
  c.goDownTo(1);
  assertLocked(ctx, c, srcNode);
  words = nodeWords(ctx, srcNode);
  at = nodeBase(ctx, srcNode) + 2 * first;
  words.fill(0, at, at + 2 * count);
  meta.setNrChildren(srcNode, meta.nrChildren(srcNode) - present);
  return present;
}

/**
 * Relinks the leaf node at `nodeStart` (the cursor is in it) under the destination's parent
 * at `nodeStart + delta`; returns the pages it maps, or -1 having changed nothing when the
 * node may not be relinked or the destination slot is not absent.
 */
function relinkLeafNode(c: CursorMut, nodeStart: number, delta: number): number {
  const ctx = c.pt.ctx;
  c.jump(nodeStart);
  c.goUpTo(2);
  const parent = c.nodeAt(2);
  const at = nodeBase(ctx, parent) + 2 * slotIndex(ctx, nodeStart, 2);
  const words = nodeWords(ctx, parent);
  const child = ctx.codec.pfn(words[at], words[at + 1], 2);
  if (!mayRelink(c, child)) return -1;
  return moveEntry(c, nodeStart, delta) ? ctx.meta.nrChildren(child) : -1;
}

/**
 * Moves the entry of the slot at `va` (a table or a leaf, at the cursor's level) to the
 * same level at `va + delta`, creating the nodes above it there; false (having changed
 * nothing but those new nodes) if the destination slot is not absent.
 */
function moveEntry(c: CursorMut, va: number, delta: number): boolean {
  const ctx = c.pt.ctx;
  const level = c.level;
  let node = c.nodeAt(level);
  let words = nodeWords(ctx, node);
  let at = nodeBase(ctx, node) + 2 * slotIndex(ctx, va, level);
  const lo = words[at];
  const hi = words[at + 1];
  c.jump(va + delta);
  c.goDownTo(level);
  node = c.nodeAt(level);
  words = nodeWords(ctx, node);
  at = nodeBase(ctx, node) + 2 * slotIndex(ctx, va + delta, level);
  if (ctx.codec.kind(words[at], words[at + 1], level) !== PTE_ABSENT) return false;
  // A relinked node now serves other addresses: caches of where nodes sit must not outlive it.
  ctx.reclaim.bumpLinkGeneration();
  c.writePte(lo, hi);
  c.jump(va);
  c.goDownTo(level);
  c.writePte(0, 0);
  return true;
}

/**
 * Whether leaf node `child` may move to another parent: no other cursor holds it or can be
 * on its way to it. Under `hoh` its lock must be free (the cursor holds the parent, the
 * only way in). Under `subtree` the cursor holds it since its creation, but a lock-free walk
 * of another thread may have read its entry before and lock it after this cursor is gone,
 * finding it at another address without being stray: only a kernel whose page tables no
 * other thread shares relinks. Under `global` the table's one lock keeps everyone out.
 */
function mayRelink(c: CursorMut, child: number): boolean {
  const ctx = c.pt.ctx;
  const kind = ctx.lockProtocol.kind;
  if (kind === LOCK_HOH) return lockOwner(ctx.meta, child) === 0;
  if (kind === LOCK_SUBTREE) {
    const shared =
      typeof SharedArrayBuffer !== 'undefined' && ctx.meta.lockArray.buffer instanceof SharedArrayBuffer;
    return !shared && c.holdsLockOf(child);
  }
  return true;
}

function slotIndex(ctx: PageTableContext, va: number, level: number): number {
  return Math.floor(va / ctx.sizes[level]) & (ctx.consts.nrEntries - 1);
}

/** Debug mode: throws `LockNotHeld` unless `c` holds the lock covering `node`. */
function assertLocked(ctx: PageTableContext, c: CursorMut, node: number): void {
  if (ctx.debug && !c.holdsLockOf(node))
    throw new MmError('LockNotHeld', `PTE move in node ${node} without holding its lock`);
}
