import { parentPort, workerData } from 'node:worker_threads';
import { PageTable } from '@mmkit/core';
import { newCounters, runOps } from './ops.ts';
import { HEARTBEAT_STRIDE, type WorkerData, type WorkerReply } from './protocol.ts';
import { parallelKernel } from './spec.ts';

/**
 * A worker thread: attaches a kernel view to the shared memory, runs its operations on the
 * shared page table, bumps its heartbeat word after each, and replies with its counters
 * (or the error that stopped it).
 */
const data = workerData as WorkerData;
const counters = newCounters();
let reply: WorkerReply;
try {
  const kernel = parallelKernel(data.spec, data.state);
  const table = PageTable.attach(kernel.ctx, data.tableRoot, false);
  const heartbeat = new Int32Array(data.heartbeat);
  // Start together: every worker waits until all have attached, so that their operations
  // overlap in time instead of one thread finishing while the next is still loading.
  const started = data.nrWorkers * HEARTBEAT_STRIDE;
  Atomics.add(heartbeat, started, 1);
  while (Atomics.load(heartbeat, started) < data.nrWorkers)
    Atomics.wait(heartbeat, started, Atomics.load(heartbeat, started), 1);
  const beat = data.index * HEARTBEAT_STRIDE;
  runOps(kernel, table, data.ops, counters, () => Atomics.add(heartbeat, beat, 1));
  // Nodes this view detached are freed once the other workers' cursors that might have
  // read their addresses are gone: wait for that, so that nothing is left after the join.
  kernel.ctx.reclaim.synchronize();
  // Frames this view cached are free for everyone again.
  kernel.frames.flushCaches();
  reply = { counters };
} catch (e) {
  reply = { counters, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
}
parentPort?.postMessage(reply);
