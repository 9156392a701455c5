import {
  type LinuxSyscalls,
  type LockModeStats,
  type Process,
  type Thread,
  ThreadOps,
  type ThreadOpsOptions,
  type ThreadProgram,
  ThreadScheduler,
} from '@mmkit/core';

/** What `mmkit run` reports about a threaded workload. */
export interface ThreadsSummary {
  /** Threads that ran (exited ones included). */
  count: number;
  /** Steps of the scheduler (one step of one thread each). */
  steps: number;
  /** The seed of the scheduler's choices. */
  seed: number;
  /** Whether faults took per-VMA locks (`*-fault-vma` operations) where they could. */
  perVmaLocks: boolean;
  perThread: { tid: number; pid: number; cpu: number; ops: number; byKind: Record<string, number> }[];
  /** The `mmap_lock` figures, summed over the processes whose threads ran. */
  mmapLock: { reads: LockModeStats; writes: LockModeStats; downgrades: number };
}

/**
 * A threaded run of a workload: the scheduler, the Linux operations as scheduler operations
 * (`ThreadOps`), and every thread given a program, kept for the summary after it exits.
 */
export class ThreadedRun {
  readonly scheduler: ThreadScheduler;
  readonly ops: ThreadOps;
  private readonly threads: Thread[] = [];
  private readonly processes = new Set<Process>();

  constructor(
    readonly sys: LinuxSyscalls,
    readonly seed: number,
    options: ThreadOpsOptions = {},
  ) {
    this.scheduler = new ThreadScheduler(sys.procs, { seed });
    this.ops = new ThreadOps(sys, options);
  }

  /** Runs `program` on `thread` (from the start of `run`, or from the operation that calls it). */
  add(thread: Thread, program: ThreadProgram): void {
    this.scheduler.add(thread, program);
    this.threads.push(thread);
    this.processes.add(this.sys.procs.require(thread.pid));
  }

  /** Runs every program to its end. */
  run(): void {
    this.scheduler.run();
  }

  summary(): ThreadsSummary {
    const reads = emptyStats();
    const writes = emptyStats();
    let downgrades = 0;
    for (const p of this.processes) {
      addStats(reads, p.mmapLock.reads);
      addStats(writes, p.mmapLock.writes);
      downgrades += p.mmapLock.nrDowngrades;
    }
    return {
      count: this.threads.length,
      steps: this.scheduler.nrSteps,
      seed: this.seed,
      perVmaLocks: this.ops.perVmaLocks,
      perThread: this.threads.map((t) => ({
        tid: t.tid,
        pid: t.pid,
        cpu: t.cpu,
        ops: t.nrOps,
        byKind: Object.fromEntries([...t.opsByKind.entries()].sort((a, b) => b[1] - a[1])),
      })),
      mmapLock: { reads, writes, downgrades },
    };
  }
}

function emptyStats(): LockModeStats {
  return { acquired: 0, waited: 0, waitSteps: 0, maxWaitSteps: 0 };
}

function addStats(into: LockModeStats, s: LockModeStats): void {
  into.acquired += s.acquired;
  into.waited += s.waited;
  into.waitSteps += s.waitSteps;
  into.maxWaitSteps = Math.max(into.maxWaitSteps, s.maxWaitSteps);
}
