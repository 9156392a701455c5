import { type ChildProcess, spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { bundleOf } from '../bundle.ts';
import { type ChildSpec, DONE_MARKER, READY_MARKER, RUN_MARKER } from './child.ts';
import type { Comparison, KernelChoiceName } from './compare.ts';
import { type LinuxResult, runLinuxBench } from './linux.ts';
import type { Progress } from './progress.ts';
import { pairRatios, ratioInterval, summarize } from './stats.ts';
import type { BenchReport, Conditions, ResultRow } from './types.ts';
import { unavailableReason, workloadByName, workloadMetrics } from './workloads/index.ts';

export interface BenchOptions {
  workloads: string[];
  layouts: string[];
  /** `--compare`: one service key and the values to run side by side. */
  compare?: Comparison;
  /** `--with`: kernel choices every column takes (keys other than the compared one). */
  with?: KernelChoiceName[];
  /**
   * `--workers`: run each workload's worker variant with each of these thread counts
   * (ascending), every count a column of its own.
   */
  workers?: number[];
  archs: string[];
  /** Bytes per workload (capped per workload where noted). */
  size: number;
  runs: number;
  warmup: number;
  quick: boolean;
  vsLinux: boolean;
  /** The command line, recorded in the conditions. */
  command?: string;
}

/** Quick mode: small sizes, few runs, a smoke run in seconds. */
export const QUICK_SIZE = 16 << 20;
export const QUICK_RUNS = 2;
export const DEFAULT_SIZE = 1 << 30;
export const DEFAULT_RUNS = 5;
/**
 * Warm-up runs before measuring: two, because a short workload's second run can still be
 * far from its steady speed (`cortenmm-mmap-pf` in one process: 18 k, 119 k, then 490-580 k
 * ops/s), so with one warm-up every process's slowest run was that one.
 */
export const DEFAULT_WARMUP = 2;
export const QUICK_WARMUP = 1;

/** The child's entry point; children start from its bundle (`bundleOf`, built once per source change). */
const CHILD_MAIN = new URL('./child-main.ts', import.meta.url);

/** The error line of a child's stderr (not its stack). */
function lastError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l));
  return (lines.find((l) => /Error\b/.test(l)) ?? lines[lines.length - 1] ?? '').trim();
}

/**
 * One child process (`child.ts`) with its workload set up and warmed up, answering one
 * measured run per `run()`. Requests are sent one at a time.
 */
export class BenchChild {
  private out = '';
  private err = '';
  private waiting: { marker: string; resolve: (payload: string) => void; reject: (e: Error) => void } | null =
    null;
  private exited: Error | null = null;

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
      this.deliver();
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.err += d;
    });
    child.on('error', (e) => this.fail(e));
    child.on('close', (code) =>
      this.fail(new Error(`exit ${code}: ${lastError(this.err) || this.out.trim()}`)),
    );
  }

  /** Starts a child for `spec` and waits until it is set up and warmed up. */
  static async start(spec: ChildSpec): Promise<BenchChild> {
    const child = fileURLToPath(bundleOf(CHILD_MAIN));
    const proc = spawn(process.execPath, ['--expose-gc', child, JSON.stringify(spec)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const c = new BenchChild(proc);
    try {
      await c.expect(READY_MARKER);
    } catch (e) {
      c.kill();
      throw e;
    }
    return c;
  }

  /** One measured run: a value per metric. */
  async run(): Promise<Record<string, number>> {
    this.child.stdin?.write('run\n');
    return JSON.parse(await this.expect(RUN_MARKER)) as Record<string, number>;
  }

  /** Runs the workload's final check and lets the child exit. */
  async finish(): Promise<void> {
    this.child.stdin?.write('finish\n');
    await this.expect(DONE_MARKER);
    this.child.stdin?.end();
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }

  private expect(marker: string): Promise<string> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting = { marker, resolve, reject };
      this.deliver();
    });
  }

  /** Hands the next complete line to the waiting request (lines of other output are skipped). */
  private deliver(): void {
    for (;;) {
      const w = this.waiting;
      const nl = this.out.indexOf('\n');
      if (w === null || nl < 0) return;
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      if (line === w.marker || line.startsWith(`${w.marker} `)) {
        this.waiting = null;
        w.resolve(line.slice(w.marker.length + 1));
      }
    }
  }

  private fail(e: Error): void {
    this.exited ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(this.exited);
  }
}

/**
 * Ratio rows between every pair of layouts (in the order given): the ratio of the medians,
 * its bootstrap interval as `min`..`max`, the interleaved runs' pairwise ratios as `runs`,
 * noisy when either side is. With workers, only rows of one worker count are paired.
 */
export function layoutRatios(rows: readonly ResultRow[], layouts: readonly string[]): ResultRow[] {
  const out: ResultRow[] = [];
  const key = (r: ResultRow) => `${r.workload}\0${r.arch}\0${r.metric}\0${r.workers}`;
  const groups = new Map<string, Map<string, ResultRow>>();
  for (const r of rows) {
    if (r.unit === 'ratio') continue;
    let g = groups.get(key(r));
    if (!g) {
      g = new Map();
      groups.set(key(r), g);
    }
    g.set(r.layout, r);
  }
  for (const g of groups.values()) {
    for (let i = 0; i < layouts.length; i++) {
      for (let j = i + 1; j < layouts.length; j++) {
        const a = g.get(layouts[i]);
        const b = g.get(layouts[j]);
        if (a && b) out.push(ratioRow(a, b, `${a.layout}/${b.layout}`));
      }
    }
  }
  return out;
}

/** The layout of a scaling ratio: `column` at `n` workers over `column` at `base` workers. */
export function scalingLayout(column: string, n: number, base: number): string {
  return `${column}@${n}/${column}@${base}`;
}

/**
 * Scaling ratios: for each column, workload and metric, the row at every worker count over
 * the row at the smallest count `workers[0]` (as `layoutRatios`: ratio of the medians, its
 * bootstrap interval, noisy when either side is), named by `scalingLayout`.
 */
export function scalingRatios(rows: readonly ResultRow[], workers: readonly number[]): ResultRow[] {
  const base = workers[0];
  const at = new Map<string, ResultRow>();
  const key = (r: ResultRow, n: number) => `${r.workload}\0${r.arch}\0${r.metric}\0${r.layout}\0${n}`;
  for (const r of rows) if (r.unit !== 'ratio' && r.workers !== undefined) at.set(key(r, r.workers), r);
  const out: ResultRow[] = [];
  for (const r of rows) {
    if (r.unit === 'ratio' || r.workers === undefined || r.workers === base) continue;
    const b = at.get(key(r, base));
    if (b) out.push(ratioRow(r, b, scalingLayout(r.layout, r.workers, base)));
  }
  return out;
}

/** The row of `a` over `b` (see `layoutRatios`). */
function ratioRow(a: ResultRow, b: ResultRow, layout: string): ResultRow {
  const { ratio, lo, hi } = ratioInterval(a.runs, b.runs);
  return {
    ...a,
    layout,
    unit: 'ratio',
    median: ratio,
    min: lo,
    max: hi,
    runs: pairRatios(a.runs, b.runs),
    noisy: a.noisy || b.noisy,
  };
}

/** Ratio rows of every mmkit layout against the Linux row of the same workload and metric. */
export function linuxRatios(rows: readonly ResultRow[]): ResultRow[] {
  const linux = new Map<string, ResultRow>();
  for (const r of rows)
    if (r.layout === 'linux' && r.unit !== 'ratio') linux.set(`${r.workload}\0${r.metric}`, r);
  const out: ResultRow[] = [];
  for (const r of rows) {
    if (r.layout === 'linux' || r.unit === 'ratio' || r.workers !== undefined) continue;
    const l = linux.get(`${r.workload}\0${r.metric}`);
    if (l) out.push(ratioRow(r, l, `${r.layout}/linux`));
  }
  return out;
}

export function conditions(
  opts: BenchOptions,
  unavailable: Record<string, string>,
  linux: string,
  failures: Record<string, string> = {},
): Conditions {
  const cpus = os.cpus();
  const sizes: Record<string, number> = {};
  for (const name of opts.workloads) {
    const w = workloadByName(name);
    if (w) sizes[name] = Math.min(opts.size, (w.maxPages ?? Number.POSITIVE_INFINITY) * 4096);
  }
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
    cpu: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryBytes: os.totalmem(),
    date: new Date().toISOString(),
    sizeBytes: opts.size,
    sizes,
    runs: opts.runs,
    warmup: opts.warmup,
    quick: opts.quick,
    layouts: opts.layouts,
    with: (opts.with ?? []).map((c) => `${c.key}=${c.value}`),
    workers: opts.workers ?? [],
    archs: opts.archs,
    workloads: opts.workloads,
    unavailable,
    failures,
    linux,
    command: opts.command ?? '',
  };
}

/**
 * Measures one workload × arch on every column (layout, or layout × `--compare` choice, each
 * at every `--workers` count): a child per column and count, set up and warmed up (its worker
 * threads started once and kept), then the runs interleaved (run 1 of each column,
 * run 2 of each, ...), so that a change in the machine's load hits every column alike. A child that fails is reported in `failures`
 * and the others go on; a failed final check drops that layout's rows.
 */
async function runInterleaved(
  jobs: readonly { spec: ChildSpec; column: string }[],
  runs: number,
  progress: Progress,
  failures: Record<string, string>,
): Promise<ResultRow[]> {
  type Job = { spec: ChildSpec; column: string };
  const label = (job: Job) =>
    `${job.spec.workload} ${job.column} ${job.spec.arch}${job.spec.workers === undefined ? '' : ` ${job.spec.workers} worker${job.spec.workers === 1 ? '' : 's'}`}`;
  const failed = (job: Job, e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    failures[label(job)] = message;
    progress.log(`bench: ${label(job)} FAILED: ${message.split('\n').slice(0, 3).join(' | ')}`);
  };
  const live: (Job & { child: BenchChild; values: Record<string, number>[] })[] = [];
  try {
    for (const job of jobs) {
      progress.step(label(job));
      try {
        live.push({ ...job, child: await BenchChild.start(job.spec), values: [] });
      } catch (e) {
        failed(job, e);
      }
    }
    for (let r = 0; r < runs; r++) {
      for (const job of [...live]) {
        try {
          job.values.push(await job.child.run());
        } catch (e) {
          failed(job, e);
          job.child.kill();
          live.splice(live.indexOf(job), 1);
        }
      }
    }
    const rows: ResultRow[] = [];
    for (const job of live) {
      try {
        await job.child.finish();
      } catch (e) {
        failed(job, e);
        continue;
      }
      const { workload, arch, workers } = job.spec;
      const layout = job.column;
      for (const m of workloadMetrics(workload, workers)) {
        const values = job.values.map((v) => v[m.metric]);
        rows.push({
          workload,
          layout,
          arch,
          metric: m.metric,
          unit: m.unit,
          ...summarize(values),
          runs: values,
          ...(workers === undefined ? {} : { workers }),
        });
      }
    }
    return rows;
  } finally {
    for (const job of live) job.child.kill();
  }
}

/**
 * The table's columns: each layout, or with `--compare KEY=A,B` each layout × choice, named
 * `KEY=A` (prefixed with the layout when several layouts are compared too).
 */
export function benchColumns(
  opts: Pick<BenchOptions, 'layouts' | 'compare'>,
): { layout: string; choice?: { key: string; value: string }; column: string }[] {
  const cmp = opts.compare;
  if (cmp === undefined) return opts.layouts.map((layout) => ({ layout, column: layout }));
  return opts.layouts.flatMap((layout) =>
    cmp.values.map((value) => ({
      layout,
      choice: { key: cmp.key, value },
      column: opts.layouts.length > 1 ? `${layout},${cmp.key}=${value}` : `${cmp.key}=${value}`,
    })),
  );
}

/** Runs the whole plan: every available workload × arch, its columns interleaved (`runInterleaved`). */
export async function runBench(opts: BenchOptions, progress: Progress): Promise<BenchReport> {
  const unavailable: Record<string, string> = {};
  const runnable: string[] = [];
  for (const name of opts.workloads) {
    const why = unavailableReason(name);
    if (why === null) runnable.push(name);
    else unavailable[name] = why;
  }
  const groups: { spec: ChildSpec; column: string }[][] = [];
  for (const workload of runnable)
    for (const arch of opts.archs)
      groups.push(
        benchColumns(opts).flatMap(({ layout, choice, column }) =>
          (opts.workers ?? [undefined]).map((workers) => ({
            spec: {
              workload,
              layout,
              choices: [...(opts.with ?? []), ...(choice ? [choice] : [])],
              arch,
              ...(workers === undefined ? {} : { workers }),
              size: opts.size,
              runs: opts.runs,
              warmup: opts.warmup,
              quick: opts.quick,
            },
            column,
          })),
        ),
      );
  progress.start(groups.reduce((n, g) => n + g.length, 0) + (opts.vsLinux ? 1 : 0));
  for (const [name, why] of Object.entries(unavailable)) progress.log(`bench: ${name} not available: ${why}`);
  const rows: ResultRow[] = [];
  const failures: Record<string, string> = {};
  try {
    for (const specs of groups) rows.push(...(await runInterleaved(specs, opts.runs, progress, failures)));
    let linuxNote = 'not requested';
    if (opts.vsLinux) {
      progress.step('linux (native C program)');
      const linux: LinuxResult = await runLinuxBench(opts, progress);
      linuxNote = linux.note;
      rows.push(...linux.rows);
    }
    const columns = benchColumns(opts).map((c) => c.column);
    const ratios = [
      ...layoutRatios(rows, columns),
      ...(opts.workers ? scalingRatios(rows, opts.workers) : []),
      ...linuxRatios(rows),
    ];
    return {
      conditions: { ...conditions(opts, unavailable, linuxNote, failures), layouts: columns },
      results: [...rows, ...ratios],
    };
  } finally {
    progress.stop();
  }
}
