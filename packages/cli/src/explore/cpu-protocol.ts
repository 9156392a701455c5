import type { MessagePort } from 'node:worker_threads';
import type { SharedKernelState } from '@mmkit/core';
import type { WorkerCounters } from '../parallel/ops.ts';
import type { ParallelKernelSpec } from '../parallel/spec.ts';

/** Planted protocol bugs the explorer can switch on (fault injection, see `plantedBugs`). */
export const PLANTED_BUGS = [
  'no-stray-check',
  'recycle-no-stray',
  'link-before-lock',
  'free-at-once',
] as const;
export type PlantedBug = (typeof PLANTED_BUGS)[number];

/** What the scheduler hands a simulated CPU's worker thread. */
export interface CpuData {
  readonly spec: ParallelKernelSpec;
  readonly state: SharedKernelState;
  readonly cpu: number;
  readonly nrCpus: number;
  readonly nrOps: number;
  readonly plant: PlantedBug | null;
  readonly control: { words: SharedArrayBuffer; f64: SharedArrayBuffer };
  /** Where the CPU posts what ended each schedule (read with `receiveMessageOnPort`). */
  readonly port: MessagePort;
}

/** What a CPU posts at the end of each schedule. */
export interface CpuReport {
  readonly counters: WorkerCounters;
  /** Set when an operation threw: the error's message (and where it was thrown). */
  readonly error?: string;
}
