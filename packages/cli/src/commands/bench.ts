import os from 'node:os';
import { LAYOUT_NAMES } from '@mmkit/core';
import type { Command } from 'commander';
import { ARCH_NAMES, UsageError } from '../archs.ts';
import { WARMUP_MIN_MS } from '../bench/child.ts';
import { COMPARE_CHOICES, parseCompare, parseWith } from '../bench/compare.ts';
import { checkOutputPath } from '../bench/output-path.ts';
import { stderrProgress } from '../bench/progress.ts';
import { writeHtml } from '../bench/reporters/html.ts';
import { writeJson } from '../bench/reporters/json.ts';
import { renderTable } from '../bench/reporters/table.ts';
import {
  type BenchOptions,
  DEFAULT_RUNS,
  DEFAULT_SIZE,
  DEFAULT_WARMUP,
  QUICK_RUNS,
  QUICK_SIZE,
  QUICK_WARMUP,
  runBench,
} from '../bench/runner.ts';
import {
  implementedWorkloads,
  isWorkloadName,
  WORKLOAD_NAMES,
  workerWorkloads,
} from '../bench/workloads/index.ts';
import { parsePositiveInt, parseSize } from '../units.ts';

interface RawOptions {
  workload: string[];
  layout: string[];
  compare?: string;
  with?: string[];
  workers?: string;
  arch: string[];
  size?: string;
  quick?: boolean;
  runs?: string;
  warmup?: string;
  json?: string;
  html?: string;
  vsLinux?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [
  ...previous,
  ...value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

/** Most worker threads `--workers` accepts (each gets 1 GiB of the address space and its frames). */
export const MAX_WORKERS = 64;
/** Layouts whose kernels can live in shared memory (what worker threads need). */
const WORKER_LAYOUTS = ['soa', 'aos'];

/** Parses `--workers 1,2,4`: distinct positive integers up to `MAX_WORKERS`, ascending. */
export function parseWorkers(text: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new UsageError(`bad --workers '${text}': expected counts such as 1,2`);
  const counts = [...new Set(parts.map((p) => parsePositiveInt(p, '--workers count')))].sort((a, b) => a - b);
  const big = counts.find((n) => n > MAX_WORKERS);
  if (big !== undefined) throw new UsageError(`--workers ${big}: at most ${MAX_WORKERS} workers`);
  return counts;
}

/** Checks the raw command-line options and resolves defaults (throws `UsageError`). */
export function resolveBenchOptions(raw: RawOptions, argv: readonly string[] = []): BenchOptions {
  const workers = raw.workers === undefined ? undefined : parseWorkers(raw.workers);
  const workloads = raw.workload.length
    ? [...new Set(raw.workload)]
    : workers
      ? workerWorkloads()
      : [...WORKLOAD_NAMES];
  for (const w of workloads)
    if (!isWorkloadName(w))
      throw new UsageError(`unknown workload '${w}' (known: ${WORKLOAD_NAMES.join(', ')})`);
  if (workers)
    for (const w of workloads)
      if (!workerWorkloads().includes(w))
        throw new UsageError(
          `--workers: workload '${w}' has no worker variant (those with one: ${workerWorkloads().join(', ')})`,
        );
  const compare = raw.compare === undefined ? undefined : parseCompare(raw.compare);
  if (workers && compare && compare.key !== 'lock')
    throw new UsageError(`--workers compares lock protocols only (--compare lock=...), not '${compare.key}'`);
  const fixed = parseWith(raw.with ?? [], compare?.key);
  if (workers && fixed.some((c) => c.key === 'memory'))
    throw new UsageError('--workers: the workers always share memory; drop --with memory=...');
  if (workers && raw.vsLinux) throw new UsageError('--workers cannot be combined with --vs-linux');
  // Comparing a service choice or running workers: one layout (soa) unless layouts are named too.
  const layouts = raw.layout.length
    ? [...new Set(raw.layout)]
    : compare || workers
      ? ['soa']
      : [...LAYOUT_NAMES];
  for (const l of layouts)
    if (!(LAYOUT_NAMES as readonly string[]).includes(l))
      throw new UsageError(`unknown layout '${l}' (known: ${LAYOUT_NAMES.join(', ')})`);
  if (workers)
    for (const l of layouts)
      if (!WORKER_LAYOUTS.includes(l))
        throw new UsageError(
          `--workers: layout '${l}' cannot live in shared memory (use ${WORKER_LAYOUTS.join(' or ')})`,
        );
  const archList = raw.arch.includes('all')
    ? ARCH_NAMES
    : raw.arch.length
      ? [...new Set(raw.arch)]
      : ['x86_64'];
  for (const a of archList)
    if (!ARCH_NAMES.includes(a))
      throw new UsageError(`unknown architecture '${a}' (known: ${ARCH_NAMES.join(', ')}, all)`);
  const quick = raw.quick ?? false;
  return {
    workloads: WORKLOAD_NAMES.filter((n) => workloads.includes(n)),
    layouts,
    compare,
    ...(fixed.length > 0 ? { with: fixed } : {}),
    ...(workers ? { workers } : {}),
    archs: archList,
    size: raw.size !== undefined ? parseSize(raw.size) : quick ? QUICK_SIZE : DEFAULT_SIZE,
    runs: raw.runs !== undefined ? parsePositiveInt(raw.runs, '--runs') : quick ? QUICK_RUNS : DEFAULT_RUNS,
    warmup: raw.warmup !== undefined ? Number(raw.warmup) : quick ? QUICK_WARMUP : DEFAULT_WARMUP,
    quick,
    vsLinux: raw.vsLinux ?? false,
    command: ['mmkit', ...argv].join(' '),
  };
}

/** Runs `write`; a failure (the path went away while the benchmarks ran, a full disk) is one line. */
function writeReport(path: string, write: () => void): void {
  try {
    write();
  } catch (e) {
    throw new UsageError(
      `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description(
      'benchmark the frame-metadata layouts (or, with --compare, another kernel choice: lock protocol, allocator, private, shared or SMP-mode shared memory): every workload × layout × architecture in its own process, ' +
        'after a warm-up, several runs; table on stdout, optional JSON and HTML reports',
    )
    .option(
      '--workload <name>',
      `workload to run, repeatable (default: all): ${WORKLOAD_NAMES.join(', ')}`,
      collect,
      [],
    )
    .option('--layout <name>', `layout, repeatable (default: all): ${LAYOUT_NAMES.join(', ')}`, collect, [])
    .option(
      '--compare <key=a,b>',
      `run each choice of a kernel service side by side, each in its own process, with ratios (default layout soa): ${Object.entries(
        COMPARE_CHOICES,
      )
        .map(([k, v]) => `${k}=${Object.keys(v).join(',')}`)
        .join('; ')}`,
      (value: string, previous: string | undefined) => {
        if (previous !== undefined)
          throw new UsageError(
            `--compare given twice ('${previous}', '${value}'): compare one key, fix others with --with`,
          );
        return value;
      },
    )
    .option(
      '--with <key=value>',
      'a kernel choice every column takes, repeatable, e.g. --compare memory=private,shared --with lock=subtree (keys as --compare)',
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      '--workers <counts>',
      `run the CortenMM microbenchmarks on worker threads sharing one page table, once per count (e.g. 1,2; at most ${MAX_WORKERS}), with the scaling ratio to the smallest count; combines with --compare lock=...`,
    )
    .option(
      '--arch <name>',
      `architecture, repeatable, or 'all' (default: x86_64): ${ARCH_NAMES.join(', ')}`,
      collect,
      [],
    )
    .option('--size <bytes>', 'bytes each workload works on, e.g. 256MiB, 1GiB (default 1GiB; --quick 16MiB)')
    .option('--quick', `smoke run: ${QUICK_SIZE >> 20} MiB, ${QUICK_RUNS} runs`)
    .option('--runs <n>', `measured runs per workload × layout × arch (default ${DEFAULT_RUNS})`)
    .option(
      '--warmup <n>',
      `warm-up runs before measuring, and more until the warm-up has lasted ${WARMUP_MIN_MS} ms unless --quick (default ${DEFAULT_WARMUP}; --quick ${QUICK_WARMUP})`,
    )
    .option('--json <path>', 'write every figure and the conditions as JSON')
    .option('--html <path>', 'write a self-contained HTML report (charts inlined, opens offline)')
    .option('--vs-linux', "also run the same workloads on this machine's Linux kernel (needs a C compiler)")
    .action(async (raw: RawOptions) => {
      const opts = resolveBenchOptions(raw, process.argv.slice(2));
      if (opts.warmup < 0 || !Number.isInteger(opts.warmup))
        throw new UsageError(`bad --warmup '${raw.warmup}'`);
      const cpus = os.availableParallelism();
      const most = opts.workers?.at(-1);
      if (most !== undefined && most > cpus)
        process.stderr.write(
          `bench: warning: --workers ${most} is more than this machine's ${cpus} CPUs: the workers will share them\n`,
        );
      if (raw.json) checkOutputPath(raw.json, '--json');
      if (raw.html) checkOutputPath(raw.html, '--html');
      const report = await runBench(opts, stderrProgress());
      process.stdout.write(`${renderTable(report)}\n`);
      if (raw.json) {
        writeReport(raw.json, () => writeJson(raw.json as string, report));
        process.stderr.write(`bench: JSON written to ${raw.json}\n`);
      }
      if (raw.html) {
        const descriptions: Record<string, string> = {};
        const higherIsBetter: Record<string, boolean> = {};
        for (const w of implementedWorkloads()) {
          const shown = opts.workers && w.workers ? w.workers : w;
          descriptions[w.name] = shown.description;
          for (const m of shown.metrics) higherIsBetter[`${w.name}|${m.metric}`] = m.higherIsBetter;
        }
        writeReport(raw.html, () => writeHtml(raw.html as string, report, { descriptions, higherIsBetter }));
        process.stderr.write(`bench: HTML report written to ${raw.html}\n`);
      }
      if (Object.keys(report.conditions.failures).length > 0) process.exitCode = 1;
    });
}
