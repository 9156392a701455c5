import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Kernel, PageTable } from '@mmkit/core';
import { bundleOf } from '../../bundle.ts';
import type { ParallelOp } from '../../parallel/ops.ts';
import { describeHeldLocks } from '../../parallel/run-workers.ts';
import type { ParallelKernelSpec } from '../../parallel/spec.ts';
import {
  COUNTER_FIELDS,
  COUNTER_SLOTS,
  CTL_ARRIVED,
  CTL_DONE,
  CTL_EPOCH,
  CTL_ERROR,
  CTL_GEN,
  CTL_PHASE,
  CTL_READY,
  CTL_ROOT,
  CTL_WORDS,
  ERROR_BYTES,
  PHASE_QUIT,
  type PoolCounters,
  type PoolWorkerData,
  TIME_SLOTS,
} from './protocol.ts';
import { rendezvousBytes } from './rendezvous.ts';

/** How long workers may take to start (loading TypeScript on a busy machine) and to run a phase. */
export const POOL_START_TIMEOUT_MS = 120_000;
export const POOL_PHASE_TIMEOUT_MS = 60_000;

/**
 * N worker threads attached to one kernel's shared memory, started once and kept warm: each
 * `runPhase` wakes them all at once to run their plan of one phase on a page table, and
 * returns when the last is done. Everything is synchronous (`Atomics.wait` on a shared
 * control block, see `protocol.ts`), so a bench workload's `run()` can drive it.
 *
 * Locking rule: the main thread must not use the kernel's cursors while a phase runs; between
 * phases the workers sleep and hold no lock.
 */
export class WorkerPool {
  private readonly ctl: Int32Array;
  private readonly counts: Float64Array;
  private readonly times: Float64Array;
  private readonly error: SharedArrayBuffer;
  /** Bumped per new table object (a new table may reuse a destroyed one's root frame). */
  private epoch = 0;
  private lastTable: PageTable | null = null;
  private closed = false;

  private constructor(
    private readonly kernel: Kernel,
    private readonly workers: Worker[],
    control: SharedArrayBuffer,
    counters: SharedArrayBuffer,
    times: SharedArrayBuffer,
    error: SharedArrayBuffer,
  ) {
    this.ctl = new Int32Array(control);
    this.counts = new Float64Array(counters);
    this.times = new Float64Array(times);
    this.error = error;
  }

  /**
   * Starts `plans.length` workers on `kernel` (booted from `spec` by `parallelKernel`), worker
   * `i` with the operations `plans[i][phase]` of every phase, and waits until all have
   * attached. Throws if one failed to start or none started within `POOL_START_TIMEOUT_MS`.
   */
  static start(
    kernel: Kernel,
    spec: ParallelKernelSpec,
    plans: readonly (readonly (readonly ParallelOp[])[])[],
  ): WorkerPool {
    const n = plans.length;
    const control = new SharedArrayBuffer(4 * CTL_WORDS);
    const counters = new SharedArrayBuffer(8 * COUNTER_SLOTS * n);
    const times = new SharedArrayBuffer(8 * TIME_SLOTS * n);
    const error = new SharedArrayBuffer(ERROR_BYTES);
    // The co-running check needs a core per worker (more workers than cores never co-run).
    const together = n > 1 && n <= availableParallelism() ? new SharedArrayBuffer(rendezvousBytes(n)) : null;
    const entry = bundleOf(new URL('./worker-main.ts', import.meta.url));
    const workers = plans.map((workerPlans, index) => {
      const data: PoolWorkerData = {
        spec,
        state: kernel.sharedState(index + 1),
        index,
        nrWorkers: n,
        plans: workerPlans,
        control,
        counters,
        times,
        error,
        rendezvous: together,
      };
      const w = new Worker(entry, { workerData: data });
      // The workers end when told to quit; they never keep the process alive on their own.
      w.unref();
      return w;
    });
    const pool = new WorkerPool(kernel, workers, control, counters, times, error);
    try {
      pool.waitFor(CTL_READY, POOL_START_TIMEOUT_MS, 'to start');
      pool.throwIfFailed();
    } catch (e) {
      pool.close();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Runs phase `phase` of every worker on `table` (a table the workers have not seen attaches
   * them to it) and returns its span in milliseconds: from the first worker's start to the
   * last worker's end, each read by the worker itself after the start barrier (every worker
   * woken, then seen running on cores of their own: `rendezvous.ts`) and right after its last
   * operation. Neither waking the workers nor
   * waking this thread at the end is counted: each costs a thread wake-up, tens of
   * microseconds to milliseconds on a busy machine, against runs of a few milliseconds. A
   * worker that starts late still counts, from the first start. Throws a worker's error, or
   * after `POOL_PHASE_TIMEOUT_MS` with the node locks still held.
   */
  runPhase(table: PageTable, phase: number): number {
    if (this.closed) throw new Error('worker pool is closed');
    const ctl = this.ctl;
    if (this.lastTable !== table) {
      this.lastTable = table;
      Atomics.store(ctl, CTL_ROOT, table.rootPfn);
      Atomics.store(ctl, CTL_EPOCH, ++this.epoch);
    }
    Atomics.store(ctl, CTL_DONE, 0);
    Atomics.store(ctl, CTL_ARRIVED, 0);
    Atomics.store(ctl, CTL_PHASE, phase);
    Atomics.add(ctl, CTL_GEN, 1);
    Atomics.notify(ctl, CTL_GEN);
    this.waitFor(CTL_DONE, POOL_PHASE_TIMEOUT_MS, `to finish phase ${phase}`);
    // The workers' cursors changed PTEs behind this thread's table object.
    table.generation++;
    this.throwIfFailed();
    return this.span();
  }

  /** From the earliest start to the latest end of the last phase's workers, in ms. */
  private span(): number {
    let start = Number.POSITIVE_INFINITY;
    let end = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < this.size; i++) {
      start = Math.min(start, this.times[i * TIME_SLOTS]);
      end = Math.max(end, this.times[i * TIME_SLOTS + 1]);
    }
    return end - start;
  }

  /** Worker `index`'s counters, summed over every phase it ran. */
  counters(index: number): PoolCounters {
    const at = index * COUNTER_SLOTS;
    const out = { violations: this.counts[at + COUNTER_FIELDS.length] } as PoolCounters;
    COUNTER_FIELDS.forEach((f, i) => {
      out[f] = this.counts[at + i];
    });
    return out;
  }

  /** The sum of every worker's counters. */
  total(): PoolCounters {
    const sum = this.counters(0);
    for (let i = 1; i < this.size; i++) {
      const c = this.counters(i);
      for (const k of Object.keys(sum) as (keyof PoolCounters)[]) sum[k] += c[k];
    }
    return sum;
  }

  /** Tells the workers to end (they exit on their own; nothing waits for them). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, CTL_PHASE, PHASE_QUIT);
    Atomics.add(this.ctl, CTL_GEN, 1);
    Atomics.notify(this.ctl, CTL_GEN);
  }

  /** Sleeps until every worker counted itself in `word`, or throws after `timeoutMs`. */
  private waitFor(word: number, timeoutMs: number, what: string): void {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.ctl, word);
      if (seen >= this.size) return;
      const left = deadline - performance.now();
      if (left <= 0) {
        const heldLocks = word === CTL_DONE ? `; ${describeHeldLocks(this.kernel)}` : '';
        throw new Error(
          `bench workers: ${seen} of ${this.size} took less than ${timeoutMs} ms ${what}${heldLocks}`,
        );
      }
      Atomics.wait(this.ctl, word, seen, left);
    }
  }

  /** Throws the first worker error, if any. */
  private throwIfFailed(): void {
    if (Atomics.load(this.ctl, CTL_ERROR) === 0) return;
    const len = new Int32Array(this.error, 0, 1)[0];
    // Copied out of the shared buffer: TextDecoder does not read shared memory.
    const bytes = new Uint8Array(this.error, 4, len).slice();
    throw new Error(`bench ${new TextDecoder().decode(bytes)}`);
  }
}
