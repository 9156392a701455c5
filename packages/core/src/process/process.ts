import type { Vmar } from '../vmar/vmar.ts';
import { MmapLock } from './mmap-lock.ts';
import type { Thread } from './thread.ts';

/**
 * A process as the memory manager sees it: an id, an address space (Linux's `mm_struct`)
 * and the threads sharing it, which take its `mmap_lock` to use it (see `ThreadScheduler`).
 * A live process has at least one thread; it ends when its last thread exits.
 */
export class Process {
  /** The live threads by tid (the first one's tid is the pid). */
  readonly threads = new Map<number, Thread>();
  readonly mmapLock = new MmapLock();
  /** Threads created so far, the first included (places the next one on a CPU). */
  nrThreadsCreated = 0;

  constructor(
    readonly pid: number,
    readonly vmar: Vmar,
  ) {}
}
