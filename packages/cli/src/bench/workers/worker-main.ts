import { workerData } from 'node:worker_threads';
import { PageTable } from '@mmkit/core';
import { newCounters, runOps } from '../../parallel/ops.ts';
import { parallelKernel } from '../../parallel/spec.ts';
import {
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
} from './protocol.ts';

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
const counters = newCounters();

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
  try {
    if (kernel === null) throw new Error('no kernel view (see the first error)');
    if (table === null || Atomics.load(ctl, CTL_EPOCH) !== epoch) {
      epoch = Atomics.load(ctl, CTL_EPOCH);
      table = PageTable.attach(kernel.ctx, Atomics.load(ctl, CTL_ROOT), false);
    }
    runOps(kernel, table, data.plans[phase], counters);
    // As the contention workers do before they reply: nodes this view retired are freed
    // once no other worker's cursor can hold their address, and its cached free frames go
    // back to the shared allocator, so that the main thread's check() after the phase is exact.
    kernel.ctx.reclaim.synchronize();
    kernel.frames.flushCaches();
    publishCounters(counts, data.index, counters);
  } catch (e) {
    report(e);
  }
  countDone(CTL_DONE);
}
