import { PROP_AVAIL1 } from '../arch/page-prop.ts';
import { PTE_ABSENT, PTE_LEAF, PTE_TABLE } from '../arch/pte-codec.ts';
import { FRAME_TYPE_NAMES, FrameType, isUserMappableType } from '../frame/frame-type.ts';
import { REF_COUNT_UNUSED } from '../frame/ref-count.ts';
import type { PageTableContext } from '../page-table/context.ts';
import { lockOwner } from '../page-table/lock.ts';
import { nodeBase, nodeWords } from '../page-table/node.ts';
import type { PageTable } from '../page-table/page-table.ts';

/** One broken invariant, with enough detail to debug it. */
export interface Violation {
  kind: string;
  pfn?: number;
  message: string;
}

/**
 * What the walk of the kernel page table found, reused while nothing it read can have
 * changed: PTEs change only through mutable cursors, and creating one bumps the table's
 * `generation`; so the walk stands while the generation is the same, no node it entered
 * is locked (no cursor is half-way through a change), and the metadata of those nodes
 * (type, level, child count, stray flag: compared at every check) is the same. A PTE word
 * written behind every cursor's back would only be seen once a cursor is created again.
 */
interface KernelWalk {
  generation: number;
  /** Nodes entered, in walk order. */
  nodes: Int32Array;
  /** Per node: type, level, `nrChildren`, stray (1/0). */
  meta: Int32Array;
  /** Frames the walk counted a PTE reference to (repeated per reference). */
  refs: number[];
  /** Nodes the walk counted as a child (repeated per parent PTE). */
  children: number[];
  violations: Violation[];
}

/** The last walk of each kernel page table (one per kernel). */
const kernelWalks = new WeakMap<PageTable, KernelWalk>();

/** Packs the metadata the walk reads of each of `nodes`. */
function nodeMeta(ctx: PageTableContext, nodes: ArrayLike<number>): Int32Array {
  const meta = ctx.meta;
  const m = new Int32Array(4 * nodes.length);
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i];
    m[4 * i] = meta.type(node);
    m[4 * i + 1] = meta.level(node);
    m[4 * i + 2] = meta.nrChildren(node);
    m[4 * i + 3] = meta.stray(node) ? 1 : 0;
  }
  return m;
}

/** Whether `walk` still describes `table` (see `KernelWalk`). */
function stillValid(ctx: PageTableContext, table: PageTable, walk: KernelWalk): boolean {
  if (walk.generation !== table.generation) return false;
  const meta = ctx.meta;
  const m = walk.meta;
  for (let i = 0; i < walk.nodes.length; i++) {
    const node = walk.nodes[i];
    if (
      lockOwner(meta, node) !== 0 ||
      meta.type(node) !== m[4 * i] ||
      meta.level(node) !== m[4 * i + 1] ||
      meta.nrChildren(node) !== m[4 * i + 2] ||
      (meta.stray(node) ? 1 : 0) !== m[4 * i + 3]
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
 * The kernel page table's walk (its shared half is ~256 nodes that rarely change) is
 * reused while nothing it read can have changed (`KernelWalk`); everything else is
 * checked afresh.
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
  const pteRefs = new Uint32Array(n);
  const parents = new Uint8Array(n);
  // Recording the kernel walk: nodes entered, references counted.
  let recording = false;
  const rNodes: number[] = [];
  const rRefs: number[] = [];
  const rChildren: number[] = [];

  // `user`: the node belongs to a user table's half (its tracked leaves are user pages).
  const walk = (node: number, level: number, from: number, to: number, user: boolean): void => {
    if (recording) rNodes.push(node);
    if (meta.type(node) !== FrameType.PageTable) {
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
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_ABSENT) continue;
      present++;
      const target = codec.pfn(lo, hi, level);
      if (kind === PTE_TABLE) {
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
      } else if (kind === PTE_LEAF && (codec.prop(lo, hi, level) & PROP_AVAIL1) === 0) {
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
        const type = meta.type(target);
        if (user && meta.refCount(target) !== REF_COUNT_UNUSED && !isUserMappableType(type)) {
          out.push({
            kind: 'user-frame-type',
            pfn: target,
            message: `node ${node} entry ${i} maps ${FRAME_TYPE_NAMES[type]} frame ${target} as a user page`,
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

  const nrLevels = consts.nrLevels;
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
    const nodes = Int32Array.from(rNodes);
    if (!nodes.some((node) => lockOwner(meta, node) !== 0)) {
      const walk = { generation: kernelTable.generation, nodes, meta: nodeMeta(ctx, nodes) };
      kernelWalks.set(kernelTable, { ...walk, refs: rRefs, children: rChildren, violations: out.slice() });
    }
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
      if (codec.kind(words[base + 2 * i], words[base + 2 * i + 1], nrLevels) !== PTE_ABSENT) userPresent++;
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

  checkRetiredNodes(ctx, parents, out);

  const allocator = frames.allocator;
  for (let pfn = 0; pfn < n; pfn++) {
    const rc = meta.refCount(pfn);
    if (rc === REF_COUNT_UNUSED) {
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
 * The nodes this view retired and has not freed yet (`NodeReclaim`): each must be an empty,
 * stray `PageTable` frame that no PTE reaches, holding the retire list's one handle; and
 * a stray node in use that is not retired is lost (nothing would ever free it). Nodes
 * retired by other views count as lost too: `check()` runs after they synchronized.
 */
function checkRetiredNodes(ctx: PageTableContext, parents: Uint8Array, out: Violation[]): void {
  const meta = ctx.meta;
  const retired = new Set(ctx.reclaim.retiredNodes());
  for (const pfn of retired) {
    if (
      meta.refCount(pfn) === REF_COUNT_UNUSED ||
      meta.type(pfn) !== FrameType.PageTable ||
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
  for (let pfn = 0; pfn < meta.capacity; pfn++) {
    if (meta.type(pfn) !== FrameType.PageTable || !meta.stray(pfn)) continue;
    if (meta.refCount(pfn) === REF_COUNT_UNUSED || retired.has(pfn) || parents[pfn] !== 0) continue;
    out.push({
      kind: 'node-stray',
      pfn,
      message: `stray node ${pfn} is in use but neither reachable nor retired`,
    });
  }
}
