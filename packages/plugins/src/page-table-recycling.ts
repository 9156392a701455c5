import type { KernelPlugin, PageTable, PluginSpec } from '@mmkit/core';
import {
  type CursorMut,
  fail,
  LOCK_SUBTREE,
  lockOwner,
  nodeBase,
  nodeWords,
  type PageTableContext,
  PageTableContextToken,
  PTE_TABLE,
  plantedBugs,
  SWITCH_PTE_WRITE,
  switchPoint,
  tryLockNode,
  unlockNode,
} from '@mmkit/core/internal';
import { inject, injectable } from 'tsyringe';

/**
 * Page-table recycling (`recycle`), as `page_table_recycle` in seed `000`, through the
 * cursor hooks:
 * - `cursorLeftEmptyNode`: when a cursor leaves a node whose last child went, the node is
 *   detached from its parent under the parent's lock (which the cursor holds), marked
 *   `stray` (a lock-free walker that reached it retries from the root) and freed (under
 *   `subtree` after a grace period, see `free`);
 * - `cursorDroppedEmptyGuard`: when a cursor whose guard node is empty is dropped, a walk
 *   from the root to the guard locks each node on the way (hand over hand is not needed:
 *   it keeps the whole path) and frees every empty node on the way back up. Best effort:
 *   it stops where another cursor holds a node.
 * The roots and the kernel's shared nodes are never freed. Unlike the seed's literal
 * condition (always true after its loop), the re-walk runs only when the guard is empty,
 * as the seed's comment intends; it applies to user page tables too.
 */
@injectable()
export class PageTableRecyclingPlugin implements KernelPlugin {
  readonly name = 'recycle';
  /** Nodes freed by recycling since boot. */
  nrRecycledNodes = 0;

  constructor(@inject(PageTableContextToken) private readonly ctx: PageTableContext) {}

  cursorLeftEmptyNode(cursor: CursorMut, node: number): void {
    if (!cursor.pt.canRecycleChildOf(cursor.level)) return;
    // `plantedBugs.recycleWithoutStray`: fault injection for the interleaving explorer.
    this.ctx.meta.setStray(node, !plantedBugs.recycleWithoutStray);
    cursor.writePte(0, 0);
    this.free(node);
  }

  cursorDroppedEmptyGuard(pt: PageTable, va: number): void {
    const ctx = this.ctx;
    const meta = ctx.meta;
    const codec = ctx.codec;
    const owner = ctx.newOwner();
    const path: number[] = [];
    const slot: number[] = [];
    let node = pt.rootPfn;
    let level = ctx.consts.nrLevels;
    if (!tryLockNode(meta, node, owner)) return;
    path.push(node);
    while (level > 1) {
      const idx = Math.floor(va / ctx.sizes[level]) & (ctx.consts.nrEntries - 1);
      const at = nodeBase(ctx, node) + 2 * idx;
      const words = nodeWords(ctx, node);
      if (codec.kind(words[at], words[at + 1], level) !== PTE_TABLE) break;
      const child = codec.pfn(words[at], words[at + 1], level);
      if (!tryLockNode(meta, child, owner)) break;
      slot.push(idx);
      path.push(child);
      node = child;
      level--;
    }
    for (let i = path.length - 1; i >= 1; i--) {
      const child = path[i];
      const parent = path[i - 1];
      if (meta.nrChildren(child) !== 0 || !pt.canRecycleChildOf(meta.level(parent))) {
        unlockNode(meta, child);
        continue;
      }
      if (ctx.debug && lockOwner(meta, parent) !== owner)
        fail('LockNotHeld', 'recycling without the parent lock');
      // Marked stray and detached before its lock goes: a cursor that walked down to it
      // without locks and takes the lock next must see it stray.
      meta.setStray(child, !plantedBugs.recycleWithoutStray);
      const at = nodeBase(ctx, parent) + 2 * slot[i - 1];
      const words = nodeWords(ctx, parent);
      switchPoint(SWITCH_PTE_WRITE, parent, va); // the explorer may switch CPUs here (no-op otherwise)
      words[at] = 0;
      words[at + 1] = 0;
      meta.setNrChildren(parent, meta.nrChildren(parent) - 1);
      unlockNode(meta, child);
      this.free(child);
    }
    unlockNode(meta, path[0]);
  }

  /**
   * Drops the reference the parent's PTE held (the node is detached, marked stray and
   * empty). Under `subtree`, where cursors walk down without locks, the node is retired
   * and freed after a grace period (`NodeReclaim`: a walker may still hold its address);
   * under `hoh` and `global` it is reached only under its parent's lock, and goes at once.
   * `plantedBugs.freeAtOnce` (fault injection for the explorer) frees it at once always.
   */
  private free(node: number): void {
    this.nrRecycledNodes++;
    if (this.ctx.lockProtocol.kind === LOCK_SUBTREE && !plantedBugs.freeAtOnce) this.ctx.reclaim.retire(node);
    else this.ctx.frames.decRef(node);
  }
}

/** The `pageTableRecycling` plugin spec for `createKernel({ plugins })`. */
export function pageTableRecycling(): PluginSpec {
  return { name: 'recycle', pluginClass: PageTableRecyclingPlugin, optionNames: [] };
}
