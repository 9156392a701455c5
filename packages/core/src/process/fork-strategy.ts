import { leafFrameShift, PTE_ABSENT } from '../arch/pte-codec.ts';
import { MmError } from '../errors.ts';
import { type CursorMut, QUERY_MAPPED, QUERY_MAPPED_UNTRACKED } from '../page-table/cursor.ts';
import { nodeBase, nodeWords } from '../page-table/node.ts';
import type { MappingTable } from '../vmar/mapping-table.ts';
import { VMA_DONTFORK, VMA_WIPEONFORK } from '../vmar/vm-mapping.ts';
import type { Vmar } from '../vmar/vmar.ts';

/**
 * How `fork` copies an address space: a hook that a plugin can take over (the
 * copy-on-write plugin replaces the eager copy with Asterinas's `cow_copy_pt`).
 *
 * Contract: `fork` is given the parent's VMAR and an empty child VMAR over a fresh page
 * table. Afterwards the child has a copy of every mapping (`child.adoptMapping(parent, m)`),
 * shared mappings map the very frames the parent maps (or, with `skipsUncopiedMappings`,
 * nothing), private pages read in the child as they read in the parent and are never
 * written through by the other process, and the child's RSS counts its present PTEs.
 */
export interface ForkStrategy {
  readonly name: string;
  /**
   * Whether `fork` copies no PTE of the mappings whose pages Linux's fork does not copy
   * (`forkCopiesPages` false), so that `ProcessTable.fork` need not empty them after it.
   * Absent or false: the strategy may map pages there, and they are emptied after it.
   */
  readonly skipsUncopiedMappings?: boolean;
  fork(parent: Vmar, child: Vmar): void;
}

/**
 * Whether Linux's fork (`dup_mmap`) gives the child the pages of mapping `m`: not those of
 * a don't-fork mapping (the child has none), a wipe-on-fork one (empty in the child), or a
 * shared one (a fault in the child finds its pages again, so no PTE is copied).
 */
export function forkCopiesPages(maps: MappingTable, m: number): boolean {
  return (maps.flags(m) & (VMA_DONTFORK | VMA_WIPEONFORK)) === 0 && !maps.shared(m);
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
 * The core fork: copies eagerly the pages of the mappings whose pages Linux's fork copies
 * (`forkCopiesPages`); the others are adopted without pages (`skipsUncopiedMappings`), so
 * they are not filled here to be emptied after. Each present private page gets a new
 * frame with the same contents, except pages that are still a VMO's own frame (a private
 * file page never written), which stay shared read-only as they were; untracked pages are
 * mapped unchanged (`copyUntrackedPage`). The tracked pages of a leaf node are copied in
 * one pass (`copyLeafNode`); anything else goes slot by slot.
 */
export const eagerFork: ForkStrategy = {
  name: 'eager-copy',
  skipsUncopiedMappings: true,
  fork(parent: Vmar, child: Vmar): void {
    const kernel = parent.space.kernel;
    const frames = kernel.frames;
    const memory = kernel.memory;
    const maps = parent.maps;
    // A mutable cursor on the parent only to reach the leaf nodes' words: the parent is
    // never written.
    forEachMappingPair(parent, child, (m, src, dst) => {
      if (!forkCopiesPages(maps, m)) return;
      const start = maps.start(m);
      const end = maps.end(m);
      const vmo = maps.vmo(m);
      let nrCopied = 0;
      src.jump(start);
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
        // Private (shared mappings are skipped): a copy unless it is still the VMO's own frame.
        const own = vmo === null || vmo.pageAt(maps.vmoIndex(m, va)) !== pfn;
        if (own) {
          const copy = frames.alloc();
          memory.copyFrame(pfn, copy);
          pfn = copy;
        }
        dst.jump(va);
        // A private copy's one handle becomes the child's PTE reference.
        if (own) dst.mapFresh(pfn, src.qProp);
        else dst.map(pfn, src.qProp);
        nrCopied++;
        if (src.va >= end) break;
      }
      child.addRss(maps.rssType(m), nrCopied);
    });
  },
};

/**
 * The walk a fork strategy's copy makes: every mapping of `parent` in ascending order is
 * adopted by `child`, then `visit` runs with a mutable cursor on each table, both spanning
 * every mapping. One pair of cursors serves the whole fork, moved (`jump`) from mapping to
 * mapping: a cursor is a walk from the root with its locks, and most processes have a
 * few small mappings. Both cursors are dropped at the end, also when `visit` throws.
 */
export function forEachMappingPair(
  parent: Vmar,
  child: Vmar,
  visit: (m: number, src: CursorMut, dst: CursorMut) => void,
): void {
  const maps = parent.maps;
  const ids = parent.mappings.values();
  if (ids.length === 0) return;
  const src = parent.space.cursorMut(maps.start(ids[0]), maps.end(ids[ids.length - 1]));
  let dst: CursorMut | null = null;
  try {
    dst = child.space.cursorMut(maps.start(ids[0]), maps.end(ids[ids.length - 1]));
    for (const m of ids) {
      child.adoptMapping(parent, m);
      visit(m, src, dst);
    }
  } finally {
    dst?.drop();
    src.drop();
  }
}

/**
 * The eager copy of the tracked slots of `src`'s current leaf node inside the private
 * mapping `m` (of `maps`), `dst` being at the same address: goes down to (creating if
 * needed) `dst`'s leaf node and writes there, under its lock, what the slot-by-slot path
 * maps: a page that is not the VMO's own frame gets a copy of its frame (the same
 * property), a VMO's own frame the very PTE of `src` (one more reference to its frame). `dst`'s `nrChildren` stays exact.
 * Stops at the first slot that is not a tracked leaf or absent (an untracked leaf) or
 * where `dst` already maps a page, leaving both cursors on it; returns the pages copied,
 * or -1 (nothing done) if that is the first slot.
 *
 * Per slot no codec call: whether a slot is a tracked leaf, and the flag bits of its
 * property's encoding, are decoded once per run of equal flag bits; the frame number is
 * read from the frame bits, and a copy's PTE is the run's flag bits with the copy's frame
 * bits (`leafFrameShift`). `dst`'s slots are checked only if its node had children.
 */
function copyLeafNode(src: CursorMut, dst: CursorMut, maps: MappingTable, m: number): number {
  const pass = LeafPass.begin(src, dst, maps.end(m), 'fork copy');
  if (pass === null) return -1;
  const ctx = src.pt.ctx;
  const codec = ctx.codec;
  const meta = ctx.meta;
  const frames = ctx.frames;
  const memory = ctx.memory;
  const { srcWords, srcBase, dstWords, dstBase, dstEmpty, first, last, va, size } = pass;
  const flagsLo = ~codec.leafFrameBitsLo;
  const flagsHi = ~codec.leafFrameBitsHi;
  const frameHi = codec.leafFrameBitsHi;
  const shift = leafFrameShift(codec);
  const scale = 2 ** (32 - shift);
  const vmo = maps.vmo(m);
  let runLo = -1;
  let runHi = -1;
  let runAbsent = true;
  let runTracked = false;
  // The flag bits of `leafLo/leafHi(pfn, prop)` for the run's property (any frame).
  let runCopyLo = 0;
  let runCopyHi = 0;
  let nrCopied = 0;
  let i = first;
  try {
    for (; i < last; i++) {
      const at = 2 * i;
      const lo = srcWords[srcBase + at];
      const hi = srcWords[srcBase + at + 1];
      if (lo === 0 && hi === 0) continue;
      if ((lo & flagsLo) !== runLo || (hi & flagsHi) !== runHi) {
        runLo = lo & flagsLo;
        runHi = hi & flagsHi;
        runAbsent = codec.kind(lo, hi, 1) === PTE_ABSENT;
        runTracked = !runAbsent && codec.isTrackedLeaf(lo, hi, 1);
        if (runTracked) {
          const prop = codec.prop(lo, hi, 1);
          runCopyLo = codec.leafLo(0, prop, 1) & flagsLo;
          runCopyHi = codec.leafHi(0, prop, 1) & flagsHi;
        }
      }
      if (runAbsent) continue;
      if (!runTracked) break;
      if (!dstEmpty && codec.kind(dstWords[dstBase + at], dstWords[dstBase + at + 1], 1) !== PTE_ABSENT)
        break;
      const pfn = (lo >>> shift) + (hi & frameHi) * scale;
      const own = vmo === null || vmo.pageAt(maps.vmoIndex(m, va + (i - first) * size)) !== pfn;
      if (own) {
        const copy = frames.alloc();
        memory.copyFrame(pfn, copy);
        dstWords[dstBase + at] = runCopyLo | ((copy & (scale - 1)) << shift);
        dstWords[dstBase + at + 1] = runCopyHi | Math.floor(copy / scale);
        // The PTE takes over the allocation's one handle (nobody else knows the frame),
        // as a new node's parent PTE does.
        meta.setHandles(copy, 0);
      } else {
        frames.incRef(pfn);
        dstWords[dstBase + at] = lo;
        dstWords[dstBase + at + 1] = hi;
      }
      nrCopied++;
    }
  } catch (e) {
    pass.stopAt(i);
    throw e;
  } finally {
    meta.setNrChildren(pass.dstNode, meta.nrChildren(pass.dstNode) + nrCopied);
  }
  return pass.finish(i) ? nrCopied : -1;
}

/**
 * One pass of a fork over a leaf node, the part the eager copy and the COW copy share:
 * `src`'s current leaf node and `dst`'s at the same address (entered, created if needed),
 * both held under their cursors' locks (checked in debug mode), and the slots
 * `[first, last)` of the pass, from `src`'s address to the node's end or `end`. The pass
 * handles slots from `first` on and ends with `finish` (or `stopAt` where it failed).
 */
export class LeafPass {
  private constructor(
    private readonly src: CursorMut,
    private readonly dst: CursorMut,
    /** Address of slot `first`. */
    readonly va: number,
    /** Bytes per slot. */
    readonly size: number,
    readonly first: number,
    readonly last: number,
    private readonly nrEntries: number,
    /** `src`'s node: its words, slot 0 at word `srcBase`. */
    readonly srcWords: Uint32Array,
    readonly srcBase: number,
    /** `dst`'s node, its words, slot 0 at word `dstBase`. */
    readonly dstNode: number,
    readonly dstWords: Uint32Array,
    readonly dstBase: number,
    /** Whether `dst`'s node had no child at the start (every slot absent: nothing to check). */
    readonly dstEmpty: boolean,
  ) {}

  /**
   * Starts a pass at `src`'s current slot, in its leaf node, below `end`; `dst` is at the
   * same address and goes down to its leaf node. Null (nothing done) if `dst` meets a huge
   * leaf on the way. `what` names the copy in the debug-mode lock error.
   */
  static begin(src: CursorMut, dst: CursorMut, end: number, what: string): LeafPass | null {
    if (!dst.enterLeafNode()) return null;
    const ctx = src.pt.ctx;
    const size = ctx.sizes[1];
    const n = ctx.consts.nrEntries;
    const va = src.va;
    const first = (va / size) & (n - 1);
    const last = Math.min(n, first + Math.ceil((end - va) / size)) | 0;
    const srcNode = src.nodeAt(1);
    const node = dst.nodeAt(1);
    if (ctx.debug && !(src.holdsLockOf(srcNode) && dst.holdsLockOf(node))) {
      throw new MmError('LockNotHeld', `${what} of node ${srcNode} into ${node} without holding their locks`);
    }
    return new LeafPass(
      src,
      dst,
      va,
      size,
      first,
      last,
      n,
      nodeWords(ctx, srcNode),
      nodeBase(ctx, srcNode),
      node,
      nodeWords(ctx, node),
      nodeBase(ctx, node),
      ctx.meta.nrChildren(node) === 0,
    );
  }

  /** Leaves both cursors on slot `i`, where the pass failed, as the slot-by-slot path would. */
  stopAt(i: number): void {
    this.src.va = this.va + (i - this.first) * this.size;
    this.dst.va = this.src.va;
  }

  /**
   * Ends a pass that handled the slots before `i`: moves both cursors to the next slot,
   * past the node (`advancePast`, which releases it) when the pass reached the node's end,
   * else onto slot `i`. Returns false, moving nothing, if the pass handled no slot.
   */
  finish(i: number): boolean {
    if (i === this.first) return false;
    if (i === this.nrEntries) {
      const lastVa = this.va + (i - 1 - this.first) * this.size;
      this.src.advancePast(lastVa);
      this.dst.advancePast(lastVa);
    } else {
      this.stopAt(i);
    }
    return true;
  }
}
