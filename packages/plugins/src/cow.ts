import type { ForkStrategy, KernelPlugin, PluginSpec, Vmar } from '@mmkit/core';
import {
  type CursorMut,
  copyUntrackedPage,
  EventsToken,
  type FaultKind,
  ForkStrategyToken,
  type FrameMetaStore,
  type Frames,
  FramesToken,
  type KernelEventBus,
  MmError,
  nodeBase,
  nodeWords,
  type PageTableContext,
  PageTableContextToken,
  type PhysMemory,
  PhysMemoryToken,
  PROP_AVAIL1,
  PROP_W,
  type PrivateWriteFault,
  PTE_ABSENT,
  PTE_TABLE,
  QUERY_MAPPED,
  QUERY_MAPPED_UNTRACKED,
} from '@mmkit/core/internal';
import { inject, injectable } from 'tsyringe';

/**
 * Copy-on-write fork (`cow`), as Asterinas's `cow_copy_pt` (seed `003`), and the write
 * faults it leads to. The plugin is the kernel's fork strategy (it provides
 * `ForkStrategyToken`):
 * - fork: for every mapping of the parent, each mapped tracked frame is write-protected in
 *   the parent and mapped read-only, the same frame, in the child (one more reference, no
 *   copy); untracked (I/O) pages are mapped into the child unchanged (same frames, same
 *   rights, nothing counted). The parent's TLB is flushed once at the end. The child's RSS
 *   counts the shared tracked frames. Shared mappings are write-protected too: their next
 *   write fault re-grants W in place (the core's `shared-write`).
 * - `privateWriteFault`: a write to a private page mapped without W copies the frame when
 *   another page table still maps it (`cow`: a COW break), and re-grants W in place when
 *   this mapping holds its last reference (`reuse`).
 */
@injectable()
export class CowPlugin implements KernelPlugin, ForkStrategy {
  readonly name = 'cow';
  /** Tracked frames shared by forks so far. */
  nrSharedPtes = 0;
  /** Write faults that copied a shared frame, and those that reused the frame in place. */
  nrCopies = 0;
  nrReuses = 0;

  constructor(
    @inject(PageTableContextToken) private readonly ctx: PageTableContext,
    @inject(FramesToken) private readonly frames: Frames,
    @inject(PhysMemoryToken) private readonly memory: PhysMemory,
    @inject(EventsToken) private readonly events: KernelEventBus,
  ) {}

  fork(parent: Vmar, child: Vmar): void {
    for (const m of parent.mappings.values()) {
      child.adoptMapping(m.slice(m.start, m.end));
      child.addRss(m.rssType, this.copyPageTable(parent, child, m.start, m.end));
    }
    parent.space.flushAll();
  }

  privateWriteFault(fault: PrivateWriteFault): FaultKind {
    const { vmar, cursor, pageVa, pfn, prop } = fault;
    const copied = this.frames.refCount(pfn) !== 1;
    if (this.events.listenerCount('cowBreak') !== 0) this.events.emit('cowBreak', vmar.owner, pageVa, copied);
    if (!copied) {
      cursor.setProp(prop);
      this.nrReuses++;
    } else {
      const copy = this.frames.alloc();
      this.memory.copyFrame(pfn, copy);
      cursor.unmap(vmar.pageSize);
      cursor.jump(pageVa);
      cursor.map(copy, prop);
      this.frames.put(copy);
      this.nrCopies++;
    }
    vmar.space.flushPage(pageVa);
    return copied ? 'cow' : 'reuse';
  }

  private copyPageTable(parent: Vmar, child: Vmar, start: number, end: number): number {
    const src = parent.space.cursorMut(start, end);
    const dst = child.space.cursorMut(start, end);
    try {
      const n = cowCopyPt(this.ctx, src, dst, end - start);
      this.nrSharedPtes += n;
      return n;
    } finally {
      dst.drop();
      src.drop();
    }
  }
}

/**
 * `cow_copy_pt`: for `size` bytes from the cursors' current address (the same in both),
 * every tracked frame mapped by `src` is write-protected there and mapped, read-only, at
 * the same address by `dst` (taking one more reference); untracked slots are mapped into
 * `dst` unchanged, a base page at a time. Returns how many tracked frames were shared. Throws `AlreadyMapped`
 * where `dst` already maps a page (the slots before it are done).
 *
 * Each leaf node of `src` is handled in one pass (`shareLeafNode`), both cursors holding
 * the locks of the two leaf nodes; anything else goes slot by slot, as the seed does.
 */
export function cowCopyPt(ctx: PageTableContext, src: CursorMut, dst: CursorMut, size: number): number {
  const end = src.va + size;
  let nrShared = 0;
  for (let va = src.findNext(size); va >= 0; va = src.findNext(end - src.va)) {
    if (src.level === 1) {
      dst.jump(va);
      const n = shareLeafNode(ctx, src, dst, end);
      if (n >= 0) {
        nrShared += n;
        continue;
      }
    }
    // `query` moves past the slot.
    const kind = src.query();
    if (kind === QUERY_MAPPED_UNTRACKED) {
      copyUntrackedPage(src, dst, va);
      continue;
    }
    if (kind !== QUERY_MAPPED) continue;
    const pfn = src.qPfn;
    const prop = src.qProp & ~PROP_W;
    if (prop !== src.qProp) {
      src.jump(va);
      src.protect(src.qLen, clearWrite);
    }
    dst.jump(va);
    dst.map(pfn, prop);
    nrShared++;
  }
  return nrShared;
}

function clearWrite(prop: number): number {
  return prop & ~PROP_W;
}

/**
 * `cowCopyPt` for the tracked slots of `src`'s current leaf node below `end`, `dst` being
 * at the same address: goes down to (creating if needed) `dst`'s leaf node, then shares
 * slot by slot exactly as the slot-by-slot path does: `src`'s PTE is rewritten without W
 * under `src`'s lock, `dst`'s is written under `dst`'s lock, and both nodes' `nrChildren`
 * stay exact. Stops at the first slot that is not a plain tracked leaf or absent (a child
 * table, an untracked leaf, a slot already mapped in `dst`), leaving both cursors on it;
 * returns the frames shared, or -1 (nothing done) if that is the first slot.
 */
function shareLeafNode(ctx: PageTableContext, src: CursorMut, dst: CursorMut, end: number): number {
  const codec = ctx.codec;
  const meta: FrameMetaStore = ctx.meta;
  const frames = ctx.frames;
  if (!dst.enterLeafNode()) return -1;
  const size = ctx.sizes[1];
  const n = ctx.consts.nrEntries;
  const va = src.va;
  const first = (va / size) & (n - 1);
  const last = Math.min(n, first + Math.ceil((end - va) / size));
  const srcNode = src.nodeAt(1);
  const node = dst.nodeAt(1);
  const srcWords = nodeWords(ctx, srcNode);
  const srcBase = nodeBase(ctx, srcNode);
  const words = nodeWords(ctx, node);
  const base = nodeBase(ctx, node);
  if (ctx.debug && !(src.holdsLockOf(srcNode) && dst.holdsLockOf(node))) {
    throw new MmError('LockNotHeld', `COW copy of node ${srcNode} into ${node} without holding their locks`);
  }
  let nrShared = 0;
  let nrAdded = 0;
  let i = first;
  try {
    for (; i < last; i++) {
      const at = 2 * i;
      const lo = srcWords[srcBase + at];
      const hi = srcWords[srcBase + at + 1];
      if (lo === 0 && hi === 0) continue;
      const kind = codec.kind(lo, hi, 1);
      if (kind === PTE_ABSENT) continue;
      if (kind === PTE_TABLE) break;
      const prop = codec.prop(lo, hi, 1);
      if ((prop & PROP_AVAIL1) !== 0) break;
      if (codec.kind(words[base + at], words[base + at + 1], 1) !== PTE_ABSENT) break;
      const pfn = codec.pfn(lo, hi, 1);
      const roProp = prop & ~PROP_W;
      const roLo = codec.leafLo(pfn, roProp, 1);
      const roHi = codec.leafHi(pfn, roProp, 1);
      const roPresent = codec.kind(roLo, roHi, 1) !== PTE_ABSENT;
      if (roProp !== prop) {
        srcWords[srcBase + at] = roLo;
        srcWords[srcBase + at + 1] = roHi;
        if (!roPresent) meta.setNrChildren(srcNode, meta.nrChildren(srcNode) - 1);
      }
      frames.incRef(pfn);
      words[base + at] = roLo;
      words[base + at + 1] = roHi;
      if (roPresent) nrAdded++;
      nrShared++;
    }
  } catch (e) {
    // Leave both cursors on the slot that failed, as the slot-by-slot path would.
    src.va = va + (i - first) * size;
    dst.va = src.va;
    throw e;
  } finally {
    meta.setNrChildren(node, meta.nrChildren(node) + nrAdded);
  }
  if (i === first) return -1;
  if (i === n) {
    const lastVa = va + (i - 1 - first) * size;
    src.advancePast(lastVa);
    dst.advancePast(lastVa);
  } else {
    src.va = va + (i - first) * size;
    dst.va = src.va;
  }
  return nrShared;
}

/** The `cow` plugin spec for `createKernel({ plugins })`: the plugin becomes the fork strategy. */
export function cow(): PluginSpec {
  return { name: 'cow', pluginClass: CowPlugin, optionNames: [], provides: [ForkStrategyToken] };
}
