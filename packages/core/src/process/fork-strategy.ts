import { PTE_ABSENT } from '../arch/pte-codec.ts';
import { MmError } from '../errors.ts';
import { type CursorMut, QUERY_MAPPED, QUERY_MAPPED_UNTRACKED } from '../page-table/cursor.ts';
import { nodeBase, nodeWords } from '../page-table/node.ts';
import type { MappingTable } from '../vmar/mapping-table.ts';
import type { Vmar } from '../vmar/vmar.ts';

/**
 * How `fork` copies an address space: a hook that a plugin can take over (the
 * copy-on-write plugin replaces the eager copy with Asterinas's `cow_copy_pt`).
 *
 * Contract: `fork` is given the parent's VMAR and an empty child VMAR over a fresh page
 * table. Afterwards the child has a copy of every mapping (`child.adoptMapping(parent, m)`),
 * shared mappings map the very frames the parent maps, private
 * pages read in the child as they read in the parent and are never written through by the
 * other process, and the child's RSS counts its present PTEs.
 */
export interface ForkStrategy {
  readonly name: string;
  fork(parent: Vmar, child: Vmar): void;
}

/**
 * Maps into `dst` the base page at `va` of the untracked (I/O) slot `src` just queried
 * (`qVa`, `qPfn`, `qProp`): the same frame with the same rights, untracked (no reference
 * taken, nothing counted), as the seed's `cow_copy_pt` does for `MappedIoMem` (one
 * `PAGE_SIZE` at a time); then moves `src` back to the next page of the slot if the query
 * went past it. The child's mapping survives the parent's unmap.
 */
export function copyUntrackedPage(
  src: {
    readonly va: number;
    readonly qVa: number;
    readonly qPfn: number;
    readonly qProp: number;
    jump(va: number): void;
  },
  dst: CursorMut,
  va: number,
): void {
  const page = dst.pt.ctx.consts.basePageSize;
  dst.jump(va);
  dst.mapPhys(src.qPfn + (va - src.qVa) / page, 1, src.qProp);
  if (va + page < src.va) src.jump(va + page);
}

/**
 * The core fork: copies eagerly. Each present private page gets a new frame with the same
 * contents, except pages that are still a VMO's own frame (a private file page never
 * written), which stay shared read-only as they were; shared pages map the same frame;
 * untracked pages are mapped unchanged (`copyUntrackedPage`). The tracked pages of a leaf
 * node are copied in one pass (`copyLeafNode`); anything else goes slot by slot.
 */
export const eagerFork: ForkStrategy = {
  name: 'eager-copy',
  fork(parent: Vmar, child: Vmar): void {
    const kernel = parent.space.kernel;
    const frames = kernel.frames;
    const memory = kernel.memory;
    const maps = parent.maps;
    for (const m of parent.mappings.values()) {
      child.adoptMapping(parent, m);
      const start = maps.start(m);
      const end = maps.end(m);
      const shared = maps.shared(m);
      const vmo = maps.vmo(m);
      // A mutable cursor only to reach the leaf node's words: the parent is never written.
      const src = parent.space.cursorMut(start, end);
      const dst = child.space.cursorMut(start, end);
      let nrCopied = 0;
      try {
        for (;;) {
          const va = src.findNext(end - src.va);
          if (va < 0) break;
          if (src.level === 1) {
            dst.jump(va);
            const n = copyLeafNode(src, dst, maps, m);
            if (n >= 0) {
              nrCopied += n;
              if (src.va >= end) break;
              continue;
            }
          }
          const kind = src.query();
          if (kind === QUERY_MAPPED_UNTRACKED) copyUntrackedPage(src, dst, va);
          if (kind !== QUERY_MAPPED) continue;
          let pfn = src.qPfn;
          const own = !shared && (vmo === null || vmo.pageAt(maps.vmoIndex(m, va)) !== pfn);
          if (own) {
            const copy = frames.alloc();
            memory.copyFrame(pfn, copy);
            pfn = copy;
          }
          dst.jump(va);
          dst.map(pfn, src.qProp);
          if (own) frames.put(pfn);
          nrCopied++;
          if (src.va >= end) break;
        }
      } finally {
        dst.drop();
        src.drop();
      }
      child.addRss(maps.rssType(m), nrCopied);
    }
  },
};

/**
 * The eager copy of the tracked slots of `src`'s current leaf node inside mapping `m` (of `maps`),
 * `dst` being at the same address: goes down to (creating if needed) `dst`'s leaf node and
 * writes there, under its lock, what the slot-by-slot path maps: a private page that is
 * not the VMO's own frame gets a copy of its frame (the same property), any other page the
 * very PTE of `src` (one more reference to its frame). `dst`'s `nrChildren` stays exact.
 * Stops at the first slot that is not a tracked leaf or absent (an untracked leaf) or
 * where `dst` already maps a page, leaving both cursors on it; returns the pages copied,
 * or -1 (nothing done) if that is the first slot.
 */
function copyLeafNode(src: CursorMut, dst: CursorMut, maps: MappingTable, m: number): number {
  const ctx = src.pt.ctx;
  const codec = ctx.codec;
  const meta = ctx.meta;
  const frames = ctx.frames;
  const memory = ctx.memory;
  if (!dst.enterLeafNode()) return -1;
  const size = ctx.sizes[1];
  const n = ctx.consts.nrEntries;
  const va = src.va;
  const first = (va / size) & (n - 1);
  const last = Math.min(n, first + Math.ceil((maps.end(m) - va) / size));
  const srcNode = src.nodeAt(1);
  const node = dst.nodeAt(1);
  const srcWords = nodeWords(ctx, srcNode);
  const srcBase = nodeBase(ctx, srcNode);
  const words = nodeWords(ctx, node);
  const base = nodeBase(ctx, node);
  if (ctx.debug && !(src.holdsLockOf(srcNode) && dst.holdsLockOf(node))) {
    throw new MmError('LockNotHeld', `fork copy of node ${srcNode} into ${node} without holding their locks`);
  }
  const shared = maps.shared(m);
  const vmo = maps.vmo(m);
  let nrCopied = 0;
  let i = first;
  try {
    for (; i < last; i++) {
      const at = 2 * i;
      const lo = srcWords[srcBase + at];
      const hi = srcWords[srcBase + at + 1];
      if (codec.kind(lo, hi, 1) === PTE_ABSENT) continue;
      if (!codec.isTrackedLeaf(lo, hi, 1)) break;
      if (codec.kind(words[base + at], words[base + at + 1], 1) !== PTE_ABSENT) break;
      const pfn = codec.pfn(lo, hi, 1);
      const own = !shared && (vmo === null || vmo.pageAt(maps.vmoIndex(m, va + (i - first) * size)) !== pfn);
      if (own) {
        const copy = frames.alloc();
        memory.copyFrame(pfn, copy);
        const prop = codec.prop(lo, hi, 1);
        words[base + at] = codec.leafLo(copy, prop, 1);
        words[base + at + 1] = codec.leafHi(copy, prop, 1);
        // The PTE takes over the allocation's one handle (nobody else knows the frame),
        // as a new node's parent PTE does.
        meta.setHandles(copy, 0);
      } else {
        frames.incRef(pfn);
        words[base + at] = lo;
        words[base + at + 1] = hi;
      }
      nrCopied++;
    }
  } catch (e) {
    // Leave both cursors on the slot that failed, as the slot-by-slot path would.
    src.va = va + (i - first) * size;
    dst.va = src.va;
    throw e;
  } finally {
    meta.setNrChildren(node, meta.nrChildren(node) + nrCopied);
  }
  if (i === first) return -1;
  moveBothPastLeafPass(src, dst, va, i - first, i === n, size);
  return nrCopied;
}

/**
 * After a pass over a leaf node that handled `done` slots from `va` on, moves both cursors
 * to the next slot: past the node (`advancePast`, which releases it) when the pass reached
 * the node's end, else onto the first slot not handled. Used by the eager fork and the COW
 * copy, which both copy a leaf node at a time.
 */
export function moveBothPastLeafPass(
  src: CursorMut,
  dst: CursorMut,
  va: number,
  done: number,
  reachedNodeEnd: boolean,
  size: number,
): void {
  if (reachedNodeEnd) {
    const lastVa = va + (done - 1) * size;
    src.advancePast(lastVa);
    dst.advancePast(lastVa);
  } else {
    src.va = va + done * size;
    dst.va = src.va;
  }
}
