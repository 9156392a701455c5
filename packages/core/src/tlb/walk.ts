import { PTE_ABSENT, PTE_TABLE } from '../arch/pte-codec.ts';
import type { PageTableContext } from '../page-table/context.ts';
import { nodeBase, nodeWords } from '../page-table/node.ts';

/** Where `readLeaf` puts the translation it found. */
export interface LeafTranslation {
  pfn: number;
  prop: number;
}

/**
 * Reads the translation of base page `vpn` in the page table rooted at `root` without a
 * cursor and without taking locks: for checks run between operations, when no cursor is
 * live. Returns false if no leaf maps the page; otherwise fills `out` (the frame of that
 * very base page, inside a huge leaf if need be).
 */
export function readLeaf(ctx: PageTableContext, root: number, vpn: number, out: LeafTranslation): boolean {
  const consts = ctx.consts;
  const codec = ctx.codec;
  let node = root;
  for (let level = consts.nrLevels; level >= 1; level--) {
    const pages = ctx.pagesAt[level];
    const index = Math.floor(vpn / pages) % consts.nrEntries;
    const words = nodeWords(ctx, node);
    const at = nodeBase(ctx, node) + 2 * index;
    const lo = words[at];
    const hi = words[at + 1];
    const kind = codec.kind(lo, hi, level);
    if (kind === PTE_ABSENT) return false;
    if (kind === PTE_TABLE) {
      node = codec.pfn(lo, hi, level);
      continue;
    }
    out.pfn = codec.pfn(lo, hi, level) + (vpn % pages);
    out.prop = codec.prop(lo, hi, level);
    return true;
  }
  return false;
}
