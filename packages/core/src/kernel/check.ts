import { PROP_AVAIL1 } from '../arch/page-prop.ts';
import { PTE_ABSENT, PTE_LEAF, PTE_TABLE } from '../arch/pte-codec.ts';
import { FRAME_TYPE_NAMES, FrameType, isUserMappableType } from '../frame/frame-type.ts';
import { REF_COUNT_UNUSED } from '../frame/ref-count.ts';
import type { PageTableContext } from '../page-table/context.ts';
import { nodeBase, nodeWords } from '../page-table/node.ts';
import type { PageTable } from '../page-table/page-table.ts';

/** One broken invariant, with enough detail to debug it. */
export interface Violation {
  kind: string;
  pfn?: number;
  message: string;
}

// Imported constants the per-entry and per-frame loops test, read once: where modules are
// transformed (the test runner's module runner, tsx), each read of an imported binding is a
// getter call, which those loops would pay per entry.
const ABSENT = PTE_ABSENT;
const TABLE = PTE_TABLE;
const LEAF = PTE_LEAF;
const AVAIL1 = PROP_AVAIL1;
const UNUSED = REF_COUNT_UNUSED;
const PAGE_TABLE = FrameType.PageTable;
const userMappable = isUserMappableType;

/**
 * What the walk of the kernel page table found, reused only while a walk could not find
 * anything else. The walk's result depends on nothing but the PTE words and the metadata
 * (type, level, child count, stray flag) of the nodes it entered, and the number of
 * frames; so it is reused while all of them equal this copy, compared in full at every
 * check (the words with one `memcmp` per node): a PTE word or a node's metadata written
 * behind every cursor's back is seen by the next check, as a fresh walk would see it.
 * (`generation` only tells early that a cursor may have changed something; an unchanged
 * generation proves nothing.) Reference counts and allocator state of these nodes are
 * checked afresh with every other frame.
 */
interface KernelWalk {
  generation: number;
  /** Frames in memory (a PTE to a frame at or past it is a violation). */
  capacity: number;
  /** Nodes entered, in walk order. */
  nodes: Int32Array;
  /** Per node: type, level, `nrChildren`, stray (1/0). */
  meta: Int32Array;
  /** Per node, the memory slot its page was in (its view below is of that slot). */
  slots: Int32Array;
  /** Per node, a view of its page (live). */
  pages: Buffer[];
  /** Per node, a copy of its page as walked (one shared page of zeros for empty ones). */
  copies: Buffer[];
  /** Frames the walk counted a PTE reference to (repeated per reference). */
  refs: Int32Array;
  /** Nodes the walk counted as a child (repeated per parent PTE). */
  children: Int32Array;
  violations: Violation[];
}

/** The last walk of each kernel page table (one per kernel). */
const kernelWalks = new WeakMap<PageTable, KernelWalk>();

/** The bytes of node `pfn`'s page, viewed in place. */
function pageView(ctx: PageTableContext, pfn: number): Buffer {
  const words = nodeWords(ctx, pfn);
  const bytes = 8 * ctx.consts.nrEntries;
  return Buffer.from(words.buffer, words.byteOffset + 4 * nodeBase(ctx, pfn), bytes);
}

/** Records what `checkPhysical` needs to reuse a walk of the kernel page table. */
function recordKernelWalk(
  ctx: PageTableContext,
  table: PageTable,
  nodes: readonly number[],
  refs: readonly number[],
  children: readonly number[],
  violations: readonly Violation[],
): KernelWalk {
  const meta = ctx.meta;
  const zeros = Buffer.alloc(8 * ctx.consts.nrEntries);
  const m = new Int32Array(4 * nodes.length);
  const slots = new Int32Array(nodes.length);
  const pages: Buffer[] = [];
  const copies: Buffer[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    m[4 * i] = meta.type(node);
    m[4 * i + 1] = meta.level(node);
    m[4 * i + 2] = meta.nrChildren(node);
    m[4 * i + 3] = meta.stray(node) ? 1 : 0;
    slots[i] = ctx.memory.slot(node);
    const page = pageView(ctx, node);
    pages.push(page);
    copies.push(page.equals(zeros) ? zeros : Buffer.from(page));
  }
  return {
    generation: table.generation,
    capacity: meta.capacity,
    nodes: Int32Array.from(nodes),
    meta: m,
    slots,
    pages,
    copies,
    refs: Int32Array.from(refs),
    children: Int32Array.from(children),
    violations: violations.slice(),
  };
}

/** Whether a walk of `table` now would find exactly what `walk` found (see `KernelWalk`). */
function stillValid(ctx: PageTableContext, table: PageTable, walk: KernelWalk): boolean {
  const meta = ctx.meta;
  if (walk.generation !== table.generation || walk.capacity !== meta.capacity) return false;
  const memory = ctx.memory;
  const m = walk.meta;
  for (let i = 0; i < walk.nodes.length; i++) {
    const node = walk.nodes[i];
    if (
      meta.type(node) !== m[4 * i] ||
      meta.level(node) !== m[4 * i + 1] ||
      meta.nrChildren(node) !== m[4 * i + 2] ||
      (meta.stray(node) ? 1 : 0) !== m[4 * i + 3] ||
      !memory.isBacked(node) ||
      memory.slot(node) !== walk.slots[i] ||
      !walk.pages[i].equals(walk.copies[i])
    )
      return false;
  }
  return true;
}

/**
 * Verifies the physical layer's invariants over every live page table:
 * - every frame's reference count equals its handles plus the PTEs that point to it;
 * - every node's `nrChildren` equals its non-absent PTEs, its level is the one its
 *   position implies, it is not stray, and it has exactly one parent;
 * - the kernel half of every user root equals the kernel root's;
 * - every tracked leaf of a user table maps a frame user space may map (data or page
 *   cache: `isUserMappableType`), never a node, a metadata page or a kernel frame;
 * - no free frame is referenced, and the allocator agrees with the metadata on which
 *   frames are free;
 * - a node retired by the deferred free (`NodeReclaim`) is an empty, stray, unreachable
 *   node whose one handle is the retire list's, and every stray node in use is one of
 *   them (retired nodes are not leaks: they are freed after their grace period).
 * What it guarantees: the same violations as a full walk of every table and every frame,
 * whatever was written and however (through cursors, or straight into memory or
 * metadata). The kernel page table's walk (its shared half is ~256 nodes that rarely
 * change) is reused only when its nodes' words and metadata are equal to those the walk
 * read (`KernelWalk`); user tables and frames are checked afresh every time.
 */
export function checkPhysical(
  ctx: PageTableContext,
  kernelTable: PageTable,
  userTables: readonly PageTable[],
): Violation[] {
  const out: Violation[] = [];
  const meta = ctx.meta;
  const frames = ctx.frames;
  const codec = ctx.codec;
  const consts = ctx.consts;
  const n = meta.capacity;
  const nrLevels = consts.nrLevels;
  const pteRefs = new Uint32Array(n);
  const parents = new Uint8Array(n);
  // A PTE of two zero words is skipped without decoding when the codec reads it as absent
  // at every level (it does on every architecture; asked, not assumed).
  let zeroIsAbsent = true;
  for (let level = 1; level <= nrLevels; level++)
    if (codec.kind(0, 0, level) !== ABSENT) zeroIsAbsent = false;
  // Recording the kernel walk: nodes entered, references counted.
  let recording = false;
  const rNodes: number[] = [];
  const rRefs: number[] = [];
  const rChildren: number[] = [];

  // `user`: the node belongs to a user table's half (its tracked leaves are user pages).
  const walk = (node: number, level: number, from: number, to: number, user: boolean): void => {
    if (recording) rNodes.push(node);
    if (meta.type(node) !== PAGE_TABLE) {
      out.push({
        kind: 'node-type',
        pfn: node,
        message: `node ${node} has frame type ${FRAME_TYPE_NAMES[meta.type(node)]}`,
      });
      return;
    }
    if (meta.level(node) !== level) {
      out.push({
        kind: 'node-level',
        pfn: node,
        message: `node ${node} has level ${meta.level(node)}, its position says ${level}`,
      });
    }
    if (meta.stray(node))
      out.push({ kind: 'node-stray', pfn: node, message: `reachable node ${node} is marked stray` });
    const words = nodeWords(ctx, node);
    const base = nodeBase(ctx, node);
    let present = 0;
    for (let i = from; i < to; i++) {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      if (zeroIsAbsent && (lo | hi) === 0) continue;
      const kind = codec.kind(lo, hi, level);
      if (kind === ABSENT) continue;
      present++;
      const target = codec.pfn(lo, hi, level);
      if (kind === TABLE) {
        if (level === 1) {
          out.push({ kind: 'pte', pfn: node, message: `level-1 node ${node} entry ${i} decodes as a table` });
          continue;
        }
        if (target >= n) {
          out.push({
            kind: 'pte',
            pfn: node,
            message: `node ${node} entry ${i} points past memory (${target})`,
          });
          continue;
        }
        pteRefs[target]++;
        if (recording) {
          rRefs.push(target);
          rChildren.push(target);
        }
        if (parents[target]++ > 0) {
          out.push({ kind: 'node-parents', pfn: target, message: `node ${target} has more than one parent` });
          continue;
        }
        walk(target, level - 1, 0, consts.nrEntries, user);
      } else if (kind === LEAF && (codec.prop(lo, hi, level) & AVAIL1) === 0) {
        if (level !== 1)
          out.push({
            kind: 'pte',
            pfn: node,
            message: `tracked huge leaf at level ${level} in node ${node}`,
          });
        if (target >= n) {
          out.push({
            kind: 'pte',
            pfn: node,
            message: `node ${node} entry ${i} maps a frame past memory (${target})`,
          });
          continue;
        }
        pteRefs[target]++;
        if (user && meta.refCount(target) !== UNUSED && !userMappable(meta.type(target))) {
          out.push({
            kind: 'user-frame-type',
            pfn: target,
            message: `node ${node} entry ${i} maps ${FRAME_TYPE_NAMES[meta.type(target)]} frame ${target} as a user page`,
          });
        }
        if (recording) rRefs.push(target);
      }
    }
    const counted = from === 0 && to === consts.nrEntries;
    if (counted && present !== meta.nrChildren(node)) {
      out.push({
        kind: 'node-children',
        pfn: node,
        message: `node ${node} (level ${level}) says ${meta.nrChildren(node)} children, has ${present} valid PTEs`,
      });
    }
  };

  const userEntries = consts.userRootEntries;
  const cached = kernelWalks.get(kernelTable);
  if (cached !== undefined && stillValid(ctx, kernelTable, cached)) {
    for (const pfn of cached.refs) pteRefs[pfn]++;
    for (const pfn of cached.children) parents[pfn]++;
    out.push(...cached.violations);
  } else {
    recording = true;
    walk(kernelTable.rootPfn, nrLevels, 0, consts.nrEntries, false);
    recording = false;
    kernelWalks.set(kernelTable, recordKernelWalk(ctx, kernelTable, rNodes, rRefs, rChildren, out));
  }
  const kWords = nodeWords(ctx, kernelTable.rootPfn);
  const kBase = nodeBase(ctx, kernelTable.rootPfn);
  for (const table of userTables) {
    const root = table.rootPfn;
    if (parents[root]++ > 0)
      out.push({ kind: 'node-parents', pfn: root, message: `root ${root} is also a child` });
    walk(root, nrLevels, 0, userEntries, true);
    const words = nodeWords(ctx, root);
    const base = nodeBase(ctx, root);
    let userPresent = 0;
    for (let i = 0; i < userEntries; i++) {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      if (zeroIsAbsent && (lo | hi) === 0) continue;
      if (codec.kind(lo, hi, nrLevels) !== ABSENT) userPresent++;
    }
    if (userPresent !== meta.nrChildren(root)) {
      out.push({
        kind: 'node-children',
        pfn: root,
        message: `user root ${root} says ${meta.nrChildren(root)} children, has ${userPresent}`,
      });
    }
    for (let i = 2 * userEntries; i < 2 * consts.nrEntries; i++) {
      if (words[base + i] !== kWords[kBase + i]) {
        out.push({
          kind: 'kernel-half',
          pfn: root,
          message: `user root ${root} differs from the kernel root at entry ${i >> 1}`,
        });
        break;
      }
    }
  }

  const retired = checkRetiredNodes(ctx, parents, out);

  const allocator = frames.allocator;
  for (let pfn = 0; pfn < n; pfn++) {
    const rc = meta.refCount(pfn);
    if (rc === UNUSED) {
      if (pteRefs[pfn] !== 0)
        out.push({
          kind: 'free-referenced',
          pfn,
          message: `free frame ${pfn} is referenced by ${pteRefs[pfn]} PTEs`,
        });
      if (!allocator.isFree(pfn))
        out.push({ kind: 'allocator', pfn, message: `frame ${pfn} is unused but taken in the allocator` });
      continue;
    }
    if (allocator.isFree(pfn))
      out.push({ kind: 'allocator', pfn, message: `frame ${pfn} is in use but free in the allocator` });
    if (meta.type(pfn) === PAGE_TABLE && meta.stray(pfn) && parents[pfn] === 0 && !retired.has(pfn))
      out.push({
        kind: 'node-stray',
        pfn,
        message: `stray node ${pfn} is in use but neither reachable nor retired`,
      });
    const expected = meta.handles(pfn) + pteRefs[pfn];
    if (rc !== expected) {
      out.push({
        kind: 'ref-count',
        pfn,
        message: `frame ${pfn} (${FRAME_TYPE_NAMES[meta.type(pfn)]}) has count ${rc}, but ${meta.handles(pfn)} handles + ${pteRefs[pfn]} PTEs`,
      });
    }
  }
  return out;
}

/**
 * The number of leaf PTEs (of any level, tracked or not) in the user half of user table
 * `table`: what a cursor's `findNext` would stop at over the whole half. Reads the PTE words directly,
 * skipping zero words, and descends only into table entries that `checkPhysical` would
 * walk into (a level above 1, a frame inside memory); it does not check the nodes.
 */
export function countUserLeaves(ctx: PageTableContext, table: PageTable): number {
  const codec = ctx.codec;
  const consts = ctx.consts;
  const n = ctx.meta.capacity;
  const nrLevels = consts.nrLevels;
  let zeroIsAbsent = true;
  for (let level = 1; level <= nrLevels; level++)
    if (codec.kind(0, 0, level) !== ABSENT) zeroIsAbsent = false;
  const count = (node: number, level: number, to: number): number => {
    const words = nodeWords(ctx, node);
    const base = nodeBase(ctx, node);
    let leaves = 0;
    for (let i = 0; i < to; i++) {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      if (zeroIsAbsent && (lo | hi) === 0) continue;
      const kind = codec.kind(lo, hi, level);
      if (kind === LEAF) leaves++;
      else if (kind === TABLE && level > 1) {
        const child = codec.pfn(lo, hi, level);
        if (child < n) leaves += count(child, level - 1, consts.nrEntries);
      }
    }
    return leaves;
  };
  return count(table.rootPfn, nrLevels, consts.userRootEntries);
}

/**
 * The nodes this view retired and has not freed yet (`NodeReclaim`): each must be an empty,
 * stray `PageTable` frame that no PTE reaches, holding the retire list's one handle. Returns
 * them, for the frame pass: there a stray node in use that is not retired is lost (nothing
 * would ever free it). Nodes retired by other views count as lost too: `check()` runs after
 * they synchronized.
 */
function checkRetiredNodes(ctx: PageTableContext, parents: Uint8Array, out: Violation[]): Set<number> {
  const meta = ctx.meta;
  const retired = new Set(ctx.reclaim.retiredNodes());
  for (const pfn of retired) {
    if (
      meta.refCount(pfn) === UNUSED ||
      meta.type(pfn) !== PAGE_TABLE ||
      !meta.stray(pfn) ||
      meta.nrChildren(pfn) !== 0 ||
      meta.handles(pfn) !== 1 ||
      parents[pfn] !== 0
    ) {
      out.push({
        kind: 'node-retired',
        pfn,
        message: `retired node ${pfn} is not an empty, stray, unreachable node with one handle`,
      });
    }
  }
  return retired;
}
