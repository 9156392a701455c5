import type { Kernel, LinuxSyscalls } from '@mmkit/core';
import type { ThreadedRun } from '../threads.ts';

/** What a workload gets to work with. */
export interface WorkloadContext {
  readonly kernel: Kernel;
  readonly sys: LinuxSyscalls;
  /** Deterministic random numbers in [0, 1). */
  readonly random: () => number;
  /** Size multiplier (1 = the default size). */
  readonly scale: number;
  /** The run's seed (a threaded workload derives per-thread generators from it). */
  readonly seed: number;
  /** Threads per process of a threaded workload (1 for the others). */
  readonly threads: number;
  /** A threaded workload's scheduler and operations (absent for the others). */
  readonly threaded?: ThreadedRun;
  /** Counts one operation of the given kind (mmap, write, fork, …). */
  op(kind: string): void;
  /** Reports progress: `done` of `total` units. */
  progress(done: number, total: number): void;
}

/** A built-in workload: a program whose memory behaviour resembles a real one. */
export interface Workload {
  readonly name: string;
  readonly description: string;
  /** Plugins the workload cannot run without (by CLI name). */
  readonly requires: readonly string[];
  /** Whether it runs threads through a `ThreadedRun` (and takes `--threads`). */
  readonly threaded?: boolean;
  run(ctx: WorkloadContext): void;
}

/** A deterministic generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Throws with the errno name if a system call failed. */
export function check(ret: number, what: string): number {
  if (ret < 0) throw new Error(`${what} failed with errno ${-ret}`);
  return ret;
}
