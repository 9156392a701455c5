import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { validateReport } from '../src/bench/reporters/json.ts';
import type { BenchReport } from '../src/bench/types.ts';
import { CLI_BUNDLE } from './support/cli-bundle.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const cli = [CLI_BUNDLE];
const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mmkit(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cli, ...args], { cwd: root, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('mmkit bench (end to end)', () => {
  it('runs a quick smoke run and writes JSON and HTML', { timeout: 60_000 }, async () => {
    const json = path.join(dir, 'r.json');
    const html = path.join(dir, 'r.html');
    const r = await mmkit([
      'bench',
      '--quick',
      '--size',
      '4MiB',
      '--workload',
      'map',
      '--workload',
      'memory',
      '--layout',
      'soa',
      '--layout',
      'aos',
      '--json',
      json,
      '--html',
      html,
    ]);
    expect(r.stderr).toMatch(/\[1\/4\] map soa x86_64/); // plain progress lines: stderr is not a TTY
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/map +x86_64 +pages_per_s/);
    expect(r.stdout).toMatch(/soa\/aos/);
    const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
    expect(validateReport(report)).toEqual([]);
    expect(report.conditions.sizeBytes).toBe(4 << 20);
    const map = report.results.filter((x) => x.workload === 'map' && x.unit !== 'ratio');
    expect(map.map((x) => x.layout)).toEqual(['soa', 'aos']);
    for (const x of map) {
      expect(x.runs).toHaveLength(2);
      expect(x.min).toBeLessThanOrEqual(x.median);
      expect(x.median).toBeLessThanOrEqual(x.max);
    }
    // The memory workload reports its metric for each layout (a heap measurement: its value
    // depends on the garbage collector, so only its presence and unit are asserted).
    const meta = report.results.filter((x) => x.metric === 'meta_bytes_per_frame' && x.unit !== 'ratio');
    expect(meta.map((x) => [x.layout, x.unit])).toEqual([
      ['soa', 'bytes/frame'],
      ['aos', 'bytes/frame'],
    ]);
    for (const x of report.results) expect(typeof x.noisy).toBe('boolean');
    // Interleaved runs, compared by their medians.
    const ratio = report.results.find((x) => x.workload === 'map' && x.layout === 'soa/aos');
    expect(ratio?.unit).toBe('ratio');
    expect(ratio?.median).toBeCloseTo(map[0].median / map[1].median, 9);
    expect(ratio?.noisy).toBe(map[0].noisy || map[1].noisy);
    expect(readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/);
  });

  it('rejects a bad size with a one-line message and status 2', async () => {
    const r = await mmkit(['bench', '--size', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/mmkit: bad size 'lots'/);
    expect(r.stderr).not.toMatch(/at .*\.ts:/);
  });
});
