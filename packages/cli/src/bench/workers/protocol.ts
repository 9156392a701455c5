import type { SharedKernelState } from '@mmkit/core';
import type { ParallelOp, WorkerCounters } from '../../parallel/ops.ts';
import type { ParallelKernelSpec } from '../../parallel/spec.ts';

/**
 * The words of a worker pool's control block (an `Int32Array` on a `SharedArrayBuffer`),
 * shared by the bench child's main thread and its workers. Workers sleep on `GEN`; the main
 * thread sets `PHASE` (and `EPOCH`/`ROOT` for a new table), bumps `GEN` and wakes them; each
 * worker counts itself in `ARRIVED` and waits until every worker has (the start barrier, so
 * that no worker starts while another is still being woken; it spins, then sleeps, and the
 * last to arrive wakes the sleepers), waits until every worker is seen running on a core of
 * its own (`rendezvous.ts`), runs its plan of that phase
 * between two clock readings (its span, in the times buffer) and counts itself in `DONE`, the
 * last one waking the main thread.
 */
export const CTL_GEN = 0;
/** The phase to run (an index into each worker's plans), or `PHASE_QUIT`. */
export const CTL_PHASE = 1;
/** Workers done with the current phase. */
export const CTL_DONE = 2;
/** Workers that attached and are waiting for their first phase. */
export const CTL_READY = 3;
/** Root frame of the page table to work on. */
export const CTL_ROOT = 4;
/** Bumped with every new table: a worker attaches again when it changed. */
export const CTL_EPOCH = 5;
/** 0, or 1 + the index of the first worker that failed (its message is in the error buffer). */
export const CTL_ERROR = 6;
/** Workers woken for the current phase and waiting at its start barrier. */
export const CTL_ARRIVED = 7;
export const CTL_WORDS = 8;

/** The phase number that ends the workers. */
export const PHASE_QUIT = -1;

/** Counters a worker publishes after each phase (cumulative), in this order. */
export const COUNTER_FIELDS = [
  'ops',
  'mapped',
  'unmapped',
  'faulted',
  'spuriousFaults',
  'busyRetries',
] as const;
export type PoolCounters = Record<(typeof COUNTER_FIELDS)[number], number> & { violations: number };
/** Slots per worker in the counters buffer: the fields, then the number of violations. */
export const COUNTER_SLOTS = COUNTER_FIELDS.length + 1;

/** Bytes of the error buffer: an `Int32` length, then that many UTF-8 bytes. */
export const ERROR_BYTES = 4096;

/** What a pool worker is given once, when it starts. */
export interface PoolWorkerData {
  readonly spec: ParallelKernelSpec;
  readonly state: SharedKernelState;
  readonly index: number;
  readonly nrWorkers: number;
  /** This worker's operations, per phase. */
  readonly plans: readonly (readonly ParallelOp[])[];
  readonly control: SharedArrayBuffer;
  /** `Float64Array`: `COUNTER_SLOTS` per worker. */
  readonly counters: SharedArrayBuffer;
  /** `Float64Array`: `TIME_SLOTS` per worker, its last phase's span (see `spanClock`). */
  readonly times: SharedArrayBuffer;
  readonly error: SharedArrayBuffer;
  /** The co-running check's words (`rendezvous.ts`), or null to start without it. */
  readonly rendezvous: SharedArrayBuffer | null;
}

/** Slots per worker in the times buffer: start and end of its last phase, in ms. */
export const TIME_SLOTS = 2;

/**
 * Milliseconds on the process's monotonic clock (`process.hrtime`), which every thread
 * reads alike (a thread's `performance.now()` counts from that thread's own start).
 */
export function spanClock(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** Writes a worker's counters into its slots. */
export function publishCounters(buffer: Float64Array, index: number, c: WorkerCounters): void {
  const at = index * COUNTER_SLOTS;
  COUNTER_FIELDS.forEach((f, i) => {
    buffer[at + i] = c[f];
  });
  buffer[at + COUNTER_FIELDS.length] = c.violations.length;
}
