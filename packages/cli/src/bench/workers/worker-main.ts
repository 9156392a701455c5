import { workerData } from 'node:worker_threads';
import { PageTable } from '@mmkit/core';
import { newCounters, runOps } from '../../parallel/ops.ts';
import { parallelKernel } from '../../parallel/spec.ts';
import {
  CTL_ARRIVED,
  CTL_DONE,
  CTL_EPOCH,
  CTL_ERROR,
  CTL_GEN,
  CTL_PHASE,
  CTL_READY,
  CTL_ROOT,
  ERROR_BYTES,
  PHASE_QUIT,
  type PoolWorkerData,
  publishCounters,
  spanClock,
  TIME_SLOTS,
} from './protocol.ts';
import { rendezvous } from './rendezvous.ts';

/**
 * A bench pool worker: attaches a kernel view to the shared memory once, then, until told
 * to quit, sleeps on the control block, runs its plan of each phase it is woken for (on the
 * page table the control block names) and counts itself done. An error is written to the
 * error buffer (the first one wins) and the worker still counts itself done, so the main
 * thread never waits for a worker that failed.
 */
const data = workerData as PoolWorkerData;
const ctl = new Int32Array(data.control);
const counts = new Float64Array(data.counters);
const times = new Float64Array(data.times);
const counters = newCounters();
const rendezvousWords = data.rendezvous === null ? null : new Int32Array(data.rendezvous);

function report(e: unknown): void {
  if (Atomics.compareExchange(ctl, CTL_ERROR, 0, data.index + 1) !== 0) return;
  const text = `worker ${data.index}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
  const bytes = new TextEncoder().encode(text).subarray(0, ERROR_BYTES - 4);
  new Uint8Array(data.error, 4).set(bytes);
  new Int32Array(data.error, 0, 1)[0] = bytes.length;
}

function countDone(word: number): void {
  if (Atomics.add(ctl, word, 1) + 1 === data.nrWorkers) Atomics.notify(ctl, word);
}

/** Reads of the barrier word before a worker sleeps on it (well under a millisecond idle). */
const BARRIER_SPINS = 1 << 16;

/**
 * The start barrier: counts this worker in and waits until every worker of the pool has
 * arrived, spinning (so that all leave within a cache-line transfer of the last arrival
 * instead of a thread wake-up, tens of microseconds or more, apart) for at most
 * `BARRIER_SPINS` reads, then sleeping, so that more workers than cores do not keep a late
 * one off its core for a whole time slice. The last to arrive wakes the sleepers.
 */
function startBarrier(): void {
  const arrived = Atomics.add(ctl, CTL_ARRIVED, 1) + 1;
  if (arrived === data.nrWorkers) {
    Atomics.notify(ctl, CTL_ARRIVED);
    return;
  }
  for (let spins = 0; ; spins++) {
    const seen = Atomics.load(ctl, CTL_ARRIVED);
    if (seen >= data.nrWorkers) return;
    if (spins >= BARRIER_SPINS) Atomics.wait(ctl, CTL_ARRIVED, seen);
  }
}

let kernel: ReturnType<typeof parallelKernel> | null = null;
try {
  kernel = parallelKernel(data.spec, data.state);
} catch (e) {
  report(e);
}
countDone(CTL_READY);
let table: PageTable | null = null;
let epoch = 0;
let gen = 0;
for (;;) {
  while (Atomics.load(ctl, CTL_GEN) === gen) Atomics.wait(ctl, CTL_GEN, gen);
  gen = Atomics.load(ctl, CTL_GEN);
  const phase = Atomics.load(ctl, CTL_PHASE);
  if (phase === PHASE_QUIT) break;
  let view: { kernel: NonNullable<typeof kernel>; table: PageTable } | null = null;
  try {
    if (kernel === null) throw new Error('no kernel view (see the first error)');
    if (table === null || Atomics.load(ctl, CTL_EPOCH) !== epoch) {
      epoch = Atomics.load(ctl, CTL_EPOCH);
      table = PageTable.attach(kernel.ctx, Atomics.load(ctl, CTL_ROOT), false);
    }
    view = { kernel, table };
  } catch (e) {
    report(e);
  }
  // Every worker passes the barrier, one that failed too, so that none waits for it forever.
  startBarrier();
  if (rendezvousWords !== null) rendezvous(rendezvousWords, data.index, data.nrWorkers, gen);
  if (view !== null) {
    try {
      const start = spanClock();
      runOps(view.kernel, view.table, data.plans[phase], counters);
      times[data.index * TIME_SLOTS] = start;
      times[data.index * TIME_SLOTS + 1] = spanClock();
      // As the contention workers do before they reply: nodes this view retired are freed
      // once no other worker's cursor can hold their address, and its cached free frames go
      // back to the shared allocator, so that the main thread's check() after the phase is exact.
      view.kernel.ctx.reclaim.synchronize();
      view.kernel.frames.flushCaches();
      publishCounters(counts, data.index, counters);
    } catch (e) {
      report(e);
    }
  }
  countDone(CTL_DONE);
}
