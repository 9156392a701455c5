import type { Arch } from '../arch/arch.ts';
import { type PagingConsts, pageSize } from '../arch/paging-consts.ts';
import type { PteCodec } from '../arch/pte-codec.ts';
import { MmError } from '../errors.ts';
import type { Frames } from '../frame/frames.ts';
import type { FrameMetaStore } from '../frame/meta-store.ts';
import type { PhysMemory } from '../frame/phys-memory.ts';
import { type KernelHookTable, NO_HOOKS } from '../kernel/hooks.ts';
import { useAtomicLocks } from './lock.ts';
import { type LockProtocol, lockProtocol } from './lock-protocol.ts';
import { NodeReclaim } from './node-reclaim.ts';

const OWNER_BLOCK = 2 ** 24;
/** Threads that can share one kernel's lock words (owner ids are positive `Int32`s). */
export const MAX_OWNER_BLOCKS = 128;

/**
 * What every page table of one kernel shares: the architecture, frames and their
 * metadata, physical memory, debug mode and the kernel's bound hot hooks (cursors call
 * `cursorLeftEmptyNode` and `cursorDroppedEmptyGuard` through them).
 */
export class PageTableContext {
  readonly consts: PagingConsts;
  readonly codec: PteCodec;
  /** `sizes[level]` = bytes covered by one entry at `level` (index 0 unused). */
  readonly sizes: Float64Array;
  /** Number of base pages covered by one entry at `level`. */
  readonly pagesAt: Float64Array;
  /** Debug mode: every PTE write checks that the writing cursor holds the node's lock. */
  debug = false;
  /** The lock protocol every cursor follows (a kernel service; default `hoh`). */
  lockProtocol: LockProtocol = lockProtocol('hoh');
  /** The kernel's hot hooks (no-ops until the kernel is composed). */
  hooks: KernelHookTable = NO_HOOKS;
  /** Tracked leaves released by node drop hooks (read as a difference by callers). */
  nrReleasedLeaves = 0;
  /**
   * Deferred free of detached nodes (`subtree` cursors are its readers), and the node-link
   * generation (`NodeReclaim.linkGeneration`: bumped whenever a node is freed or relinked,
   * `LeafSlot`'s walk cache rests on it). Private to this view unless `shareReclaim` put it
   * on the epochs shared by every view of the kernel.
   */
  reclaim: NodeReclaim;
  /**
   * SMP mode (see `Kernel.smp`): other threads' views may share this context's metadata, so
   * lock words, epochs and the walk cache's checks take the `Atomics` path. False on a
   * private buffer and while a kernel on shared memory has one view (UP mode). Read-only
   * outside: `enterSmp` sets it, and nothing clears it.
   */
  smp = false;
  private nextOwner = 1;
  private firstOwner = 1;
  private lastOwner = 0x7fff_fff0;

  constructor(
    readonly arch: Arch,
    readonly frames: Frames,
    readonly meta: FrameMetaStore,
    readonly memory: PhysMemory,
  ) {
    this.consts = arch.consts;
    this.codec = arch.codec;
    this.sizes = new Float64Array(this.consts.nrLevels + 2);
    this.pagesAt = new Float64Array(this.consts.nrLevels + 2);
    for (let level = 1; level <= this.consts.nrLevels + 1; level++) {
      this.sizes[level] = pageSize(this.consts, level);
      this.pagesAt[level] = this.sizes[level] / this.consts.basePageSize;
    }
    this.reclaim = new NodeReclaim(frames, meta, MAX_OWNER_BLOCKS);
  }

  /**
   * Puts the deferred free on epochs shared with the other views of the kernel (`buffer`
   * from another view, `attached`, or a fresh one from `NodeReclaim.sharedBuffer`). Call
   * before any cursor exists, then `setOwnerBlock`.
   */
  shareReclaim(buffer: SharedArrayBuffer, attached: boolean): void {
    this.reclaim = new NodeReclaim(this.frames, this.meta, MAX_OWNER_BLOCKS, buffer, attached);
  }

  /**
   * Enters SMP mode for good (`smp`): the lock words (`useAtomicLocks`) and the deferred
   * free's epochs and node-link generation (`NodeReclaim.enterSmp`) take `Atomics` from now
   * on. For a context on shared memory whose state another view may attach to.
   */
  enterSmp(): void {
    this.smp = true;
    useAtomicLocks(this.meta.lockArray);
    this.reclaim.enterSmp();
  }

  /** A fresh lock-owner id for a cursor. */
  newOwner(): number {
    const id = this.nextOwner;
    this.nextOwner = id >= this.lastOwner ? this.firstOwner : id + 1;
    return id;
  }

  /**
   * Restricts this view's owner ids to block `block` (ids `block * 2^24 .. + 2^24 - 1`,
   * never 0), so that threads sharing the lock words never hand out the same id: each
   * thread's view takes its own block (at most `MAX_OWNER_BLOCKS`).
   */
  setOwnerBlock(block: number): void {
    if (!(Number.isInteger(block) && block >= 0 && block < MAX_OWNER_BLOCKS))
      throw new MmError('InvalidArgument', `owner block ${block} is not in 0..${MAX_OWNER_BLOCKS - 1}`);
    this.firstOwner = Math.max(1, block * OWNER_BLOCK);
    this.lastOwner = block * OWNER_BLOCK + OWNER_BLOCK - 1;
    this.nextOwner = this.firstOwner;
    this.reclaim.setBlock(block);
  }
}
