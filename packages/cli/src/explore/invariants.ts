import { FRAME_TYPE_NAMES, FrameType, type Kernel, type LockProtocolName } from '@mmkit/core';
import {
  lockOwner,
  nodeBase,
  nodeWords,
  PTE_ABSENT,
  PTE_TABLE,
  SWITCH_PTE_WRITE,
} from '@mmkit/core/internal';
import { CPU_PAUSED, type ExploreControl, OP_END, OP_START, PFN, POINT, STATE, VA } from './control.ts';

/** Bits of a lock owner id below its owner-id block (`PageTableContext.setOwnerBlock`). */
const OWNER_BLOCK_SHIFT = 24;

/** One broken invariant found at a switch. */
export interface ExploreViolation {
  /** `nr_children`, `stray`, `lock-owner`, `pte-write`, `cpu-error`, `check`, `leak`, `stuck`. */
  readonly kind: string;
  readonly message: string;
}

/** The CPU (0-based) whose owner-id block `owner` is in; -1 for the scheduler's own block. */
export function cpuOfOwner(owner: number): number {
  return (owner >>> OWNER_BLOCK_SHIFT) - 1;
}

/**
 * The invariants of the page table under exploration, checked while every CPU is paused
 * at a switch point (seed `004`'s node invariants and the lock protocol's promises):
 * 1. `nr_children`: every node reachable from the root counts its non-absent PTEs exactly,
 *    has the level its position implies, is a page-table frame and has one parent;
 * 2. `stray`: no node reachable from the root is marked stray;
 * 3. lock ownership: every locked node's owner is a CPU inside an operation; under
 *    `global` a CPU locks other nodes only while it holds the root; under `hoh` and `subtree` a reachable locked
 *    node covers part of its owner's range; and a CPU about to write a PTE holds the lock
 *    covering the node, and the node is where the walk from the root to that address
 *    leads (not detached, not freed, not re-used elsewhere).
 * Returns the first violation found, or null.
 */
export class SwitchChecker {
  /** Per frame: 1 + the level of a reachable node at it, 0 if none (rebuilt per check). */
  private readonly reachableLevel: Uint8Array;
  /** Per frame: start address of the range a reachable node covers. */
  private readonly spanStart: Float64Array;
  private readonly reached: number[] = [];

  constructor(
    private readonly kernel: Kernel,
    private readonly protocol: LockProtocolName,
    private readonly control: ExploreControl,
  ) {
    this.reachableLevel = new Uint8Array(kernel.frames.nrFrames);
    this.spanStart = new Float64Array(kernel.frames.nrFrames);
  }

  check(root: number): ExploreViolation | null {
    return this.walk(root) ?? this.checkLocks(root) ?? this.checkPendingWrites(root);
  }

  /** Invariants 1 and 2 over the user half of the table; records the reachable nodes. */
  private walk(root: number): ExploreViolation | null {
    for (const pfn of this.reached) this.reachableLevel[pfn] = 0;
    this.reached.length = 0;
    const ctx = this.kernel.ctx;
    const consts = ctx.consts;
    return this.walkNode(root, -1, consts.nrLevels, 0, consts.userRootEntries);
  }

  private walkNode(
    node: number,
    parent: number,
    level: number,
    start: number,
    nrSlots: number,
  ): ExploreViolation | null {
    const ctx = this.kernel.ctx;
    const meta = ctx.meta;
    const codec = ctx.codec;
    if (this.reachableLevel[node] !== 0)
      return { kind: 'nr_children', message: `node ${node} is reachable through two parents` };
    this.reachableLevel[node] = level + 1;
    this.spanStart[node] = start;
    this.reached.push(node);
    if (meta.type(node) !== FrameType.PageTable)
      return {
        kind: 'stray',
        message: `node ${node} (level ${level}) is reachable but is a ${FRAME_TYPE_NAMES[meta.type(node)]} frame`,
      };
    if (meta.level(node) !== level)
      return {
        kind: 'nr_children',
        message: `node ${node} has level ${meta.level(node)}, its position says ${level}`,
      };
    if (meta.stray(node) && !this.beingDetached(parent, start, start + ctx.sizes[level + 1]))
      return {
        kind: 'stray',
        message: `node ${node} (level ${level}) is reachable from the root but marked stray`,
      };
    const words = nodeWords(ctx, node);
    const base = nodeBase(ctx, node);
    const size = ctx.sizes[level];
    let present = 0;
    for (let i = 0; i < nrSlots; i++) {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_ABSENT) continue;
      present++;
      if (kind !== PTE_TABLE || level === 1) continue;
      const v = this.walkNode(
        codec.pfn(lo, hi, level),
        node,
        level - 1,
        start + i * size,
        ctx.consts.nrEntries,
      );
      if (v !== null) return v;
    }
    if (present !== meta.nrChildren(node))
      return {
        kind: 'nr_children',
        message: `node ${node} (level ${level}) says nr_children = ${meta.nrChildren(node)}, has ${present} present PTEs`,
      };
    return null;
  }

  /**
   * Whether a CPU is paused just before writing the PTE of `parent` for `[start, end)`: a
   * node is marked stray and then detached under its parent's lock, so it is stray and
   * still reachable across that one switch point.
   */
  private beingDetached(parent: number, start: number, end: number): boolean {
    const control = this.control;
    for (let cpu = 0; cpu < control.nrCpus; cpu++) {
      if (
        control.cpuWord(cpu, STATE) === CPU_PAUSED &&
        control.cpuWord(cpu, POINT) === SWITCH_PTE_WRITE &&
        control.cpuWord(cpu, PFN) === parent &&
        control.cpuF64(cpu, VA) >= start &&
        control.cpuF64(cpu, VA) < end
      )
        return true;
    }
    return false;
  }

  /** Invariant 3 for every locked node. */
  private checkLocks(root: number): ExploreViolation | null {
    const kernel = this.kernel;
    const meta = kernel.meta;
    const control = this.control;
    for (let pfn = 0; pfn < kernel.frames.nrFrames; pfn++) {
      const owner = lockOwner(meta, pfn);
      if (owner === 0) continue;
      const cpu = cpuOfOwner(owner);
      const what = `node ${pfn} is locked by owner ${owner}`;
      if (cpu < 0 || cpu >= control.nrCpus)
        return { kind: 'lock-owner', message: `${what}, which is no CPU of this schedule` };
      const opStart = control.cpuF64(cpu, OP_START);
      const opEnd = control.cpuF64(cpu, OP_END);
      if (!(opStart < opEnd))
        return { kind: 'lock-owner', message: `${what} (CPU ${cpu}), which is not inside an operation` };
      if (this.protocol === 'global') {
        // The root's lock is the table's one lock; other words (the recycle plugin's walk
        // takes them) exclude nobody, and are only taken by the CPU holding the root.
        if (pfn !== root && cpuOfOwner(lockOwner(meta, root)) !== cpu)
          return {
            kind: 'lock-owner',
            message: `${what} (CPU ${cpu}) without the root's lock; under global the root's lock covers every node`,
          };
        continue;
      }
      const level = this.reachableLevel[pfn] - 1;
      if (level < 0) continue; // detached or freed while held: its owner must not write it (checked below)
      const spanStart = this.spanStart[pfn];
      const spanEnd = spanStart + kernel.ctx.sizes[level + 1];
      if (spanEnd <= opStart || spanStart >= opEnd)
        return {
          kind: 'lock-owner',
          message: `${what} (CPU ${cpu}), but it covers [0x${spanStart.toString(16)}, 0x${spanEnd.toString(16)}), outside CPU ${cpu}'s range [0x${opStart.toString(16)}, 0x${opEnd.toString(16)})`,
        };
    }
    return null;
  }

  /** Invariant 3 for every CPU paused just before a PTE write. */
  private checkPendingWrites(root: number): ExploreViolation | null {
    const control = this.control;
    const kernel = this.kernel;
    const meta = kernel.meta;
    for (let cpu = 0; cpu < control.nrCpus; cpu++) {
      if (control.cpuWord(cpu, STATE) !== CPU_PAUSED || control.cpuWord(cpu, POINT) !== SWITCH_PTE_WRITE)
        continue;
      const pfn = control.cpuWord(cpu, PFN);
      const va = control.cpuF64(cpu, VA);
      const at = `CPU ${cpu} is about to write the PTE of 0x${va.toString(16)} in node ${pfn}`;
      const lockPfn = this.protocol === 'global' ? root : pfn;
      const owner = lockOwner(meta, lockPfn);
      if (cpuOfOwner(owner) !== cpu)
        return {
          kind: 'lock-owner',
          message: `${at} without holding ${lockPfn === pfn ? 'its' : `the root's (${root})`} lock (owner ${owner === 0 ? 'none' : owner})`,
        };
      const found = this.nodeOnPath(root, va, meta.level(pfn));
      if (found !== pfn) {
        const state = `${FRAME_TYPE_NAMES[meta.type(pfn)]} frame${meta.stray(pfn) ? ', marked stray' : ''}`;
        return {
          kind: 'pte-write',
          message: `${at} (${state}), but the walk from the root to that address leads to ${found < 0 ? 'no node at that level' : `node ${found}`}`,
        };
      }
    }
    return null;
  }

  /** The node at `level` on the path from `root` to `va`, -1 if there is none. */
  private nodeOnPath(root: number, va: number, level: number): number {
    const ctx = this.kernel.ctx;
    const codec = ctx.codec;
    const nrLevels = ctx.consts.nrLevels;
    if (!(level >= 1 && level <= nrLevels)) return -1;
    let node = root;
    for (let l = nrLevels; l > level; l--) {
      const idx = Math.floor(va / ctx.sizes[l]) & (ctx.consts.nrEntries - 1);
      const words = nodeWords(ctx, node);
      const at = nodeBase(ctx, node) + 2 * idx;
      if (codec.kind(words[at], words[at + 1], l) !== PTE_TABLE) return -1;
      node = codec.pfn(words[at], words[at + 1], l);
    }
    return node;
  }
}
