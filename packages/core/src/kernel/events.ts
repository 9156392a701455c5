import { EventEmitter } from 'eventemitter3';
import type { TlbFlushKind } from '../tlb/tlb.ts';

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
  /** Pages were mapped into an address space (`pid` -1 for the kernel). */
  map: (pid: number, vaddr: number, len: number) => void;
  /** Pages were unmapped; `nrFrames` tracked frames lost a reference. */
  unmap: (pid: number, vaddr: number, len: number, nrFrames: number) => void;
  /** Page properties were rewritten. */
  protect: (pid: number, vaddr: number, len: number) => void;
  /** A page fault was handled (`kind`: 'anon', 'file', 'cow', 'shared-write', 'spurious', 'segv', 'bus'). */
  fault: (pid: number, vaddr: number, access: 'read' | 'write' | 'exec', kind: string) => void;
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

export class KernelEventBus extends EventEmitter<KernelEvents> {}
