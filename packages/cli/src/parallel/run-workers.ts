import { Worker } from 'node:worker_threads';
import { FrameType, type Kernel, type PageTable } from '@mmkit/core';
import { lockOwner } from '@mmkit/core/internal';
import { bundleOf } from '../bundle.ts';
import type { ParallelOp, WorkerCounters } from './ops.ts';
import { HEARTBEAT_STRIDE, type WorkerData, type WorkerReply } from './protocol.ts';
import type { ParallelKernelSpec } from './spec.ts';

/** Bits of an owner id below the owner-id block (`PageTableContext.setOwnerBlock`). */
const OWNER_BLOCK_SHIFT = 24;

export interface RunWorkersOptions {
  /** A worker still running after this many milliseconds fails the run (default 10 000). */
  readonly timeoutMs?: number;
}

/** A run the watchdog stopped: which workers had not finished and who held node locks. */
export class WorkersStuckError extends Error {
  override name = 'WorkersStuckError';
}

/**
 * Runs `plans[i]` on worker thread `i`, all on `table` of `kernel` (booted from `spec` by
 * `parallelKernel`, on shared memory), and resolves with each worker's counters once all
 * have ended. The main thread must not use cursors of the kernel meanwhile (its owner ids
 * are block 0; workers take blocks 1..). A worker that throws rejects the run with its
 * stack; a run longer than `timeoutMs` terminates every worker and rejects with a
 * `WorkersStuckError` listing the heartbeats and the node locks still held, by worker.
 */
export async function runWorkers(
  kernel: Kernel,
  spec: ParallelKernelSpec,
  table: PageTable,
  plans: readonly (readonly ParallelOp[])[],
  options: RunWorkersOptions = {},
): Promise<WorkerCounters[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const heartbeat = new SharedArrayBuffer(4 * HEARTBEAT_STRIDE * (plans.length + 1));
  const entry = bundleOf(new URL('./worker-main.ts', import.meta.url));
  const workers = plans.map((ops, index) => {
    const data: WorkerData = {
      spec,
      state: kernel.sharedState(index + 1),
      tableRoot: table.rootPfn,
      ops,
      index,
      nrWorkers: plans.length,
      heartbeat,
    };
    return new Worker(entry, { workerData: data });
  });
  const replies = workers.map(
    (worker, index) =>
      new Promise<WorkerCounters>((resolve, reject) => {
        worker.once('message', (reply: WorkerReply) => {
          if (reply.error !== undefined) reject(new Error(`worker ${index}: ${reply.error}`));
          else resolve(reply.counters);
        });
        worker.once('error', (e) => reject(new Error(`worker ${index}: ${e.stack ?? e.message}`)));
        worker.once('exit', (code) => reject(new Error(`worker ${index} exited (${code}) without a reply`)));
      }),
  );
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const words = new Int32Array(heartbeat);
      const beats = plans.map((_, i) => `worker ${i}: ${words[i * HEARTBEAT_STRIDE]} ops done`);
      reject(
        new WorkersStuckError(
          `workers still running after ${timeoutMs} ms (${beats.join(', ')}); ${describeHeldLocks(kernel)}`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([Promise.all(replies), watchdog]);
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
    // The workers' cursors changed PTEs behind this thread's table object.
    table.generation++;
  }
}

/** The page-table nodes whose lock word is taken, with the worker owning each. */
export function describeHeldLocks(kernel: Kernel): string {
  const held: string[] = [];
  for (let pfn = 0; pfn < kernel.frames.nrFrames; pfn++) {
    if (kernel.frames.type(pfn) !== FrameType.PageTable) continue;
    const owner = lockOwner(kernel.meta, pfn);
    if (owner === 0) continue;
    const block = owner >>> OWNER_BLOCK_SHIFT;
    const who = block === 0 ? 'the main thread' : `worker ${block - 1}`;
    held.push(`node ${pfn} (level ${kernel.meta.level(pfn)}) held by ${who} (owner ${owner})`);
  }
  return held.length === 0 ? 'no node lock held' : `locks held: ${held.join('; ')}`;
}
