import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { type ChildResult, type ChildSpec, RESULT_MARKER } from './child.ts';
import type { Comparison } from './compare.ts';
import { type LinuxResult, runLinuxBench } from './linux.ts';
import type { Progress } from './progress.ts';
import { pairRatios, summarize } from './stats.ts';
import type { BenchReport, Conditions, ResultRow } from './types.ts';
import { unavailableReason, workloadByName } from './workloads/index.ts';

export interface BenchOptions {
  workloads: string[];
  layouts: string[];
  /** `--compare`: one service key and the values to run side by side. */
  compare?: Comparison;
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

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** The error line of a child's stderr (not its stack). */
function lastError(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '' && !/^\s+at /.test(l));
  return (lines.find((l) => /Error\b/.test(l)) ?? lines[lines.length - 1] ?? '').trim();
}

/** Runs one workload × layout × arch in a child process and returns its per-run values. */
export function runChild(spec: ChildSpec): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', TSX, CHILD, JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(`${RESULT_MARKER} `));
      if (code !== 0 || line === undefined) {
        reject(new Error(`exit ${code}: ${lastError(err) || out.trim()}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_MARKER.length + 1)) as ChildResult);
    });
  });
}

/** Ratio rows between every pair of layouts (in the order given), run by run. */
export function layoutRatios(rows: readonly ResultRow[], layouts: readonly string[]): ResultRow[] {
  const out: ResultRow[] = [];
  const key = (r: ResultRow) => `${r.workload}\0${r.arch}\0${r.metric}`;
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
        if (!a || !b) continue;
        const runs = pairRatios(a.runs, b.runs);
        out.push({ ...a, layout: `${a.layout}/${b.layout}`, unit: 'ratio', ...summarize(runs), runs });
      }
    }
  }
  return out;
}

/** Ratio rows of every mmkit layout against the Linux row of the same workload and metric. */
export function linuxRatios(rows: readonly ResultRow[]): ResultRow[] {
  const linux = new Map<string, ResultRow>();
  for (const r of rows)
    if (r.layout === 'linux' && r.unit !== 'ratio') linux.set(`${r.workload}\0${r.metric}`, r);
  const out: ResultRow[] = [];
  for (const r of rows) {
    if (r.layout === 'linux' || r.unit === 'ratio') continue;
    const l = linux.get(`${r.workload}\0${r.metric}`);
    if (!l) continue;
    const runs = pairRatios(r.runs, l.runs);
    out.push({ ...r, layout: `${r.layout}/linux`, unit: 'ratio', ...summarize(runs), runs });
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
    archs: opts.archs,
    workloads: opts.workloads,
    unavailable,
    failures,
    linux,
    command: opts.command ?? '',
  };
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

/** Runs the whole plan: every available workload × arch × layout in its own process. */
export async function runBench(opts: BenchOptions, progress: Progress): Promise<BenchReport> {
  const unavailable: Record<string, string> = {};
  const runnable: string[] = [];
  for (const name of opts.workloads) {
    const why = unavailableReason(name);
    if (why === null) runnable.push(name);
    else unavailable[name] = why;
  }
  const jobs: { spec: ChildSpec; column: string }[] = [];
  for (const workload of runnable)
    for (const arch of opts.archs)
      for (const { layout, choice, column } of benchColumns(opts))
        jobs.push({
          spec: {
            workload,
            layout,
            choice,
            arch,
            size: opts.size,
            runs: opts.runs,
            warmup: opts.warmup,
            quick: opts.quick,
          },
          column,
        });
  progress.start(jobs.length + (opts.vsLinux ? 1 : 0));
  for (const [name, why] of Object.entries(unavailable)) progress.log(`bench: ${name} not available: ${why}`);
  const rows: ResultRow[] = [];
  const failures: Record<string, string> = {};
  try {
    for (const { spec, column } of jobs) {
      const label = `${spec.workload} ${column} ${spec.arch}`;
      progress.step(label);
      let res: ChildResult;
      try {
        res = await runChild(spec);
      } catch (e) {
        // One failing job (a kernel.check() violation, a crash) is reported; the others run.
        const message = e instanceof Error ? e.message : String(e);
        failures[label] = message;
        progress.log(`bench: ${label} FAILED: ${message.split('\n').slice(0, 3).join(' | ')}`);
        continue;
      }
      const w = workloadByName(spec.workload);
      for (const m of w?.metrics ?? []) {
        const runs = res.values[m.metric] ?? [];
        rows.push({
          workload: spec.workload,
          layout: column,
          arch: spec.arch,
          metric: m.metric,
          unit: m.unit,
          ...summarize(runs),
          runs,
        });
      }
    }
    let linuxNote = 'not requested';
    if (opts.vsLinux) {
      progress.step('linux (native C program)');
      const linux: LinuxResult = await runLinuxBench(opts, progress);
      linuxNote = linux.note;
      rows.push(...linux.rows);
    }
    const columns = benchColumns(opts).map((c) => c.column);
    const ratios = [...layoutRatios(rows, columns), ...linuxRatios(rows)];
    return {
      conditions: { ...conditions(opts, unavailable, linuxNote, failures), layouts: columns },
      results: [...rows, ...ratios],
    };
  } finally {
    progress.stop();
  }
}
