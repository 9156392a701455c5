import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, loadConfig, type RunConfig, validateConfig } from '../src/run/config.ts';
import { runWorkload } from '../src/run/run-workload.ts';
import { WORKLOAD_NAMES } from '../src/run/workloads/index.ts';
import { CLI_BUNDLE } from './support/cli-bundle.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const small = (over: Partial<RunConfig>): RunConfig => ({
  ...DEFAULT_CONFIG,
  memory: 256 << 20,
  scale: 0.05,
  ...over,
});

describe('mmkit run configuration', () => {
  it('accepts a full config and fills defaults', () => {
    const c = validateConfig(
      { arch: 'riscv-sv39', memory: '512MiB', plugins: ['recycle'], workload: 'allocator' },
      'k.json',
    );
    expect(c).toMatchObject({
      arch: 'riscv-sv39',
      memory: 512 << 20,
      layout: 'soa',
      workload: 'allocator',
      scale: 1,
    });
    expect(c.plugins).toEqual([{ name: 'recycle', options: {} }]);
    expect(validateConfig({}, 'k.json').plugins.map((p) => p.name)).toEqual(['cow', 'recycle', 'pagecache']);
  });

  it.each([
    [{ arch: 'mips' }, /k\.json: arch: expected one of x86_64/],
    [{ memory: 'lots' }, /k\.json: memory: bad size 'lots'/],
    [{ memory: -5 }, /k\.json: memory: expected a positive whole number/],
    [{ layout: 'soup' }, /k\.json: layout: expected one of soa/],
    [{ plugins: 'cow' }, /k\.json: plugins: expected an array/],
    [{ plugins: ['cow', 'zram'] }, /k\.json: plugins\[1\]: unknown plugin 'zram'/],
    [{ plugins: [{ name: 'pagecache', options: [] }] }, /plugins\[0\]\.options: expected an object/],
    [{ workload: 7 }, /k\.json: workload: expected a workload name/],
    [{ scale: 0 }, /k\.json: scale: expected a number in/],
    [{ color: 'blue' }, /k\.json: color: unknown field/],
    [[], /k\.json: \(top level\): expected a JSON object/],
  ])('rejects %j with an error naming the field', (raw, message) => {
    expect(() => validateConfig(raw, 'k.json')).toThrow(message);
  });

  it('reports unreadable and malformed files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmkit-run-'));
    expect(() => loadConfig(join(dir, 'missing.json'))).toThrow(/cannot read the configuration \(ENOENT\)/);
    writeFileSync(join(dir, 'bad.json'), '{"arch": ');
    expect(() => loadConfig(join(dir, 'bad.json'))).toThrow(/bad\.json: not valid JSON/);
  });
});

describe('mmkit run workloads', () => {
  it.each(WORKLOAD_NAMES)('%s runs clean on every architecture and leaks nothing', (workload) => {
    for (const arch of ['x86_64', 'riscv-sv39', 'riscv-sv48']) {
      const s = runWorkload(small({ workload, arch }));
      expect(s.check).toEqual({ ok: true, violations: [] });
      expect(s.afterExit.check.ok).toBe(true);
      expect(s.afterExit.leaked).toBe(0);
      expect(s.operations.total).toBeGreaterThan(100);
      expect(s.faults.total).toBeGreaterThan(0);
      expect(s.rssPages.length).toBeGreaterThan(0);
      // Every user access went through the TLB model; no path left a stale entry behind.
      expect(s.tlb.lookups).toBe(s.tlb.hits.l1 + s.tlb.hits.l2 + s.tlb.misses);
      expect(s.tlb.misses).toBeGreaterThan(0);
      expect(s.tlb.staleHits).toBe(0);
    }
  });

  it('shows copy-on-write at work in the server only with the cow plugin', () => {
    const withCow = runWorkload(small({ workload: 'server' }));
    const eager = runWorkload(small({ workload: 'server', plugins: [{ name: 'recycle', options: {} }] }));
    expect(withCow.cowBreaks.copied).toBeGreaterThan(0);
    expect(withCow.faults.byKind.cow).toBe(withCow.cowBreaks.copied);
    expect(eager.cowBreaks.copied).toBe(0);
    expect(eager.operations).toEqual(withCow.operations);
    expect(eager.framesByType.untyped).toBeGreaterThan(withCow.framesByType.untyped);
  });

  it('counts page-cache loads, removals and writebacks in the file server', () => {
    const s = runWorkload(small({ workload: 'file-server', scale: 0.1 }));
    expect(s.pageCache.loads).toBeGreaterThan(0);
    expect(s.pageCache.removals).toBeGreaterThan(0);
    expect(s.pageCache.writebacks).toBeGreaterThan(0);
    expect(s.tlb.shootdowns).toBeGreaterThan(0); // removals shoot mapped pages down
    expect(() => runWorkload(small({ workload: 'file-server', plugins: [] }))).toThrow(
      /needs the 'pagecache' plugin/,
    );
    expect(() => runWorkload(small({ workload: 'nope' }))).toThrow(/unknown workload 'nope'/);
  });

  it('runs from the command line with --json, and exits 2 on a bad config', () => {
    const cli = [CLI_BUNDLE, 'run'];
    const out = execFileSync(
      process.execPath,
      [...cli, '--json', '--workload', 'allocator', '--scale', '0.05'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    const summary = JSON.parse(out);
    expect(summary.workload).toBe('allocator');
    expect(summary.check.ok).toBe(true);
    expect(summary.tlb.modelled).toBe(true);
    expect(summary.tlb.lookups).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), 'mmkit-run-'));
    writeFileSync(join(dir, 'k.json'), JSON.stringify({ memory: '1 parsec' }));
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, [...cli, '--config', join(dir, 'k.json')], {
        cwd: root,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = (e as { stderr: string }).stderr;
    }
    expect(status).toBe(2);
    expect(stderr).toMatch(/k\.json: memory: bad size '1 parsec'/);
  });
});

describe('mmkit run with a trace', () => {
  const traces = fileURLToPath(new URL('../../core/test/fixtures/traces/', import.meta.url));

  it('replays an mmtrace as its workload and counts its operations', () => {
    const s = runWorkload(small({ workload: join(traces, 'mixed-0001.trace.jsonl'), arch: 'riscv-sv39' }));
    expect(s.check.ok).toBe(true);
    expect(s.afterExit.leaked).toBe(0);
    expect(s.operations.byKind.mmap).toBeGreaterThan(0);
    expect(s.operations.total).toBeGreaterThan(40);
  });

  it('names the line of a malformed trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmkit-run-'));
    const path = join(dir, 'bad.jsonl');
    writeFileSync(
      path,
      '{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}\n{"op":"mmap","pid":0}\n',
    );
    expect(() => runWorkload(small({ workload: path }))).toThrow(/bad\.jsonl: line 2/);
  });
});
