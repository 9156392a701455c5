import { type Kernel, type KernelPlugin, KernelToken, type PluginSpec } from '@mmkit/core';
import { inject, injectable } from 'tsyringe';

/**
 * Page-table recycling, as `page_table_recycle` in seed `000`: when a cursor leaves a node
 * whose last child went, the node is detached from its parent (marked `stray`) and freed;
 * when a cursor is dropped, it re-walks from the root to its guard node and frees empty
 * nodes on the way back (best effort when another cursor holds a node on the way). The root
 * and the kernel's shared nodes are never freed. Unlike the seed's literal condition, this
 * applies to user page tables too.
 *
 * The mechanism lives in the cursor (`PageTableContext.recycle`); this plugin switches it on.
 */
@injectable()
export class PageTableRecyclingPlugin implements KernelPlugin {
  readonly name = 'recycle';
  constructor(@inject(KernelToken) private readonly kernel: Kernel) {}

  install(): void {
    this.kernel.ctx.recycle = true;
  }

  /** Nodes freed by recycling since boot. */
  get nrRecycledNodes(): number {
    return this.kernel.ctx.nrRecycledNodes;
  }
}

/** The `pageTableRecycling` plugin spec for `createKernel({ plugins })`. */
export function pageTableRecycling(): PluginSpec {
  return { name: 'recycle', pluginClass: PageTableRecyclingPlugin };
}
