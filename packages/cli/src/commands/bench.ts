import { LAYOUT_NAMES } from '@mmkit/core';
import type { Command } from 'commander';
import { ARCH_NAMES, UsageError } from '../archs.ts';
import { COMPARE_CHOICES, parseCompare } from '../bench/compare.ts';
import { checkOutputPath } from '../bench/output-path.ts';
import { stderrProgress } from '../bench/progress.ts';
import { writeHtml } from '../bench/reporters/html.ts';
import { writeJson } from '../bench/reporters/json.ts';
import { renderTable } from '../bench/reporters/table.ts';
import {
  type BenchOptions,
  DEFAULT_RUNS,
  DEFAULT_SIZE,
  QUICK_RUNS,
  QUICK_SIZE,
  runBench,
} from '../bench/runner.ts';
import { implementedWorkloads, isWorkloadName, WORKLOAD_NAMES } from '../bench/workloads/index.ts';
import { parsePositiveInt, parseSize } from '../units.ts';

interface RawOptions {
  workload: string[];
  layout: string[];
  compare?: string;
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

/** Checks the raw command-line options and resolves defaults (throws `UsageError`). */
export function resolveBenchOptions(raw: RawOptions, argv: readonly string[] = []): BenchOptions {
  const workloads = raw.workload.length ? [...new Set(raw.workload)] : [...WORKLOAD_NAMES];
  for (const w of workloads)
    if (!isWorkloadName(w))
      throw new UsageError(`unknown workload '${w}' (known: ${WORKLOAD_NAMES.join(', ')})`);
  const compare = raw.compare === undefined ? undefined : parseCompare(raw.compare);
  // Comparing a service choice: one layout (soa) unless layouts are named too.
  const layouts = raw.layout.length ? [...new Set(raw.layout)] : compare ? ['soa'] : [...LAYOUT_NAMES];
  for (const l of layouts)
    if (!(LAYOUT_NAMES as readonly string[]).includes(l))
      throw new UsageError(`unknown layout '${l}' (known: ${LAYOUT_NAMES.join(', ')})`);
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
    archs: archList,
    size: raw.size !== undefined ? parseSize(raw.size) : quick ? QUICK_SIZE : DEFAULT_SIZE,
    runs: raw.runs !== undefined ? parsePositiveInt(raw.runs, '--runs') : quick ? QUICK_RUNS : DEFAULT_RUNS,
    warmup: raw.warmup !== undefined ? Number(raw.warmup) : 1,
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
      'benchmark the frame-metadata layouts (or, with --compare, another service choice): every workload × layout × architecture in its own process, ' +
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
    .option('--warmup <n>', 'warm-up runs before measuring (default 1)')
    .option('--json <path>', 'write every figure and the conditions as JSON')
    .option('--html <path>', 'write a self-contained HTML report (charts inlined, opens offline)')
    .option('--vs-linux', "also run the same workloads on this machine's Linux kernel (needs a C compiler)")
    .action(async (raw: RawOptions) => {
      const opts = resolveBenchOptions(raw, process.argv.slice(2));
      if (opts.warmup < 0 || !Number.isInteger(opts.warmup))
        throw new UsageError(`bad --warmup '${raw.warmup}'`);
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
          descriptions[w.name] = w.description;
          for (const m of w.metrics) higherIsBetter[`${w.name}|${m.metric}`] = m.higherIsBetter;
        }
        writeReport(raw.html, () => writeHtml(raw.html as string, report, { descriptions, higherIsBetter }));
        process.stderr.write(`bench: HTML report written to ${raw.html}\n`);
      }
      if (Object.keys(report.conditions.failures).length > 0) process.exitCode = 1;
    });
}
