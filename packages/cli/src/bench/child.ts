/**
 * A bench child process: sets one workload × layout × architecture up, runs the warm-up,
 * then measures one run per request, so that the runner can interleave the runs of
 * several layouts (each in a process of its own: a fresh heap and JIT state, so no layout
 * ever makes another's code polymorphic). Started by the runner as
 * `node --expose-gc --import tsx child.ts <spec json>`. Protocol, one line each:
 * - the child prints `READY_MARKER` once set up and warmed up;
 * - on `run` from stdin it prints `RUN_MARKER <json>` (one value per metric);
 * - on `finish` it runs the workload's final check, prints `DONE_MARKER` and exits.
 * An error prints its stack on stderr and exits 1.
 */
import { createInterface } from 'node:readline';
import { archByName } from '../archs.ts';
import { combinedChoice, type KernelChoiceName } from './compare.ts';
import type { WorkloadContext, WorkloadInstance } from './types.ts';
import { workloadByName, workloadMetrics } from './workloads/index.ts';

export const READY_MARKER = 'MMKIT_BENCH_READY';
export const RUN_MARKER = 'MMKIT_BENCH_RUN';
export const DONE_MARKER = 'MMKIT_BENCH_DONE';

export interface ChildSpec {
  workload: string;
  layout: string;
  /**
   * Kernel choices of distinct keys: the `--with` ones, then the column's `--compare` one
   * (`{ key: 'lock', value: 'subtree' }`), if any.
   */
  choices?: KernelChoiceName[];
  arch: string;
  /** `--workers`: run the workload's worker variant on this many threads. */
  workers?: number;
  size: number;
  /** Measured runs (`runSpec`; the runner asks for each run itself). */
  runs: number;
  warmup: number;
  quick: boolean;
}

export interface ChildResult {
  /** Per metric: the value of each measured run. */
  values: Record<string, number[]>;
  pages: number;
  ms: number;
}

/** Least time a full run's warm-up lasts (see `ChildSession.warmUp`). */
export const WARMUP_MIN_MS = 500;
/** Most warm-up runs added to reach `WARMUP_MIN_MS`. */
const WARMUP_MAX_RUNS = 100;

/** A workload set up and warmed up, measured one run at a time. */
export class ChildSession {
  readonly nrPages: number;
  private readonly instance: WorkloadInstance;

  constructor(readonly spec: ChildSpec) {
    const w = workloadByName(spec.workload);
    if (w === null) throw new Error(`workload '${spec.workload}' is not available`);
    this.nrPages = Math.min(spec.size / 4096, w.maxPages ?? Number.POSITIVE_INFINITY);
    const choice = combinedChoice(spec.choices ?? []);
    const ctx: WorkloadContext = {
      arch: archByName(spec.arch),
      archName: spec.arch,
      layout: spec.layout,
      services: choice.services,
      sharedMemory: choice.sharedMemory,
      smp: choice.smp,
      size: this.nrPages * 4096,
      nrPages: this.nrPages,
      quick: spec.quick,
    };
    if (spec.workers === undefined) this.instance = w.setup(ctx);
    else if (w.workers === undefined) throw new Error(`workload '${spec.workload}' has no worker variant`);
    else this.instance = w.workers.setup(ctx, spec.workers);
    this.warmUp();
  }

  /**
   * `spec.warmup` runs, and in a full run (not `--quick`) more until the warm-up has lasted
   * `WARMUP_MIN_MS`: a workload of a few milliseconds a run is still being compiled after
   * two (`cortenmm-unmap-virt` single-threaded: 0.89, 2.2, 4.3, 4.9 M ops/s in its first
   * measured runs after two warm-ups), while one of seconds is warm after one.
   */
  private warmUp(): void {
    const start = performance.now();
    for (let i = 0; i < this.spec.warmup; i++) this.instance.run();
    if (this.spec.quick || this.spec.warmup === 0) return;
    for (let i = 0; i < WARMUP_MAX_RUNS && performance.now() - start < WARMUP_MIN_MS; i++)
      this.instance.run();
  }

  /** One measured run: a value per metric. */
  run(): Record<string, number> {
    return this.instance.run();
  }

  /** The workload's final check (untimed). */
  finish(): void {
    this.instance.finish?.();
  }
}

/** Runs a spec's measured runs back to back in this process (tests; the runner interleaves children instead). */
export function runSpec(spec: ChildSpec): ChildResult {
  const t0 = performance.now();
  const session = new ChildSession(spec);
  const metrics = workloadMetrics(spec.workload, spec.workers);
  const values: Record<string, number[]> = {};
  for (const m of metrics) values[m.metric] = [];
  for (let i = 0; i < spec.runs; i++) {
    const r = session.run();
    for (const m of metrics) values[m.metric].push(r[m.metric]);
  }
  session.finish();
  return { values, pages: session.nrPages, ms: performance.now() - t0 };
}

/** The child's body: serves `run` and `finish` requests from stdin (started by `child-main.ts`). */
export function serve(spec: ChildSpec): void {
  const session = new ChildSession(spec);
  process.stdout.write(`${READY_MARKER}\n`);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    try {
      if (line === 'run') {
        process.stdout.write(`${RUN_MARKER} ${JSON.stringify(session.run())}\n`);
      } else if (line === 'finish') {
        session.finish();
        process.stdout.write(`${DONE_MARKER}\n`);
        lines.close();
      } else throw new Error(`bench child: unknown request '${line}'`);
    } catch (e) {
      fail(e);
    }
  });
}

/** Reports an error on stderr (the runner shows its first line) and ends the child. */
export function fail(e: unknown): never {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
