import { PROP_AVAIL1 } from '../arch/page-prop.ts';
import { PTE_ABSENT, PTE_LEAF, PTE_TABLE } from '../arch/pte-codec.ts';
import { FrameType } from '../frame/frame-type.ts';
import type { PageTableContext } from './context.ts';
import { unlockNode } from './lock.ts';
import { SWITCH_ALLOC, SWITCH_FREE, switchPoint } from './switch-points.ts';

/**
 * Page-table nodes: frames of type `PageTable` whose contents are 512 PTEs, each stored as
 * two 32-bit words (`lo` at word `2 * index`, `hi` at `2 * index + 1`) in the frame's page.
 *
 * Node metadata (in the frame's metadata slot): `level`, `nrChildren` (= the number of
 * non-absent PTEs, kept by whoever writes a PTE under the node's lock), `stray` (set when the
 * node is detached from its parent) and the lock word.
 */

/** Allocates an empty node at `level`; the caller owns its one handle. */
export function allocNode(ctx: PageTableContext, level: number): number {
  const pfn = ctx.frames.alloc(FrameType.PageTable);
  const meta = ctx.meta;
  meta.setLevel(pfn, level);
  meta.setNrChildren(pfn, 0);
  meta.setStray(pfn, false);
  // A node freed while its cursor held it (recycling under the `subtree` protocol) keeps
  // that cursor's word until the cursor drops; a new node starts unlocked.
  unlockNode(meta, pfn);
  ctx.memory.slot(pfn);
  switchPoint(SWITCH_ALLOC, pfn, 0); // the explorer may switch CPUs here (no-op otherwise)
  return pfn;
}

/** The word array holding node `pfn`'s PTEs. */
export function nodeWords(ctx: PageTableContext, pfn: number): Uint32Array {
  return ctx.memory.wordsOf(ctx.memory.slot(pfn));
}

/** Index in `nodeWords` of the first word of node `pfn`'s PTE 0. */
export function nodeBase(ctx: PageTableContext, pfn: number): number {
  return ctx.memory.wordBase(ctx.memory.slot(pfn));
}

/**
 * Drop hook of page-table frames: releases what the node's PTEs reference (child nodes and
 * tracked frames; untracked leaves reference nothing). Runs when the node's last reference
 * goes, so nobody can hold its lock. Bumps the node-link generation (the node's frame may
 * come back as any other frame). The scan stops after the node's `nrChildren`
 * non-absent PTEs (an empty node is not scanned at all), and passes over zero words four
 * slots at a time (`nrEntries` is a multiple of four): a process's nodes are sparse (about
 * six PTEs in the first half of a leaf node in a replay).
 */
export function releaseNodeChildren(ctx: PageTableContext, pfn: number): void {
  switchPoint(SWITCH_FREE, pfn, 0); // the explorer may switch CPUs here (no-op otherwise)
  ctx.reclaim.bumpLinkGeneration();
  const level = ctx.meta.level(pfn);
  const codec = ctx.codec;
  const words = nodeWords(ctx, pfn);
  const base = nodeBase(ctx, pfn);
  const end = base + 2 * ctx.consts.nrEntries;
  let left = ctx.meta.nrChildren(pfn);
  let k = base;
  while (left > 0 && k < end) {
    // Zero words are absent on every architecture.
    const any =
      words[k] |
      words[k + 1] |
      words[k + 2] |
      words[k + 3] |
      words[k + 4] |
      words[k + 5] |
      words[k + 6] |
      words[k + 7];
    if (any === 0) {
      k += 8;
      continue;
    }
    for (const stop = k + 8; k < stop; k += 2) {
      const lo = words[k];
      const hi = words[k + 1];
      if (lo === 0 && hi === 0) continue;
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_ABSENT) continue;
      left--;
      if (kind === PTE_TABLE) {
        ctx.frames.decRef(codec.pfn(lo, hi, level));
      } else if (kind === PTE_LEAF && (codec.prop(lo, hi, level) & PROP_AVAIL1) === 0) {
        ctx.frames.decRef(codec.pfn(lo, hi, level));
        ctx.nrReleasedLeaves++;
      }
    }
  }
  ctx.meta.setNrChildren(pfn, 0);
}
