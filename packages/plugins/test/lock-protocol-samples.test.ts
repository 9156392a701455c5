import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PluginSpec, parseOp, Replayer } from '@mmkit/core';
import {
  cow,
  lockGlobal,
  lockSubtree,
  type PageCachePlugin,
  pageCache,
  pageTableRecycling,
} from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../../core/test/support/configs.ts';

const DIR = join(import.meta.dirname, '..', '..', 'core', 'test', 'fixtures', 'traces');

/** Every Linux-recorded sample (all modes). */
const TRACES = readdirSync(DIR)
  .filter((f) => f.endsWith('.trace.jsonl'))
  .map((f) => join(DIR, f.slice(0, -'.trace.jsonl'.length)))
  .sort();

/** Every mechanism plugin with each lock protocol that replaces the default one. */
const COMBOS: { name: string; plugins: () => PluginSpec[] }[] = [
  {
    name: 'cow,recycle,pagecache,lock-subtree',
    plugins: () => [cow(), pageTableRecycling(), pageCache(), lockSubtree()],
  },
  {
    name: 'cow,recycle,pagecache,lock-global',
    plugins: () => [cow(), pageTableRecycling(), pageCache(), lockGlobal()],
  },
];

/** Replays a trace, checks every invariant at the end, then tears everything down: only boot frames remain. */
function replay(base: string, arch: (typeof ARCHS)[number]['arch'], plugins: PluginSpec[]): string[] {
  const lines = readFileSync(`${base}.trace.jsonl`, 'utf8').trimEnd().split('\n');
  const r = new Replayer(lines[0], { arch, memory: 32 << 20, plugins });
  const out = [r.headerResult()];
  for (let i = 1; i < lines.length; i++) out.push(r.step(parseOp(lines[i], i + 1, r.header), i + 1));
  expect(r.check()).toEqual([]);
  for (const p of r.sys.procs.live) r.sys.exit(p.pid);
  r.kernel.plugins.get<PageCachePlugin>('pagecache')!.unlinkAll();
  expect(r.kernel.frames.nrInUse).toBe(r.kernel.nrBootFrames);
  expect(r.kernel.check()).toEqual([]);
  return out;
}

function expected(base: string): string[] {
  return readFileSync(`${base}.expected.jsonl`, 'utf8').trimEnd().split('\n');
}

describe.each(ARCHS)('every sample with each lock protocol on $name', ({ arch }) => {
  for (const combo of COMBOS) {
    it(`gives Linux's results byte for byte (${combo.name}), invariants hold, no leak`, () => {
      expect(TRACES.length).toBeGreaterThanOrEqual(50);
      for (const base of TRACES) expect(replay(base, arch, combo.plugins()), base).toEqual(expected(base));
    });
  }
});
