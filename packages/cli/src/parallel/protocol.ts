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
  /**
   * One `Int32` per worker (operations done so far) at `index * HEARTBEAT_STRIDE`, then the
   * count of workers started at `nrWorkers * HEARTBEAT_STRIDE`.
   */
  readonly heartbeat: SharedArrayBuffer;
}

/**
 * `Int32`s from one worker's heartbeat word to the next (128 bytes): each worker bumps its
 * word after every operation, and side by side the words would share a cache line that then
 * moves between the workers' cores on every operation.
 */
export const HEARTBEAT_STRIDE = 32;

/** What a worker sends back once, when it ends. */
export interface WorkerReply {
  readonly counters: WorkerCounters;
  /** Set when an operation threw: the error's stack. */
  readonly error?: string;
}
