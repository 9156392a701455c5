import { x86_64 } from '@mmkit/arch-x86_64';
import { MmError } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/archs.ts';
import { runSpec } from '../src/bench/child.ts';
import { combinedChoice, compareChoice, parseCompare } from '../src/bench/compare.ts';
import { linuxRows } from '../src/bench/linux.ts';
import { escapeScript } from '../src/bench/reporters/html.ts';
import { toJson, validateReport } from '../src/bench/reporters/json.ts';
import { renderTable } from '../src/bench/reporters/table.ts';
import { benchColumns, conditions, layoutRatios, linuxRatios } from '../src/bench/runner.ts';
import { median, pairRatios, ratioInterval, summarize } from '../src/bench/stats.ts';
import type { BenchReport, ResultRow } from '../src/bench/types.ts';
import { benchKernel } from '../src/bench/workloads/common.ts';
import { unavailableReason, WORKLOAD_NAMES, workloadByName } from '../src/bench/workloads/index.ts';
import { resolveBenchOptions } from '../src/commands/bench.ts';
import { formatBytes, parseSize } from '../src/units.ts';

function row(layout: string, runs: number[], extra: Partial<ResultRow> = {}): ResultRow {
  return {
    workload: 'map',
    layout,
    arch: 'x86_64',
    metric: 'pages_per_s',
    unit: 'pages/s',
    ...summarize(runs),
    runs,
    ...extra,
  };
}

describe('sizes', () => {
  it.each([
    ['256MiB', 256 << 20],
    ['1GiB', 1 << 30],
    ['1G', 1 << 30],
    ['64m', 64 << 20],
    ['4096', 4096],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['1MB', 999424],
    [' 16 KiB ', 16384],
  ])('parses %s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'abc', '12XB', '-1G', '1 2M', '100'])('rejects %j with a clear message', (text) => {
    expect(() => parseSize(text)).toThrow(UsageError);
    expect(() => parseSize(text)).toThrow(/bad size/);
  });

  it('formats bytes', () => {
    expect(formatBytes(256 << 20)).toBe('256 MiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });
});

describe('statistics', () => {
  it('gives median, min and max as plain numbers', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(summarize([5, 1, 9])).toEqual({ median: 5, min: 1, max: 9, noisy: true });
    expect(summarize([100, 110, 105])).toEqual({ median: 105, min: 100, max: 110, noisy: false });
    expect(Number.isNaN(summarize([]).median)).toBe(true);
  });

  it('pairs ratios run by run', () => {
    expect(pairRatios([10, 20, 30], [5, 10])).toEqual([2, 2]);
    expect(pairRatios([1], [0])).toEqual([]);
  });

  it('computes layout ratios from medians in the order given, and against Linux', () => {
    const rows = [row('soa', [30, 60, 90]), row('aos', [10, 20, 30]), row('object', [10, 30, 30])];
    const ratios = layoutRatios(rows, ['soa', 'aos', 'object']);
    expect(ratios.map((r) => r.layout)).toEqual(['soa/aos', 'soa/object', 'aos/object']);
    expect(ratios[0]).toMatchObject({ unit: 'ratio', median: 3, runs: [3, 3, 3], noisy: true });
    expect(ratios[0].min).toBeLessThanOrEqual(3);
    expect(ratios[0].max).toBeGreaterThanOrEqual(3);
    // The ratio of the medians (60 / 30), not the median of the pairwise ratios (3, 2, 3).
    expect(ratios[1]).toMatchObject({ median: 2, runs: [3, 2, 3] });
    const linux = row('linux', [1, 2, 3]);
    const lr = linuxRatios([...rows, linux]);
    expect(lr.map((r) => r.layout)).toEqual(['soa/linux', 'aos/linux', 'object/linux']);
    expect(lr[0].runs).toEqual([30, 30, 30]);
  });

  it('never contradicts the medians beside a ratio, even with an outlier run', () => {
    const soa = row('soa', [1.05e6, 1.0e6, 1.1e6]);
    const object = row('object', [1.73e6, 1.7e6, 0.1e6]);
    const [r] = layoutRatios([soa, object], ['soa', 'object']);
    expect(r.median).toBeCloseTo(soa.median / object.median, 12);
    expect(r.median).toBeLessThan(1);
    expect(r.noisy).toBe(true);
  });

  it('flags quiet results as not noisy, with a tight interval', () => {
    const [r] = layoutRatios(
      [row('soa', [100, 101, 102, 100, 101]), row('aos', [50, 50, 51, 50, 51])],
      ['soa', 'aos'],
    );
    expect(r.noisy).toBe(false);
    expect(r.median).toBeCloseTo(101 / 50, 12);
    expect(r.min).toBeGreaterThan(1.9);
    expect(r.max).toBeLessThan(2.1);
  });

  it('gives the bootstrap interval reproducibly', () => {
    const a = [3, 5, 4, 6, 5];
    const b = [2, 2.5, 2, 3, 2.2];
    expect(ratioInterval(a, b)).toEqual(ratioInterval(a, b));
    expect(Number.isNaN(ratioInterval([], b).ratio)).toBe(true);
    expect(Number.isNaN(ratioInterval(a, [0, 0]).ratio)).toBe(true);
  });
});

describe('JSON report', () => {
  const report: BenchReport = {
    conditions: conditions(
      {
        workloads: ['map'],
        layouts: ['soa', 'aos'],
        archs: ['x86_64'],
        size: 1 << 20,
        runs: 3,
        warmup: 1,
        quick: true,
        vsLinux: false,
      },
      { replay: 'not yet' },
      'not requested',
    ),
    results: [row('soa', [3, 2, 1]), row('aos', [1, 1, Number.POSITIVE_INFINITY])],
  };

  it('follows the schema of issue 5 exactly', () => {
    const parsed = JSON.parse(toJson(report));
    expect(validateReport(parsed)).toEqual([]);
    expect(Object.keys(parsed)).toEqual(['conditions', 'results']);
    expect(Object.keys(parsed.results[0])).toEqual([
      'workload',
      'layout',
      'arch',
      'metric',
      'unit',
      'median',
      'min',
      'max',
      'runs',
      'noisy',
      'workers',
    ]);
    expect(parsed.results[0].workers).toBeNull();
    expect(parsed.results[1].max).toBeNull();
    for (const k of ['node', 'cpu', 'date', 'sizeBytes', 'runs', 'unavailable'])
      expect(parsed.conditions).toHaveProperty(k);
  });

  it('finds schema violations', () => {
    expect(validateReport({ results: [] })).not.toEqual([]);
    expect(validateReport({ conditions: {}, results: [{ workload: 'map' }] })).not.toEqual([]);
  });

  it('renders a terminal table with a column per layout and per ratio', () => {
    const rows = [row('soa', [30, 60, 90]), row('aos', [10, 20, 30])];
    const text = renderTable({ ...report, results: [...rows, ...layoutRatios(rows, ['soa', 'aos'])] });
    expect(text).toMatch(/workload +arch +metric +soa +aos +soa\/aos/);
    expect(text).toMatch(/3\.00x \([0-9.]+\.\.[0-9.]+\) noisy/);
    expect(text).toMatch(/noisy: runs spread over more than 20%/);
    expect(text).toMatch(/replay: not yet/);
  });
});

describe('workloads and options', () => {
  it('names every workload of the issue, and says why one is unavailable', () => {
    expect(WORKLOAD_NAMES).toContain('cortenmm-unmap-virt');
    expect(WORKLOAD_NAMES).toContain('alloc');
    expect(new Set(WORKLOAD_NAMES).size).toBe(WORKLOAD_NAMES.length);
    expect(WORKLOAD_NAMES).toContain('mmap-churn');
    for (const name of WORKLOAD_NAMES) {
      const w = workloadByName(name);
      if (w === null) expect(unavailableReason(name)).toMatch(/./);
      else expect(w.name).toBe(name);
    }
  });

  it('resolves defaults and rejects unknown names', () => {
    const o = resolveBenchOptions({ workload: [], layout: [], arch: [], quick: true });
    expect(o.layouts).toEqual(['soa', 'aos', 'object']);
    expect(o.archs).toEqual(['x86_64']);
    expect(o.size).toBe(16 << 20);
    expect(o.runs).toBe(2);
    expect(o.warmup).toBe(1);
    const full = resolveBenchOptions({ workload: [], layout: [], arch: [] });
    expect([full.runs, full.warmup, full.size]).toEqual([5, 2, 1 << 30]);
    expect(resolveBenchOptions({ workload: [], layout: [], arch: [], warmup: '0' }).warmup).toBe(0);
    expect(resolveBenchOptions({ workload: [], layout: [], arch: ['all'] }).archs.length).toBe(3);
    expect(resolveBenchOptions({ workload: ['query', 'map'], layout: [], arch: [] }).workloads).toEqual([
      'map',
      'query',
    ]);
    expect(() => resolveBenchOptions({ workload: ['nope'], layout: [], arch: [] })).toThrow(
      /unknown workload 'nope'/,
    );
    expect(() => resolveBenchOptions({ workload: [], layout: ['heap'], arch: [] })).toThrow(
      /unknown layout 'heap'/,
    );
    expect(() => resolveBenchOptions({ workload: [], layout: [], arch: ['mips'] })).toThrow(
      /unknown architecture/,
    );
    expect(() => resolveBenchOptions({ workload: [], layout: [], arch: [], runs: '0' })).toThrow(
      /bad --runs/,
    );
    expect(() => resolveBenchOptions({ workload: [], layout: [], arch: [], size: '12 parsecs' })).toThrow(
      /bad size/,
    );
  });

  it('runs a workload in process and checks the kernel afterwards', () => {
    const r = runSpec({
      workload: 'map',
      layout: 'aos',
      arch: 'riscv-sv39',
      size: 1 << 20,
      runs: 2,
      warmup: 0,
      quick: true,
    });
    expect(r.values.pages_per_s).toHaveLength(2);
    expect(r.values.pages_per_s.every((v) => v > 0)).toBe(true);
  });

  it('churns mmap/munmap among 10 000 mappings and checks the address space afterwards', () => {
    const r = runSpec({
      workload: 'mmap-churn',
      layout: 'object',
      arch: 'x86_64',
      size: 1 << 20,
      runs: 1,
      warmup: 0,
      quick: true,
    });
    expect(r.values.calls_per_s).toHaveLength(1);
    expect(r.values.calls_per_s[0]).toBeGreaterThan(0);
  }, 60_000);

  it('parses --compare into one column per choice and runs a choice in process', () => {
    const opts = resolveBenchOptions({
      workload: ['fault'],
      layout: [],
      arch: [],
      compare: 'lock=hoh,subtree,global',
    });
    expect(opts.compare).toEqual({ key: 'lock', values: ['hoh', 'subtree', 'global'] });
    expect(benchColumns(opts).map((c) => c.column)).toEqual(['lock=hoh', 'lock=subtree', 'lock=global']);
    expect(
      benchColumns({ layouts: ['soa', 'aos'], compare: { key: 'lock', values: ['hoh', 'global'] } }).map(
        (c) => c.column,
      ),
    ).toEqual(['soa,lock=hoh', 'soa,lock=global', 'aos,lock=hoh', 'aos,lock=global']);
    expect(() => parseCompare('locks=hoh,global')).toThrow(/unknown key 'locks'/);
    expect(() => parseCompare('lock=hoh,ticket')).toThrow(/unknown value 'ticket'/);
    expect(() => parseCompare('lock=hoh')).toThrow(/at least two values/);
    const r = runSpec({
      workload: 'fault',
      layout: 'soa',
      choices: [{ key: 'lock', value: 'subtree' }],
      arch: 'x86_64',
      size: 1 << 20,
      runs: 1,
      warmup: 0,
      quick: true,
    });
    expect(r.values.faults_per_s[0]).toBeGreaterThan(0);
  });

  it('compares private and shared memory (--compare memory=...), each kernel of a choice on its memory', () => {
    const opts = resolveBenchOptions({
      workload: ['map', 'fault'],
      layout: [],
      arch: [],
      compare: 'memory=private,shared,smp',
    });
    expect(benchColumns(opts).map((c) => c.column)).toEqual([
      'memory=private',
      'memory=shared',
      'memory=smp',
    ]);
    expect(compareChoice('memory', 'shared')).toEqual({ services: {}, sharedMemory: true, smp: false });
    expect(compareChoice('memory', 'smp')).toEqual({ services: {}, sharedMemory: true, smp: true });
    expect(compareChoice('memory', 'private')).toEqual({ services: {}, sharedMemory: false, smp: false });
    expect(compareChoice('lock', 'subtree').sharedMemory).toBe(false);
    expect(() => parseCompare('memory=shared,global')).toThrow(/unknown value 'global'/);
    expect(() =>
      resolveBenchOptions({
        workload: [],
        layout: [],
        arch: [],
        compare: 'memory=private,shared',
        workers: '1,2',
      }),
    ).toThrow(/compares lock protocols only/);
    const ctx = {
      arch: x86_64,
      archName: 'x86_64',
      layout: 'soa',
      services: {},
      size: 1 << 20,
      nrPages: 256,
      quick: true,
      smp: false,
    };
    const up = benchKernel({ ...ctx, sharedMemory: true }, 16 << 20);
    expect(up.smp).toBe(false);
    expect(up.sharedState().memory).toBe(16 << 20);
    expect(benchKernel({ ...ctx, sharedMemory: true, smp: true }, 16 << 20).smp).toBe(true);
    expect(() => benchKernel({ ...ctx, sharedMemory: false }, 16 << 20).sharedState()).toThrow(MmError);
    for (const workload of ['map', 'fault']) {
      for (const value of ['shared', 'smp']) {
        const r = runSpec({
          workload,
          layout: 'soa',
          choices: [{ key: 'memory', value }],
          arch: 'x86_64',
          size: 1 << 20,
          runs: 1,
          warmup: 0,
          quick: true,
        });
        expect(Object.values(r.values)[0][0]).toBeGreaterThan(0);
      }
    }
  });

  it('gives every column the --with choices: a lock protocol while memory is compared', () => {
    const opts = resolveBenchOptions({
      workload: ['fault'],
      layout: [],
      arch: [],
      compare: 'memory=private,shared',
      with: ['lock=subtree'],
    });
    expect(opts.with).toEqual([{ key: 'lock', value: 'subtree' }]);
    const both = combinedChoice([
      { key: 'lock', value: 'subtree' },
      { key: 'memory', value: 'shared' },
    ]);
    expect(both.sharedMemory).toBe(true);
    expect(both.services.lockProtocol?.name).toBe('subtree');
    expect(combinedChoice([]).sharedMemory).toBe(false);
    const bad = (w: string[], compare?: string, workers?: string) => () =>
      resolveBenchOptions({ workload: [], layout: [], arch: [], with: w, compare, workers });
    expect(bad(['lock=ticket'])).toThrow(/--with lock: expected one of hoh, subtree, global, got 'ticket'/);
    expect(bad(['locks=hoh'])).toThrow(/--with: unknown key 'locks'/);
    expect(bad(['lock=hoh', 'lock=subtree'])).toThrow(/given twice/);
    expect(bad(['lock=hoh'], 'lock=hoh,global')).toThrow(/--compare already varies 'lock'/);
    expect(bad(['memory=shared'], undefined, '1,2')).toThrow(/workers always share memory/);
    // A child runs on the kernel both choices make (what that kernel is: combinedChoice above).
    const r = runSpec({
      workload: 'fault',
      layout: 'soa',
      choices: [
        { key: 'memory', value: 'shared' },
        { key: 'lock', value: 'subtree' },
      ],
      arch: 'x86_64',
      size: 1 << 20,
      runs: 1,
      warmup: 0,
      quick: true,
    });
    expect(r.values.faults_per_s[0]).toBeGreaterThan(0);
  });

  it('reads the Linux program output into rows of its own layout', () => {
    const rows = linuxRows(
      {
        note: 'x',
        results: [
          { workload: 'fault', metric: 'faults_per_s', unit: 'faults/s', runs: [1, 3, 2] },
          { workload: 'map', metric: 'pages_per_s', unit: 'pages/s', runs: [1] },
        ],
      },
      'x86_64',
      ['fault'],
    );
    expect(rows).toEqual([
      {
        workload: 'fault',
        layout: 'linux',
        arch: 'x86_64',
        metric: 'faults_per_s',
        unit: 'faults/s',
        median: 2,
        min: 1,
        max: 3,
        runs: [1, 3, 2],
        noisy: true,
      },
    ]);
  });

  it('escapes </script in inlined code', () => {
    expect(escapeScript('a</script>b</SCRIPT')).toBe('a<\\/script>b<\\/SCRIPT');
  });
});
