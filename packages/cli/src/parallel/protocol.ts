import type { SharedKernelState } from '@mmkit/core';
import type { ParallelOp, WorkerCounters } from './ops.ts';
import type { ParallelKernelSpec } from './spec.ts';

/** What the main thread hands a worker. */
export interface WorkerData {
  readonly spec: ParallelKernelSpec;
  readonly state: SharedKernelState;
  /** Root frame of the shared user page table. */
  readonly tableRoot: number;
  readonly ops: readonly ParallelOp[];
  /** This worker's index (its heartbeat word; its owner-id block is `index + 1`). */
  readonly index: number;
  readonly nrWorkers: number;
  /** One `Int32` per worker (operations done so far), then the count of workers started. */
  readonly heartbeat: SharedArrayBuffer;
}

/** What a worker sends back once, when it ends. */
export interface WorkerReply {
  readonly counters: WorkerCounters;
  /** Set when an operation threw: the error's stack. */
  readonly error?: string;
}
