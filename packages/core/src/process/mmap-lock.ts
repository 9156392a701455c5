import { MmError } from '../errors.ts';
import type { Violation } from '../kernel/check.ts';

/** How a thread holds a process's `mmap_lock`. */
export type LockMode = 'read' | 'write';

/** Linux wakes at most this many readers at once (`MAX_READERS_WAKEUP` in `rwsem.c`). */
export const MAX_READERS_WAKEUP = 256;

/** Acquisitions of one mode, and the waits before them, in scheduler steps. */
export interface LockModeStats {
  /** Times the lock was taken in this mode. */
  acquired: number;
  /** Of those, how many had to wait (the rest got the lock at once). */
  waited: number;
  /** Steps spent waiting, over all waits. */
  waitSteps: number;
  /** The longest single wait. */
  maxWaitSteps: number;
}

function emptyStats(): LockModeStats {
  return { acquired: 0, waited: 0, waitSteps: 0, maxWaitSteps: 0 };
}

interface Waiter {
  readonly tid: number;
  readonly mode: LockMode;
  /** The step at which it started to wait. */
  readonly since: number;
}

/**
 * A model of a process's `mmap_lock`, Linux's read-write semaphore on the `mm_struct`,
 * shared by the process's threads. Time is counted in steps of the thread scheduler.
 *
 * Rules (Linux `kernel/locking/rwsem.c`, without optimistic spinning and lock stealing):
 * - a reader gets the lock at once if no writer holds it and nobody waits; a writer if
 *   nobody holds it and nobody waits. Otherwise the thread queues (first come, first served):
 *   a waiting writer keeps later readers out, so writers do not starve.
 * - When the lock is free and the first waiter is a writer, that writer gets it. When the
 *   first waiter is a reader, every waiting reader gets it, up to `MAX_READERS_WAKEUP`,
 *   passing the writers queued between them (`rwsem_mark_wake`); the writers keep their order.
 * - `downgrade` turns the write hold into a read hold and, if the first waiter is a reader,
 *   wakes the waiting readers the same way (`downgrade_write`, used by munmap once the
 *   mappings are detached).
 *
 * Per-VMA locks (Linux 6.4, `CONFIG_PER_VMA_LOCK`): the writer write-locks the mappings it
 * changes (`lockVmas`, Linux's `vma_start_write`); they stay locked until it releases or
 * downgrades the lock (`vma_end_write_all`). A fault may run under its mapping's own lock,
 * without the `mmap_lock`, unless that mapping is write-locked (`vmaWriteLocked`).
 *
 * Invariants (`check`): a writer excludes readers; nobody waits on a free lock and no reader
 * waits unless a writer holds the lock (either would be a lost wake-up); mappings are
 * write-locked only while a writer holds the lock.
 */
export class MmapLock {
  /** The thread holding the lock for write, or -1. */
  private writer = -1;
  /** The threads holding it for read. */
  private readonly readers = new Set<number>();
  private readonly queue: Waiter[] = [];
  readonly reads: LockModeStats = emptyStats();
  readonly writes: LockModeStats = emptyStats();
  /** Write holds turned into read holds. */
  nrDowngrades = 0;
  /** Address ranges `[start, end)` whose mappings the writer write-locked, as pairs. */
  private readonly vmaLocked: number[] = [];

  /** The write holder, or -1. */
  get writeHolder(): number {
    return this.writer;
  }

  /** Number of read holders. */
  get nrReaders(): number {
    return this.readers.size;
  }

  /** Number of queued threads. */
  get nrWaiters(): number {
    return this.queue.length;
  }

  /** Whether `tid` holds the lock (in either mode). */
  holds(tid: number): boolean {
    return this.writer === tid || this.readers.has(tid);
  }

  /**
   * Thread `tid` asks for the lock in `mode` at step `now`. Returns true if it holds the lock
   * now; false if it was queued (it gets the lock later, from `release` or `downgrade`).
   */
  acquire(tid: number, mode: LockMode, now: number): boolean {
    if (this.holds(tid) || this.queue.some((w) => w.tid === tid))
      throw new MmError('InvalidArgument', `thread ${tid} already holds or waits for this mmap_lock`);
    const free = this.writer < 0 && this.queue.length === 0;
    if (mode === 'read' ? free : free && this.readers.size === 0) {
      this.grant(tid, mode, 0);
      return true;
    }
    this.queue.push({ tid, mode, since: now });
    return false;
  }

  /** The writer `tid` write-locks the mappings that overlap `[start, end)`. */
  lockVmas(tid: number, start: number, end: number): void {
    if (this.writer !== tid)
      throw new MmError(
        'InvalidArgument',
        `thread ${tid} write-locks mappings without holding the mmap_lock for write`,
      );
    this.vmaLocked.push(start, end);
  }

  /** Whether a mapping over `[start, end)` is write-locked now. */
  vmaWriteLocked(start: number, end: number): boolean {
    const r = this.vmaLocked;
    for (let i = 0; i < r.length; i += 2) if (start < r[i + 1] && r[i] < end) return true;
    return false;
  }

  /**
   * Thread `tid` releases the lock at step `now`. Returns the threads that got it as a result,
   * in queue order (they hold it from this step on).
   */
  release(tid: number, now: number): number[] {
    if (this.writer === tid) {
      this.writer = -1;
      this.vmaLocked.length = 0;
    } else if (!this.readers.delete(tid))
      throw new MmError('InvalidArgument', `thread ${tid} releases an mmap_lock it does not hold`);
    return this.wake(now);
  }

  /** The writer `tid` keeps the lock for read (at step `now`); returns the readers woken with it. */
  downgrade(tid: number, now: number): number[] {
    if (this.writer !== tid)
      throw new MmError(
        'InvalidArgument',
        `thread ${tid} downgrades an mmap_lock it does not hold for write`,
      );
    this.writer = -1;
    this.vmaLocked.length = 0;
    this.readers.add(tid);
    this.nrDowngrades++;
    return this.wake(now);
  }

  /** Grants the lock to the waiters that can have it now (see the class comment). */
  private wake(now: number): number[] {
    const woken: number[] = [];
    if (this.writer >= 0 || this.queue.length === 0) return woken;
    const head = this.queue[0];
    if (head.mode === 'write') {
      if (this.readers.size === 0) {
        this.queue.shift();
        this.grant(head.tid, 'write', now - head.since);
        woken.push(head.tid);
      }
      return woken;
    }
    const writers: Waiter[] = [];
    for (const w of this.queue) {
      if (w.mode === 'read' && woken.length < MAX_READERS_WAKEUP) {
        this.grant(w.tid, 'read', now - w.since);
        woken.push(w.tid);
      } else {
        writers.push(w);
      }
    }
    this.queue.length = 0;
    this.queue.push(...writers);
    return woken;
  }

  private grant(tid: number, mode: LockMode, waitSteps: number): void {
    const stats = mode === 'read' ? this.reads : this.writes;
    if (mode === 'read') this.readers.add(tid);
    else this.writer = tid;
    stats.acquired++;
    if (waitSteps > 0) {
      stats.waited++;
      stats.waitSteps += waitSteps;
      if (waitSteps > stats.maxWaitSteps) stats.maxWaitSteps = waitSteps;
    }
  }

  /** The lock's invariants; `where` names the process in the messages. */
  check(where: string): Violation[] {
    const out: Violation[] = [];
    const v = (message: string) => out.push({ kind: 'mmap-lock', message: `${where}: ${message}` });
    if (this.writer >= 0 && this.readers.size > 0)
      v(`the mmap_lock is held for write by ${this.writer} and for read by ${this.readers.size} thread(s)`);
    if (this.queue.length > 0 && this.writer < 0 && this.readers.size === 0)
      v(`${this.queue.length} thread(s) wait on a free mmap_lock (a lost wake-up)`);
    if (this.queue.length > 0 && this.queue[0].mode === 'read' && this.writer < 0)
      v(`thread ${this.queue[0].tid} waits to read although no writer holds the mmap_lock`);
    if (this.vmaLocked.length > 0 && this.writer < 0)
      v(`${this.vmaLocked.length / 2} range(s) of mappings stay write-locked with no writer`);
    return out;
  }
}
