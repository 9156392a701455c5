import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/archs.ts';
import { amdahl } from '../src/bench/lock-hold.ts';
import { validateReport } from '../src/bench/reporters/json.ts';
import { renderTable } from '../src/bench/reporters/table.ts';
import { conditions, layoutRatios, scalingLayout, scalingRatios } from '../src/bench/runner.ts';
import { summarize } from '../src/bench/stats.ts';
import type { BenchReport, ResultRow } from '../src/bench/types.ts';
import { WorkerPool } from '../src/bench/workers/pool.ts';
import { CORTENMM_BASE, PAGE } from '../src/bench/workloads/common.ts';
import { CORTENMM_KINDS, cortenmmPlans, cortenmmShuffle } from '../src/bench/workloads/cortenmm-workers.ts';
import { workerWorkloads } from '../src/bench/workloads/index.ts';
import { parseWorkers, resolveBenchOptions } from '../src/commands/bench.ts';
import { type ParallelKernelSpec, parallelKernel } from '../src/parallel/index.ts';
import { CLI_BUNDLE } from './support/cli-bundle.ts';

function row(layout: string, workers: number, runs: number[]): ResultRow {
  return {
    workload: 'cortenmm-pf',
    layout,
    arch: 'x86_64',
    metric: 'ops_per_s',
    unit: 'ops/s',
    ...summarize(runs),
    runs,
    workers,
  };
}

describe('--workers options', () => {
  it('parses distinct positive counts, ascending', () => {
    expect(parseWorkers('2,1,2')).toEqual([1, 2]);
    expect(parseWorkers(' 4 ')).toEqual([4]);
  });

  it.each(['0', '-1', '1.5', 'two', ',', '65'])('rejects %j with a usage error', (text) => {
    expect(() => parseWorkers(text)).toThrow(UsageError);
  });

  it('runs the worker workloads on soa by default, and refuses what workers cannot run', () => {
    const o = resolveBenchOptions({ workload: [], layout: [], arch: [], workers: '1,2' });
    expect(o.workers).toEqual([1, 2]);
    expect(o.workloads).toEqual(workerWorkloads());
    expect(o.workloads).toEqual([
      'cortenmm-mmap',
      'cortenmm-mmap-pf',
      'cortenmm-pf',
      'cortenmm-unmap-virt',
      'cortenmm-unmap',
    ]);
    expect(o.layouts).toEqual(['soa']);
    const bad = [
      { workload: ['map'], layout: [], arch: [], workers: '1' },
      { workload: [], layout: ['object'], arch: [], workers: '1' },
      { workload: [], layout: [], arch: [], workers: '1', compare: 'allocator=bitmap,buddy' },
      { workload: [], layout: [], arch: [], workers: '1', vsLinux: true },
    ];
    for (const raw of bad) expect(() => resolveBenchOptions(raw)).toThrow(UsageError);
  });
});

describe('CortenMM plans for workers', () => {
  it('shuffles with a permutation, reproducibly', () => {
    const a = cortenmmShuffle(1000, 0xdeadbeef - 2);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(a).toEqual(cortenmmShuffle(1000, 0xdeadbeef - 2));
    expect(a).not.toEqual(cortenmmShuffle(1000, 0xdeadbeef - 1));
  });

  it('gives each worker its own range, and deals every shuffled slot out once', () => {
    const kind = CORTENMM_KINDS.unmap;
    const n = 3;
    const requests = 64;
    const plans = Array.from({ length: n }, (_, w) => cortenmmPlans(kind, n, requests, w));
    const pagesOf = (ops: readonly { va: number; pages: number }[]) =>
      ops.flatMap((op) => Array.from({ length: op.pages }, (_, i) => (op.va - CORTENMM_BASE) / PAGE + i));
    for (const [w, [prepare, disjoint]] of plans.entries()) {
      const own = (w * 2 ** 30) / PAGE;
      expect(new Set(pagesOf(disjoint))).toEqual(
        new Set(Array.from({ length: requests }, (_, i) => own + i)),
      );
      // Prepared (made and faulted) exactly where the timed unmaps go.
      expect(prepare.map((op) => op.op)).toEqual(['descend', 'fault']);
      for (const op of prepare) expect(new Set(pagesOf([op]))).toEqual(new Set(pagesOf(disjoint)));
    }
    const shuffled = plans.flatMap((p) => pagesOf(p[3]));
    expect(new Set(shuffled)).toEqual(new Set(Array.from({ length: n * requests }, (_, i) => i)));
    expect(shuffled).toHaveLength(n * requests);
    expect(new Set(plans.flatMap((p) => pagesOf(p[2].slice(0, 1))))).toEqual(new Set(shuffled));
    // Neighbouring slots go to different workers: the shuffled layout does contend.
    expect(pagesOf(plans[0][3])).not.toEqual([...pagesOf(plans[0][3])].sort((x, y) => x - y));
  });
});

describe('scaling ratios and the worker table', () => {
  const rows = [
    row('lock=hoh', 1, [100, 110, 90]),
    row('lock=hoh', 2, [180, 200, 190]),
    row('lock=global', 1, [100, 100, 100]),
    row('lock=global', 2, [90, 100, 95]),
  ];

  it('divides each count by the smallest, per column, with the interval', () => {
    const r = scalingRatios(rows, [1, 2]);
    expect(r.map((x) => [x.layout, x.workers])).toEqual([
      [scalingLayout('lock=hoh', 2, 1), 2],
      [scalingLayout('lock=global', 2, 1), 2],
    ]);
    expect(r[0].layout).toBe('lock=hoh@2/lock=hoh@1');
    expect(r[0]).toMatchObject({ unit: 'ratio', median: 190 / 100 });
    expect(r[0].min).toBeLessThanOrEqual(r[0].median);
    expect(r[0].max).toBeGreaterThanOrEqual(r[0].median);
    expect(r[1].median).toBeCloseTo(0.95, 12);
  });

  it('pairs columns only at the same worker count', () => {
    const r = layoutRatios(rows, ['lock=hoh', 'lock=global']);
    expect(r.map((x) => [x.layout, x.workers, x.median])).toEqual([
      ['lock=hoh/lock=global', 1, 1],
      ['lock=hoh/lock=global', 2, 1.9 / 0.95],
    ]);
  });

  it('shows a cell per worker count and the scaling ratio', () => {
    const report: BenchReport = {
      conditions: {
        ...conditions(
          {
            workloads: ['cortenmm-pf'],
            layouts: ['soa'],
            archs: ['x86_64'],
            size: 1 << 20,
            runs: 3,
            warmup: 1,
            quick: true,
            vsLinux: false,
            workers: [1, 2],
          },
          {},
          'not requested',
        ),
        layouts: ['lock=hoh', 'lock=global'],
      },
      results: [...rows, ...layoutRatios(rows, ['lock=hoh', 'lock=global']), ...scalingRatios(rows, [1, 2])],
    };
    const text = renderTable(report);
    expect(text).toMatch(/workload +arch +metric +column +1 worker +2 workers +2\/1/);
    expect(text).toMatch(
      /cortenmm-pf +x86_64 +ops_per_s \[ops\/s\] +lock=hoh +100 \(90\.0\.\.110\).*190 .*1\.90x/,
    );
    expect(text).toMatch(/lock=hoh\/lock=global +1\.00x/);
    expect(JSON.parse(JSON.stringify(report.conditions)).workers).toEqual([1, 2]);
  });
});

describe('the bench worker pool', () => {
  it('runs phases on fresh tables, counts, and reports a worker error instead of hanging', {
    timeout: 120_000,
  }, () => {
    const spec: ParallelKernelSpec = {
      arch: 'x86_64',
      memory: 64 << 20,
      layout: 'soa',
      protocol: 'subtree',
      recycle: false,
      debug: true,
    };
    const kernel = parallelKernel(spec);
    const va = (w: number) => CORTENMM_BASE + w * 2 ** 30;
    const plans = [0, 1].map((w) => [
      [{ op: 'fault' as const, va: va(w), pages: 8, prop: 0x3f }],
      [{ op: 'unmap' as const, va: va(w), pages: 8 }],
      // Outside the user half of the address space: the cursor refuses it.
      [{ op: 'query' as const, va: 2 ** 48, pages: 1 }],
    ]);
    const pool = WorkerPool.start(kernel, spec, plans);
    try {
      for (let run = 0; run < 2; run++) {
        const table = kernel.newUserPageTable();
        // The span is the workers' own: inside the time from waking them to their join.
        const t0 = performance.now();
        const span = pool.runPhase(table, 0);
        expect(span).toBeGreaterThan(0);
        expect(span).toBeLessThanOrEqual(performance.now() - t0);
        expect(kernel.check()).toEqual([]);
        pool.runPhase(table, 1);
        kernel.destroyUserPageTable(table);
        expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
      }
      expect(pool.total()).toMatchObject({
        ops: 8,
        faulted: 32,
        unmapped: 32,
        spuriousFaults: 0,
        violations: 0,
      });
      const table = kernel.newUserPageTable();
      expect(() => pool.runPhase(table, 2)).toThrow(/bench worker [01]: .*Invalid/);
    } finally {
      pool.close();
    }
  });

  it('runs more workers than cores through the start barrier', { timeout: 120_000 }, () => {
    const spec: ParallelKernelSpec = {
      arch: 'x86_64',
      memory: 64 << 20,
      layout: 'soa',
      protocol: 'hoh',
      recycle: false,
      debug: true,
    };
    const kernel = parallelKernel(spec);
    const n = 4;
    const plans = Array.from({ length: n }, (_, w) => [
      [{ op: 'fault' as const, va: CORTENMM_BASE + w * 2 ** 30, pages: 4, prop: 0x3f }],
    ]);
    const pool = WorkerPool.start(kernel, spec, plans);
    try {
      const table = kernel.newUserPageTable();
      for (let run = 0; run < 3; run++) expect(pool.runPhase(table, 0)).toBeGreaterThan(0);
      // Every worker ran each phase: the first faulted its pages, the others found them there.
      expect(pool.total()).toMatchObject({
        ops: 3 * n,
        faulted: 4 * n,
        spuriousFaults: 8 * n,
        violations: 0,
      });
      expect(kernel.check()).toEqual([]);
      kernel.destroyUserPageTable(table);
      expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
    } finally {
      pool.close();
    }
  });

  it('models speedups with Amdahl', () => {
    expect(amdahl(2, 0)).toBe(2);
    expect(amdahl(64, 1)).toBe(1);
    expect(amdahl(8, 0.25)).toBeCloseTo(8 / 2.75, 12);
  });
});

const root = fileURLToPath(new URL('../../..', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-bench-workers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mmkit bench --workers (end to end)', () => {
  it('runs a tiny 1- and 2-worker bench and reports workers per row', { timeout: 240_000 }, async () => {
    const json = path.join(dir, 'w.json');
    const args = [
      ...[CLI_BUNDLE, 'bench', '--quick', '--runs', '2', '--warmup', '0'],
      ...['--workers', '1,2', '--workload', 'cortenmm-unmap', '--json', json],
    ];
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, args, { cwd: root, encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(r.stderr).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 worker +2 workers +2\/1/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(validateReport(report)).toEqual([]);
    expect(report.conditions.workers).toEqual([1, 2]);
    const measured = report.results.filter((x) => x.unit !== 'ratio');
    expect(measured.map((x) => [x.metric, x.workers])).toEqual([
      ['ops_per_s', 1],
      ['shuffled_ops_per_s', 1],
      ['ops_per_s', 2],
      ['shuffled_ops_per_s', 2],
    ]);
    for (const x of measured) {
      expect(x.layout).toBe('soa');
      expect(x.runs).toHaveLength(2);
      expect(x.min).toBeLessThanOrEqual(x.median);
      expect(x.median).toBeLessThanOrEqual(x.max);
    }
    const scaling = report.results.filter((x) => x.unit === 'ratio');
    expect(scaling.map((x) => [x.layout, x.metric, x.workers])).toEqual([
      ['soa@2/soa@1', 'ops_per_s', 2],
      ['soa@2/soa@1', 'shuffled_ops_per_s', 2],
    ]);
    const [one, two] = measured.filter((x) => x.metric === 'ops_per_s');
    expect(scaling[0].median).toBeCloseTo(two.median / one.median, 9);
    expect(scaling[0].noisy).toBe(one.noisy || two.noisy);
  });
});
