import { PTE_ABSENT, PTE_TABLE } from '../arch/pte-codec.ts';
import { fail, formatAddr, MmError } from '../errors.ts';
import { FRAME_TYPE_NAMES, FrameType, isUserMappableType } from '../frame/frame-type.ts';
import type { PageTableContext } from './context.ts';
import { Cursor, CursorMut, isAligned, someSlotIn } from './cursor.ts';
import { LeafSlot } from './leaf-slot.ts';
import { lockOwner } from './lock.ts';
import { allocNode, nodeBase, nodeWords } from './node.ts';

/**
 * A page table: a root node and the half of the address space it may touch.
 *
 * The kernel page table owns the upper half: at creation every root entry of that half
 * gets a node of level `nrLevels - 1`, and those shared nodes are never unmapped or freed.
 * A user page table owns the lower half; its root's upper half is a copy of the kernel
 * root's, so kernel mappings are shared, and user cursors can never reach those entries
 * (their range is checked against the lower half). The copies hold no references: a user
 * table never outlives the kernel's.
 */
export class PageTable {
  /** Lowest and highest-plus-one virtual address cursors of this table may cover. */
  readonly lower: number;
  readonly upper: number;
  /**
   * Bumped whenever a mutable cursor or a leaf slot is taken on this table: the kernel
   * changes PTEs only through those, so a changed generation tells `check()`'s cached
   * kernel walk to walk again (an unchanged one does not prove the PTEs unchanged: a word
   * written straight into memory bumps nothing, and `check()` compares the pages).
   */
  generation = 0;
  private destroyed = false;
  /** The leaf slot `leafSlot()` hands out while it is not in use. */
  private spareSlot: LeafSlot | null = null;

  private constructor(
    readonly ctx: PageTableContext,
    readonly rootPfn: number,
    readonly isKernel: boolean,
  ) {
    const consts = ctx.consts;
    const half = consts.userRootEntries * ctx.sizes[consts.nrLevels];
    this.lower = isKernel ? half : 0;
    this.upper = isKernel ? ctx.sizes[consts.nrLevels + 1] : half;
  }

  /**
   * Throws unless `pfn` is a frame of this memory that this table may map: in a user page
   * table only data and page-cache frames (`isUserMappableType`), never a page-table node,
   * a metadata page or the kernel's own memory; in the kernel page table any frame in use.
   */
  checkMappable(pfn: number): void {
    this.ctx.frames.checkPfn(pfn);
    const type = this.ctx.meta.type(pfn);
    if (this.isKernel ? type === FrameType.Free : !isUserMappableType(type)) {
      fail(
        'BadFrameState',
        `frame ${pfn} (${FRAME_TYPE_NAMES[type]}) may not be mapped ${this.isKernel ? 'by the kernel' : 'as a user page'}`,
      );
    }
  }

  /** Creates the kernel page table with its shared second-level nodes. */
  static createKernel(ctx: PageTableContext): PageTable {
    const consts = ctx.consts;
    const root = allocNode(ctx, consts.nrLevels);
    const words = nodeWords(ctx, root);
    const base = nodeBase(ctx, root);
    for (let i = consts.userRootEntries; i < consts.nrEntries; i++) {
      const child = allocNode(ctx, consts.nrLevels - 1);
      ctx.meta.setHandles(child, 0);
      words[base + 2 * i] = ctx.codec.tableLo(child);
      words[base + 2 * i + 1] = ctx.codec.tableHi(child);
    }
    ctx.meta.setNrChildren(root, consts.nrEntries - consts.userRootEntries);
    return new PageTable(ctx, root, true);
  }

  /**
   * A view of a page table that already exists in shared memory (built by another thread's
   * kernel view, see `Kernel.sharedState`), rooted at `rootPfn`.
   */
  static attach(ctx: PageTableContext, rootPfn: number, isKernel: boolean): PageTable {
    ctx.frames.checkPfn(rootPfn);
    if (ctx.meta.level(rootPfn) !== ctx.consts.nrLevels)
      fail('InvalidArgument', `frame ${rootPfn} is not a page-table root`);
    return new PageTable(ctx, rootPfn, isKernel);
  }

  /** Creates a user page table sharing the kernel half of `kernel`. */
  static createUser(ctx: PageTableContext, kernel: PageTable): PageTable {
    const consts = ctx.consts;
    const root = allocNode(ctx, consts.nrLevels);
    const words = nodeWords(ctx, root);
    const base = nodeBase(ctx, root);
    const kWords = nodeWords(ctx, kernel.rootPfn);
    const kBase = nodeBase(ctx, kernel.rootPfn);
    const from = 2 * consts.userRootEntries;
    words.set(kWords.subarray(kBase + from, kBase + 2 * consts.nrEntries), base + from);
    // The shared entries are not children of this root for `nrChildren`: they are the
    // kernel's, and user cursors never see them.
    return new PageTable(ctx, root, false);
  }

  /** Throws `InvalidVaddrRange` / `UnalignedVaddr` unless `[start, end)` is a valid cursor range. */
  checkRange(start: number, end: number): void {
    if (this.destroyed) fail('InvalidArgument', 'the page table was destroyed');
    if (!(Number.isFinite(start) && Number.isFinite(end)))
      fail('InvalidVaddrRange', `${rangeText(start, end)}: not a finite address range`);
    if (start > end) fail('InvalidVaddrRange', `${rangeText(start, end)} is reversed (start above end)`);
    if (start === end) fail('InvalidVaddrRange', `${rangeText(start, end)} is empty`);
    if (!(start >= this.lower && end <= this.upper))
      fail('InvalidVaddrRange', `${rangeText(start, end)} is not in this table's half`);
    const page = this.ctx.consts.basePageSize;
    if (!isAligned(start, page) || !isAligned(end, page))
      fail('UnalignedVaddr', 'cursor range is not page aligned');
  }

  /** A mutable cursor over `[start, end)`; throws `CursorBusy` if a node it needs is locked. */
  cursorMut(start: number, end: number): CursorMut {
    this.generation++;
    return new CursorMut(this, start, end, true);
  }

  /** Like `cursorMut`, but returns `null` instead of throwing when the range is busy. */
  tryCursorMut(start: number, end: number): CursorMut | null {
    this.generation++;
    try {
      return new CursorMut(this, start, end, true);
    } catch (e) {
      if (e instanceof MmError && e.code === 'CursorBusy') return null;
      throw e;
    }
  }

  /**
   * A `LeafSlot` of this table, unlocked, for a one-page operation: one object is kept and
   * handed out again once unlocked (a fault allocates nothing), a new one while it is in use.
   */
  leafSlot(): LeafSlot {
    const spare = this.spareSlot;
    if (spare !== null && !spare.isLocked) return spare;
    const slot = new LeafSlot(this);
    this.spareSlot = slot;
    return slot;
  }

  /** A read-only cursor over `[start, end)`. */
  cursor(start: number, end: number): Cursor {
    return new Cursor(this, start, end);
  }

  /**
   * Whether entries at `level` are the kernel root's, which point at the shared nodes and
   * must never become leaves or be cleared. (The seed's literal condition also covered the
   * entries inside the shared nodes; that only matters where huge pages reach that level,
   * as on Sv39, and would forbid the 2 MiB pages Sv39 kernels map there.)
   */
  isSharedKernelLevel(level: number): boolean {
    return this.isKernel && level >= this.ctx.consts.nrLevels;
  }

  /** Whether a child of a node at `parentLevel` may ever be detached (never the kernel root's). */
  canRecycleChildOf(parentLevel: number): boolean {
    return !(this.isKernel && parentLevel >= this.ctx.consts.nrLevels);
  }

  /**
   * Whether a leaf is mapped in `[start, end)` under `node` (at `level`). The caller holds
   * a lock covering the range, so the sub-tree cannot change under this walk.
   */
  hasMappingIn(node: number, level: number, start: number, end: number): boolean {
    const ctx = this.ctx;
    const codec = ctx.codec;
    const words = nodeWords(ctx, node);
    const base = nodeBase(ctx, node);
    return someSlotIn(ctx, level, start, end, (i, from, to) => {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_ABSENT) return false;
      if (kind !== PTE_TABLE) return true;
      const child = codec.pfn(lo, hi, level);
      // A child table with no children maps nothing (`nrChildren` is exact under the lock).
      return ctx.meta.nrChildren(child) !== 0 && this.hasMappingIn(child, level - 1, from, to);
    });
  }

  /**
   * Tears down a user page table: every node and every tracked frame it references is
   * released (frames are freed with their last reference). The table is unusable after.
   */
  destroy(): void {
    if (this.isKernel) fail('InvalidArgument', 'the kernel page table is never destroyed');
    if (this.destroyed) return;
    const ctx = this.ctx;
    if (lockOwner(ctx.meta, this.rootPfn) !== 0)
      fail('CursorBusy', 'a cursor is still alive on this page table');
    const consts = ctx.consts;
    const words = nodeWords(ctx, this.rootPfn);
    const base = nodeBase(ctx, this.rootPfn);
    words.fill(0, base + 2 * consts.userRootEntries, base + 2 * consts.nrEntries);
    this.destroyed = true;
    ctx.frames.put(this.rootPfn);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

/** `[start, end)` for messages (built only when a check fails: cursors are made on every fault). */
function rangeText(start: number, end: number): string {
  return `[${formatAddr(start)}, ${formatAddr(end)})`;
}
