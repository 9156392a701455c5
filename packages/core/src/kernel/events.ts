import { EventEmitter } from 'eventemitter3';
import type { TlbFlushKind } from '../tlb/tlb.ts';

/**
 * How a page fault was handled (`vmar/page-fault.ts`): `anon` (a new anonymous page),
 * `vmo` (a VMO page mapped as it is: shared memory or a file), `vmo-copy` (a private write
 * to an absent VMO page: copied), `cow` (a write to a private page another holder still
 * maps: copied), `reuse` (a write to a private page nobody else holds: W back in place),
 * `shared-write` (W granted in place in a shared mapping), `spurious` (the page already
 * allowed the access), `segv` and `bus` (the signal the process gets).
 */
export type FaultKind =
  | 'anon'
  | 'vmo'
  | 'vmo-copy'
  | 'cow'
  | 'reuse'
  | 'shared-write'
  | 'spurious'
  | 'segv'
  | 'bus';

/** The access that faulted. */
export type FaultAccess = 'read' | 'write' | 'exec';

/**
 * The kernel's typed event bus (one per kernel). Emitters check
 * `events.listenerCount(name) !== 0` before building any argument, so an event nobody
 * listens to costs one call and allocates nothing.
 */
export interface KernelEvents {
  /** A frame left the allocator. */
  frameAlloc: (pfn: number, type: number) => void;
  /** A frame returned to the allocator. */
  frameFree: (pfn: number, type: number) => void;
  /**
   * A range of a user address space was unmapped, by any path that removes pages (munmap,
   * mremap, MAP_FIXED over a mapping, madvise DONTNEED, exit); `nrFrames` tracked frames lost
   * a reference. `pid` is -1 for an address space no process owns. (Pages appear through
   * faults: see `fault`.)
   */
  unmap: (pid: number, vaddr: number, len: number, nrFrames: number) => void;
  /** The page properties of a user address space's range were rewritten (mprotect). */
  protect: (pid: number, vaddr: number, len: number) => void;
  /** A page fault was handled. */
  fault: (pid: number, vaddr: number, access: FaultAccess, kind: FaultKind) => void;
  /** A copy-on-write fault copied (`copied`) or reclaimed in place a frame. */
  cowBreak: (pid: number, vaddr: number, copied: boolean) => void;
  /** A TLB flush was issued: `page` (`nrPages` pages of one address space), `asid` (one address space), `all`. */
  tlbFlush: (kind: TlbFlushKind, nrPages: number) => void;
  /** A page-cache page was read from its backing store. */
  pageCacheLoad: (file: string, index: number) => void;
  /** A page-cache page was removed. */
  pageCacheRemove: (file: string, index: number) => void;
  /** A dirty page-cache page was written back. */
  pageCacheWriteback: (file: string, index: number) => void;
}

/** The one field of `eventemitter3`'s emitter read here: how many event names have listeners. */
interface EmitterCounts {
  readonly _eventsCount: number;
}

export class KernelEventBus extends EventEmitter<KernelEvents> {
  /**
   * Listeners of `event`. While the bus has none at all (the usual case on the hot paths
   * that ask: every fault, frame allocation and free), this reads one counter instead of
   * looking the name up in the emitter's table.
   */
  override listenerCount(event: EventEmitter.EventNames<KernelEvents>): number {
    return (this as unknown as EmitterCounts)._eventsCount === 0 ? 0 : super.listenerCount(event);
  }
}
