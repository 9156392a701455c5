import type { ForkStrategy, KernelPlugin, LeafSlot, PluginSpec, Vmar } from '@mmkit/core';
import {
  type CursorMut,
  copyUntrackedPage,
  EventsToken,
  type FaultKind,
  ForkStrategyToken,
  type FrameMetaStore,
  type Frames,
  FramesToken,
  forEachMappingPair,
  type KernelEventBus,
  LeafPass,
  leafFrameShift,
  type PageTableContext,
  PageTableContextToken,
  type PhysMemory,
  PhysMemoryToken,
  PROP_W,
  PTE_ABSENT,
  type PteCodec,
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
    const maps = parent.maps;
    forEachMappingPair(parent, child, (m, src, dst) => {
      const start = maps.start(m);
      src.jump(start);
      const n = cowCopyPt(this.ctx, src, dst, maps.end(m) - start);
      this.nrSharedPtes += n;
      child.addRss(maps.rssType(m), n);
    });
    parent.space.flushAll();
  }

  privateWriteFault(vmar: Vmar, _mapping: number, slot: LeafSlot, pfn: number, prop: number): FaultKind {
    const pageVa = slot.va;
    const copied = this.frames.refCount(pfn) !== 1;
    if (this.events.listenerCount('cowBreak') !== 0) this.events.emit('cowBreak', vmar.owner, pageVa, copied);
    if (!copied) {
      slot.setProp(prop);
      this.nrReuses++;
    } else {
      const copy = this.frames.alloc();
      this.memory.copyFrame(pfn, copy);
      slot.replaceFresh(copy, prop);
      this.nrCopies++;
    }
    vmar.space.flushPage(pageVa);
    return copied ? 'cow' : 'reuse';
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
 * the node's run of plain slots at once, with the result the slot-by-slot path gives:
 * every tracked leaf of `src` loses W in place and is copied, without W, into the absent
 * slot of `dst` (one more reference to its frame), under both nodes' locks; both nodes'
 * `nrChildren` stay exact (clearing W keeps a leaf a leaf). The run stops at the first
 * slot that is not a tracked leaf or absent (a child table, an untracked leaf), or that
 * maps a tracked leaf where `dst` already maps a page, leaving both cursors on it; returns
 * the frames shared, or -1 (nothing done) if that is the first slot.
 *
 * The run is scanned once (taking the references; whether a slot is a tracked leaf is
 * decoded once per run of equal flag bits, the frame number read from the frame bits, no
 * codec call per slot; `dst`'s slots are checked only if its node had children), then
 * handled in stretches: W is cleared in `src` (`copyLeafWordsClearW` in place) and the
 * stretch's words are copied into `dst` as they are; a stretch never covers a slot absent
 * in `src` but mapped in `dst`, which stays as it is.
 */
function shareLeafNode(ctx: PageTableContext, src: CursorMut, dst: CursorMut, end: number): number {
  const pass = LeafPass.begin(src, dst, end, 'COW copy');
  if (pass === null) return -1;
  const codec = ctx.codec;
  const meta: FrameMetaStore = ctx.meta;
  const frames = ctx.frames;
  const { srcWords, srcBase, dstWords, dstBase, dstEmpty, first, last } = pass;
  const flagsLo = ~codec.leafFrameBitsLo;
  const flagsHi = ~codec.leafFrameBitsHi;
  const frameHi = codec.leafFrameBitsHi;
  const shift = leafFrameShift(codec);
  const scale = 2 ** (32 - shift);
  let runLo = -1;
  let runHi = -1;
  let runAbsent = true;
  let runTracked = false;
  let nrShared = 0;
  let stretch = first;
  let i = first;
  try {
    for (; i < last; i++) {
      const lo = srcWords[srcBase + 2 * i];
      const hi = srcWords[srcBase + 2 * i + 1];
      if ((lo & flagsLo) !== runLo || (hi & flagsHi) !== runHi) {
        runLo = lo & flagsLo;
        runHi = hi & flagsHi;
        runAbsent = (lo === 0 && hi === 0) || codec.kind(lo, hi, 1) === PTE_ABSENT;
        runTracked = !runAbsent && codec.isTrackedLeaf(lo, hi, 1);
      }
      if (runAbsent) {
        if (!dstEmpty && !isAbsentSlot(codec, dstWords, dstBase, i)) {
          copyStretch(codec, pass, stretch, i);
          stretch = i + 1;
        }
        continue;
      }
      if (!runTracked || !(dstEmpty || isAbsentSlot(codec, dstWords, dstBase, i))) break;
      frames.incRef((lo >>> shift) + (hi & frameHi) * scale);
      nrShared++;
    }
  } catch (e) {
    pass.stopAt(i);
    throw e;
  } finally {
    copyStretch(codec, pass, stretch, i);
    meta.setNrChildren(pass.dstNode, meta.nrChildren(pass.dstNode) + nrShared);
  }
  return pass.finish(i) ? nrShared : -1;
}

/** Clears W in slots `[from, to)` of the pass's `src` node, then copies their words into `dst` as they are. */
function copyStretch(codec: PteCodec, pass: LeafPass, from: number, to: number): void {
  if (to <= from) return;
  const words = pass.srcWords;
  const at = pass.srcBase + 2 * from;
  codec.copyLeafWordsClearW(words, at, words, at, to - from);
  pass.dstWords.set(words.subarray(at, at + 2 * (to - from)), pass.dstBase + 2 * from);
}

/** Whether slot `i` of the node whose slot 0 is at word `base` of `words` is absent. */
function isAbsentSlot(codec: PteCodec, words: Uint32Array, base: number, i: number): boolean {
  const lo = words[base + 2 * i];
  const hi = words[base + 2 * i + 1];
  // Zero words are absent on every architecture: most slots of a fresh node.
  return (lo === 0 && hi === 0) || codec.kind(lo, hi, 1) === PTE_ABSENT;
}

/** The `cow` plugin spec for `createKernel({ plugins })`: the plugin becomes the fork strategy. */
export function cow(): PluginSpec {
  return { name: 'cow', pluginClass: CowPlugin, optionNames: [], provides: [ForkStrategyToken] };
}
