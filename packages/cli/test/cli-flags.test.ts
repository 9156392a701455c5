import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, ARCHS, UsageError } from '../src/archs.ts';
import { runDemo } from '../src/commands/demo.ts';
import { etaText } from '../src/eta.ts';
import { applyFlags, DEFAULT_CONFIG } from '../src/run/config.ts';
import { runWorkload } from '../src/run/run-workload.ts';
import { formatSummary } from '../src/run/summary.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('mmkit run flags', () => {
  it.each(ARCH_NAMES)('--arch %s --memory --layout --seed override the config and run clean', (arch) => {
    const config = applyFlags(
      { ...DEFAULT_CONFIG, workload: 'allocator', scale: 0.05 },
      { arch, memory: '512MiB', layout: 'aos', seed: '7' },
    );
    expect(config).toMatchObject({ arch, memory: 512 << 20, layout: 'aos', seed: 7, workload: 'allocator' });
    const summary = runWorkload(config, () => {});
    expect(summary).toMatchObject({ arch, memoryBytes: 512 << 20, layout: 'aos' });
    expect(summary.check.ok).toBe(true);
    expect(summary.afterExit.leaked).toBe(0);
    expect(formatSummary(summary).split('\n')[0]).toContain(`on ${arch}, 512 MiB, layout aos`);
  });

  it('leaves the fields no flag names alone', () => {
    const base = { ...DEFAULT_CONFIG, arch: 'riscv-sv48', memory: 2 ** 31, seed: 9 };
    expect(applyFlags(base, { layout: 'object' })).toEqual({ ...base, layout: 'object' });
    expect(applyFlags(base, {})).toEqual(base);
  });

  it('rejects bad values with the field named', () => {
    const bad = (flags: Record<string, string>): string => {
      try {
        applyFlags(DEFAULT_CONFIG, flags);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(bad({ arch: 'mips' })).toMatch(/^command line: arch: expected one of x86_64/);
    expect(bad({ memory: 'lots' })).toMatch(/^command line: memory: bad size 'lots'/);
    expect(bad({ layout: 'columns' })).toMatch(/^command line: layout: expected one of soa, aos, object/);
    expect(bad({ seed: '1.5' })).toMatch(/^command line: seed: expected an integer/);
  });

  it('prints sizes human-sized', () => {
    const summary = runWorkload({ ...DEFAULT_CONFIG, workload: 'allocator', scale: 0.02 }, () => {});
    expect(formatSummary(summary).split('\n')[0]).toContain(', 1 GiB, layout soa');
  });
});

describe('mmkit --version and the demo legend', () => {
  it('prints the version of the package', () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', '--version'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out.trim()).toBe(`mmkit ${version}`);
  });

  it.each(ARCH_NAMES)('explains the levels and flag columns on %s', (name) => {
    const lines = runDemo(name, ARCHS[name]);
    const legend = lines.slice(lines.indexOf('legend:'));
    expect(legend.length).toBeGreaterThan(3);
    const levels = legend.find((l) => l.includes('page-table levels'))!;
    const nrLevels = name === 'riscv-sv39' ? 3 : 4;
    expect(levels).toContain(`L${nrLevels} the root`);
    expect(levels).toContain('L1 leaf nodes: an entry covers 4 KiB');
    expect(levels).toContain('L2 inner nodes: an entry covers 2 MiB, leaves of 2 MiB');
    expect(legend.some((l) => l.includes('u (user) g (global), a (accessed) d (dirty)'))).toBe(true);
    expect(lines[0]).toMatch(name === 'riscv-sv48' ? /leaves up to 1 GiB ==$/ : /leaves up to 2 MiB ==$/);
  });
});

describe('progress ETA', () => {
  /** Seconds an ETA text announces. */
  const seconds = (text: string): number => {
    const m = /^, ETA (?:(\d+) min )?(\d+) s {3}$/.exec(text);
    expect(m, text).not.toBeNull();
    return Number(m![1] ?? 0) * 60 + Number(m![2]);
  };

  it('extrapolates the rate so far, and says nothing during the first second', () => {
    expect(etaText(performance.now(), 5, 10)).toBe('');
    const started = performance.now() - 10_000;
    const half = seconds(etaText(started, 10, 20));
    const early = seconds(etaText(started, 1, 200));
    const elapsed = (performance.now() - started) / 1000;
    // Half done after `elapsed` seconds: as long again; 1 of 200 done: 199 times as long.
    expect(half).toBeGreaterThanOrEqual(10);
    expect(half).toBeLessThanOrEqual(Math.round(elapsed));
    expect(early).toBeGreaterThanOrEqual(1990);
    expect(early).toBeLessThanOrEqual(Math.round(elapsed * 199));
    expect(etaText(started, 1, 200)).toMatch(/^, ETA \d+ min \d+ s/);
    expect(etaText(started, 0, 20)).toBe('');
  });
});
