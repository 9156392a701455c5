import { formatProp, type Kernel, type PageTable, PROP_AVAIL1, PTE_ABSENT, PTE_LEAF } from '@mmkit/core';
import { decodePteBits, pteBits, pteHex } from './pte-bits.ts';

/** One present entry of a page-table node. */
export interface PtEntry {
  index: number;
  /** First virtual address the entry translates. */
  va: number;
  /** Raw PTE, 16 hex digits. */
  raw: string;
  /** Hardware bits set, by name (see `pteBits`). */
  bits: string;
  kind: 'table' | 'leaf';
  /** Frame the entry points to: the child node or the mapped frame. */
  pfn: number;
  /** Leaves: bytes the leaf maps (more than the base page size: a huge page). */
  size?: number;
  /** Leaves: the decoded architecture-neutral property (`rw- u- ad WB`). */
  prop?: string;
  /** Leaves: whether the frame is reference counted (tracked) or untracked physical memory. */
  tracked?: boolean;
  /** Tables: the child node. */
  child?: PtNode;
}

/** A page-table node and its present entries that overlap the range asked for. */
export interface PtNode {
  pfn: number;
  /** Level: `nrLevels` is the root; level 1 holds base-page leaves. */
  level: number;
  /** First virtual address the node covers. */
  va: number;
  /** Present entries of the node in the table's half, over the whole node (not only the range shown). */
  nrPresent: number;
  entries: PtEntry[];
}

/**
 * The nodes and entries of `pt` that translate addresses in `[start, end)`, read straight
 * from the nodes' words (the raw PTEs). No cursor is held: call it between operations, when
 * no lock is taken, as the replay's views do.
 */
export function pageTableTree(kernel: Kernel, pt: PageTable, start: number, end: number): PtNode {
  const bits = pteBits(kernel.consts.name);
  const { codec, sizes, memory } = pt.ctx;
  const nrEntries = kernel.consts.nrEntries;
  const walk = (pfn: number, level: number, va: number): PtNode => {
    const slot = memory.slot(pfn);
    const words = memory.wordsOf(slot);
    const base = memory.wordBase(slot);
    const node: PtNode = { pfn, level, va, nrPresent: 0, entries: [] };
    const span = sizes[level];
    for (let i = 0; i < nrEntries; i++) {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_ABSENT) continue;
      const eva = va + i * span;
      // A user root holds copies of the kernel's root entries: they are not this table's.
      if (eva < pt.lower || eva >= pt.upper) continue;
      node.nrPresent++;
      if (eva + span <= start || eva >= end) continue;
      const target = codec.pfn(lo, hi, level);
      const entry: PtEntry = {
        index: i,
        va: eva,
        raw: pteHex(lo, hi),
        bits: decodePteBits(bits, lo, hi),
        kind: kind === PTE_LEAF ? 'leaf' : 'table',
        pfn: target,
      };
      if (kind === PTE_LEAF) {
        const prop = codec.prop(lo, hi, level);
        entry.size = span;
        entry.prop = formatProp(prop);
        entry.tracked = (prop & PROP_AVAIL1) === 0;
      } else {
        entry.child = walk(target, level - 1, eva);
      }
      node.entries.push(entry);
    }
    return node;
  };
  return walk(pt.rootPfn, kernel.consts.nrLevels, 0);
}

/** Nodes per level in a tree (index = level). */
export function treeNodesPerLevel(root: PtNode): number[] {
  const out = new Array(root.level + 1).fill(0);
  const visit = (n: PtNode): void => {
    out[n.level]++;
    for (const e of n.entries) if (e.child) visit(e.child);
  };
  visit(root);
  return out;
}
