import type { Arch, ServiceOverrides } from '@mmkit/core';

/** What a workload counts: a name scripts can rely on, its unit, and its direction. */
export interface MetricSpec {
  metric: string;
  unit: string;
  /** True for throughputs (pages/s), false for costs (ms/GiB, bytes/page). */
  higherIsBetter: boolean;
}

/** Everything a workload is given in its child process. */
export interface WorkloadContext {
  arch: Arch;
  archName: string;
  layout: string;
  /** Services replacing the kernel's defaults (a `--compare` choice); every kernel gets them. */
  services: ServiceOverrides;
  /** Whether every kernel puts its physical layer on shared memory (`--compare memory=...`). */
  sharedMemory: boolean;
  /** Whether every kernel on shared memory runs in SMP mode (`--compare memory=smp`: it hands out its state at boot). */
  smp: boolean;
  /** Bytes the workload works on (the `--size`). */
  size: number;
  /** `size` in 4 KiB pages. */
  nrPages: number;
  quick: boolean;
}

/**
 * A workload's variant on worker threads (`mmkit bench --workers`): the same benchmark run by
 * `nrWorkers` threads at once on one kernel in shared memory. Its runs time the workers
 * themselves, from the first one's start after a start barrier to the last one's end.
 */
export interface WorkerVariant {
  /** One line: what each worker does. */
  description: string;
  metrics: readonly MetricSpec[];
  setup(ctx: WorkloadContext, nrWorkers: number): WorkloadInstance;
}

/** One workload after its (untimed) setup: each `run()` is one measured repetition. */
export interface WorkloadInstance {
  /** Runs once (untimed preparation allowed inside) and returns one value per metric. */
  run(): Record<string, number>;
  /** Called once after the last run (untimed), e.g. to check the kernel. */
  finish?(): void;
}

export interface Workload {
  name: string;
  /** One line: what is measured. */
  description: string;
  metrics: readonly MetricSpec[];
  /** Null when runnable; otherwise why not (e.g. an API that has not landed). */
  unavailable(): string | null;
  setup(ctx: WorkloadContext): WorkloadInstance;
  /** Caps the size this workload uses (some work per call, not per page). */
  maxPages?: number;
  /** The variant `--workers` runs, if the workload has one. */
  workers?: WorkerVariant;
}

/**
 * One figure of the JSON report. For a measurement, `median`, `min` and `max` summarize
 * `runs`. For a ratio (`unit: 'ratio'`, `layout: 'a/b'`), `median` is the ratio of the two
 * medians and `min`..`max` its 95% bootstrap interval; `runs` are the ratios of the
 * interleaved runs, pair by pair. With `--workers`, `a` and `b` are columns at the same
 * worker count, or, for a scaling ratio, one column at two counts: `a` = `COLUMN@N`, `b` =
 * `COLUMN@B` (`scalingLayout`).
 */
export interface ResultRow {
  workload: string;
  layout: string;
  arch: string;
  metric: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  /** The value of every run, in order. */
  runs: number[];
  /** Runs spread over more than 20% of the median (for a ratio: either side is noisy). */
  noisy: boolean;
  /**
   * Worker threads of the run (`--workers`); absent (null in the JSON) for a workload run on
   * the bench child's own thread. A ratio row carries its numerator's count.
   */
  workers?: number;
}

export interface Conditions {
  node: string;
  v8: string;
  platform: string;
  kernel: string;
  cpu: string;
  cpus: number;
  memoryBytes: number;
  date: string;
  sizeBytes: number;
  sizes: Record<string, number>;
  runs: number;
  warmup: number;
  quick: boolean;
  /** The columns: layouts, or layout and `--compare` choice (e.g. `lock=subtree`). */
  layouts: string[];
  /** `--with`: the kernel choices every column ran with, as `KEY=VALUE` (empty without the flag). */
  with?: string[];
  /** `--workers`: the worker counts every column ran with (empty without the flag). */
  workers: number[];
  archs: string[];
  workloads: string[];
  unavailable: Record<string, string>;
  /** Jobs (`workload layout arch`) whose child process failed, with the error. */
  failures: Record<string, string>;
  linux: string;
  command: string;
}

export interface BenchReport {
  conditions: Conditions;
  results: ResultRow[];
}
