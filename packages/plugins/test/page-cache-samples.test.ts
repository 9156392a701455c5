import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PluginSpec, parseOp, Replayer } from '@mmkit/core';
import { cow, type PageCachePlugin, pageCache, pageTableRecycling } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../../core/test/support/configs.ts';

const DIRS = [
  join(import.meta.dirname, '..', '..', 'core', 'test', 'fixtures', 'traces'),
  join(import.meta.dirname, 'fixtures', 'page-cache'),
];

/** Every Linux-recorded trace (samples of every mode, and the page cache's own file traces). */
const TRACES = DIRS.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.trace.jsonl'))
    .map((f) => join(dir, f.slice(0, -'.trace.jsonl'.length))),
).sort();

/**
 * Where checking after every op teaches something: traces with file ops exercise the page
 * cache on every architecture; anonymous and fork traces (no page-cache work) are checked
 * op by op once, on x86_64 (their other architectures: at the end here, op by op in core's
 * replay and cursor-model suites).
 */
function checkEveryOp(archName: string, trace: string): boolean {
  return archName === 'x86_64' || !/^(anon|fork)-/.test(trace);
}

/** Plugin lists; `everyOp`: invariants are checked after every op where `checkEveryOp` says so, else once at the end. */
const COMBOS: { name: string; plugins: () => PluginSpec[]; everyOp: boolean }[] = [
  { name: 'pagecache', plugins: () => [pageCache()], everyOp: true },
  { name: 'pagecache+recycle', plugins: () => [pageCache(), pageTableRecycling()], everyOp: false },
];

/**
 * Replays a trace with `kernel.check()` (and the process table's checks) after every op
 * (`everyOp`) or at the end; then every process exits and every file is deleted, and only
 * the boot frames may remain.
 */
function replay(
  base: string,
  arch: (typeof ARCHS)[number]['arch'],
  plugins: PluginSpec[],
  everyOp: boolean,
): string[] {
  const lines = readFileSync(`${base}.trace.jsonl`, 'utf8').trimEnd().split('\n');
  const r = new Replayer(lines[0], { arch, memory: 32 << 20, plugins });
  const out = [r.headerResult()];
  for (let i = 1; i < lines.length; i++) {
    out.push(r.step(parseOp(lines[i], i + 1, r.header), i + 1));
    if (!everyOp && i < lines.length - 1) continue;
    const v = r.check();
    if (v.length > 0) throw new Error(`line ${i + 1}: ${v.map((x) => x.message).join('; ')}`);
  }
  for (const p of r.sys.procs.live) r.sys.exit(p.pid);
  r.kernel.plugins.get<PageCachePlugin>('pagecache')!.unlinkAll();
  expect(r.kernel.frames.nrInUse).toBe(r.kernel.nrBootFrames);
  expect(r.kernel.check()).toEqual([]);
  return out;
}

function expected(base: string): string[] {
  return readFileSync(`${base}.expected.jsonl`, 'utf8').trimEnd().split('\n');
}

describe.each(ARCHS)('replaying every sample mode with the page cache on $name', ({ name, arch }) => {
  for (const combo of COMBOS) {
    it.each(TRACES.map((b) => [b.split('/').pop()!, b]))(
      `%s gives Linux's results byte for byte (${combo.name}), invariants hold, no leak`,
      (trace, base) => {
        const everyOp = combo.everyOp && checkEveryOp(name, trace);
        expect(replay(base, arch, combo.plugins(), everyOp)).toEqual(expected(base));
      },
    );
  }
});

describe.each(ARCHS)('replaying the v2 samples with copy-on-write fork on $name', ({ arch }) => {
  it.each(TRACES.filter((b) => /\/v2-[^/]*$/.test(b)).map((b) => [b.split('/').pop()!, b]))(
    "%s gives Linux's results byte for byte (cow+pagecache), invariants hold, no leak",
    (_, base) => {
      expect(replay(base, arch, [cow(), pageCache()], false)).toEqual(expected(base));
    },
  );
});
