import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKernel, mappingRuns, PROP_RW, PROP_USER, RSS_ANON, RSS_FILE } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, ARCHS, UsageError } from '../src/archs.ts';
import { inspectTrace } from '../src/commands/inspect.ts';
import { FileTable } from '../src/inspect/files.ts';
import { formatPageTable } from '../src/inspect/format.ts';
import { type PtNode, pageTableTree } from '../src/inspect/page-table.ts';
import { parseInspectFormat, renderInspect } from '../src/inspect/render.ts';
import { TraceSession } from '../src/inspect/session.ts';
import { totals, vmaViews } from '../src/inspect/vmas.ts';
import { DEFAULT_PLUGINS, pluginSpecs } from '../src/plugins.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const traces = join(root, 'packages/core/test/fixtures/traces');
const SAMPLES = ['anon-0001', 'fork-0002', 'file-0001', 'edge-0003', 'mixed-0002'];
const PAGE = 4096;

function session(name: string, arch: string): TraceSession {
  return TraceSession.open(join(traces, `${name}.trace.jsonl`), {
    arch: ARCHS[arch],
    plugins: pluginSpecs(DEFAULT_PLUGINS),
  });
}

function leaves(n: PtNode): { va: number; size: number; pfn: number; raw: string }[] {
  return n.entries.flatMap((e) =>
    e.child ? leaves(e.child) : [{ va: e.va, size: e.size!, pfn: e.pfn, raw: e.raw }],
  );
}

/**
 * Checks the views of every live process against facts of the model that do not go through
 * them: the present PTEs (core's `mappingRuns`), the RSS counters `check()` verifies, and
 * the frame counters.
 */
function checkViews(s: TraceSession): void {
  const { kernel, sys } = s.replayer;
  const files = new FileTable(kernel);
  const mappedFrames = new Set<number>();
  let pssSum = 0;
  for (const p of sys.procs.live) {
    const pt = p.vmar.space.pt;
    const runs = mappingRuns(pt, pt.lower, pt.upper);
    for (const r of runs) for (let i = 0; i < r.count; i++) mappedFrames.add(r.paddr / PAGE + i);
    const present = runs.reduce((n, r) => n + r.count * r.pageSize, 0);
    const vmas = vmaViews(kernel, p, files);
    const t = totals(vmas);
    expect(t.rss).toBe(present);
    expect(t.rss).toBe((p.vmar.rss[RSS_ANON] + p.vmar.rss[RSS_FILE]) * PAGE);
    for (const v of vmas) {
      expect(v.sharedClean + v.sharedDirty + v.privateClean + v.privateDirty).toBe(v.rss);
      expect(v.anonymous).toBeLessThanOrEqual(v.rss);
      expect(v.pss).toBeLessThanOrEqual(v.rss);
      // Private anonymous memory is all anonymous; shared anonymous memory never is.
      if (v.name === '' && v.perms.endsWith('p')) expect(v.anonymous).toBe(v.rss);
      if (v.name === '/dev/zero (deleted)') expect(v.anonymous).toBe(0);
    }
    pssSum += t.pss;
    // The page-table tree's leaves are exactly the present PTEs.
    const tree = pageTableTree(kernel, pt, pt.lower, pt.upper);
    const treeLeaves = leaves(tree);
    expect(treeLeaves.reduce((n, l) => n + l.size, 0)).toBe(present);
    const flat = runs.flatMap((r) => Array.from({ length: r.count }, (_, i) => r.va + i * r.pageSize));
    expect(treeLeaves.map((l) => l.va)).toEqual(flat);
  }
  // Pss shares out every mapped frame exactly once over the processes.
  expect(Math.abs(pssSum - mappedFrames.size * PAGE)).toBeLessThan(1e-6);
  expect(kernel.check()).toEqual([]);
}

describe('mmkit inspect: views agree with the model', () => {
  it.each(ARCH_NAMES)('on %s, after every 16th line and at the end of the samples', (arch) => {
    for (const name of SAMPLES) {
      const s = session(name, arch);
      while (!s.atEnd) {
        s.next();
        if (s.line % 16 === 0 || s.atEnd) checkViews(s);
      }
    }
  });

  it.each(ARCH_NAMES)('on %s, frames by type match the frame counters', (arch) => {
    const { session: s, state } = inspectTrace(join(traces, 'file-0002.trace.jsonl'), { arch });
    const usage = s.replayer.kernel.frames.usageByType();
    for (const t of state.frames.byType) expect(t.count).toBe(usage[t.type]);
    expect(state.frames.byType.reduce((n, t) => n + t.count, 0)).toBe(s.replayer.kernel.frames.nrInUse);
    expect(state.frames.pageCache.length).toBeGreaterThan(0);
    for (const f of state.frames.pageCache) expect(f.mappedPages).toBeLessThanOrEqual(f.cachedPages);
    expect(state.frames.map.length).toBeLessThanOrEqual(state.frames.nrFrames);
    expect([...state.frames.map].filter((c) => c === 'c').length).toBe(usage['page-cache']);
  });
});

describe("mmkit inspect: maps as Linux's", () => {
  /**
   * A trace's `maps` op gives Linux's page-level runs of the window; the VMAs inspect shows,
   * clipped to the window and with equal neighbours joined, must be exactly those runs.
   * (On riscv-sv39 the window is relocated, so the addresses differ: x86_64 and Sv48 only.)
   */
  it.each(['x86_64', 'riscv-sv48'])('on %s, every maps op of the samples', (arch) => {
    let compared = 0;
    for (const name of SAMPLES) {
      const s = session(name, arch);
      const expected = readFileSync(join(traces, `${name}.expected.jsonl`), 'utf8').split('\n');
      const { windowLo, windowHi } = s.replayer.header;
      const lo = Number(windowLo);
      const hi = Number(windowHi);
      while (!s.atEnd) {
        const text = s.lines[s.line];
        const op = JSON.parse(text);
        if (op.op === 'maps') {
          const p = s.replayer.sys.procs.require(op.pid ?? 0);
          const runs: [string, string, string][] = [];
          for (const v of vmaViews(s.replayer.kernel, p, new FileTable(s.replayer.kernel))) {
            const a = Math.max(v.start, lo);
            const b = Math.min(v.end, hi);
            if (a >= b) continue;
            const last = runs[runs.length - 1];
            if (last && Number(last[1]) === a && last[2] === v.perms) last[1] = `0x${b.toString(16)}`;
            else runs.push([`0x${a.toString(16)}`, `0x${b.toString(16)}`, v.perms]);
          }
          expect(JSON.stringify({ maps: runs })).toBe(expected[s.line]);
          compared++;
        }
        s.next();
      }
    }
    expect(compared).toBeGreaterThan(20);
  });

  it('prints the maps line byte for byte as /proc/PID/maps does', () => {
    const { session: s, state } = inspectTrace(join(traces, 'file-0001.trace.jsonl'), { arch: 'x86_64' });
    const lines = renderInspect('maps', s, state);
    expect(lines.length).toBe(state.vmas.length);
    for (const [i, l] of lines.entries()) {
      const v = state.vmas[i];
      expect(l.startsWith(`${v.start.toString(16)}-${v.end.toString(16)} ${v.perms} `)).toBe(true);
      if (v.name === '') expect(l.endsWith(' 00:00 0 ')).toBe(true);
      // The name starts at column 74, after the padding and one space.
      else expect(l.indexOf(v.name, 48)).toBe(74);
    }
    expect(lines.some((l) => / f\d$/.test(l))).toBe(true);
  });
});

describe('mmkit inspect: every format on every architecture', () => {
  it.each(ARCH_NAMES)('%s', (arch) => {
    const path = join(traces, 'fork-0002.trace.jsonl');
    for (const format of ['maps', 'smaps', 'pmap', 'pt', 'frames', 'json'] as const) {
      const { session: s, state } = inspectTrace(path, { arch, at: '40', format });
      expect(s.line).toBe(40);
      const out = renderInspect(parseInspectFormat(format), s, state);
      expect(out.length).toBeGreaterThan(0);
      if (format === 'smaps') expect(out.filter((l) => l.startsWith('Rss:')).length).toBe(state.vmas.length);
      if (format === 'pmap')
        expect(out[out.length - 1]).toMatch(new RegExp(`^total kB\\s+${state.totals.size / 1024}\\s`));
      if (format === 'pt') expect(out.some((l) => l.includes('legend:'))).toBe(true);
      if (format === 'json') {
        const j = JSON.parse(out[0]);
        expect(j.line).toBe(40);
        expect(j.vmas.length).toBe(state.vmas.length);
        expect(j.violations).toEqual([]);
      }
    }
  });
});

describe('mmkit inspect: the page-table view', () => {
  it.each(ARCH_NAMES)('marks huge pages and decodes raw PTEs on %s', (arch) => {
    const k = createKernel({ arch: ARCHS[arch], memory: 64 << 20 });
    const pt = k.newUserPageTable();
    const va = 2 ** 30;
    const c = pt.cursorMut(va, va + (2 << 20) + PAGE);
    c.mapPhys(512, 513, PROP_RW | PROP_USER);
    c.drop();
    const tree = pageTableTree(k, pt, va, va + (4 << 20));
    const l = leaves(tree);
    expect(l.map((x) => x.size)).toEqual([2 << 20, PAGE]);
    expect(l.map((x) => x.pfn)).toEqual([512, 1024]);
    const text = formatPageTable(tree, 0, { start: va, end: va + (4 << 20) }, k.consts, k.ctx.sizes);
    expect(text.filter((t) => t.includes('HUGE 2 MiB')).length).toBe(1);
    expect(text.some((t) => t.includes('untracked'))).toBe(true);
    // The raw words decode back to the frame numbers shown.
    for (const x of l) {
      const v = BigInt(`0x${x.raw}`);
      const lo = Number(v & 0xffffffffn);
      const hi = Number(v >> 32n);
      const level = x.size === PAGE ? 1 : 2;
      expect(k.arch.codec.pfn(lo, hi, level)).toBe(x.pfn);
    }
    // Cut to a range, only the entries translating it are shown.
    expect(leaves(pageTableTree(k, pt, va + (2 << 20), va + (2 << 20) + PAGE)).map((x) => x.size)).toEqual([
      PAGE,
    ]);
    k.destroyUserPageTable(pt);
    expect(k.check()).toEqual([]);
  });
});

describe('mmkit inspect: bad input', () => {
  const path = join(traces, 'anon-0001.trace.jsonl');
  const error = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    return 'no error';
  };
  it('names the problem', () => {
    expect(error(() => inspectTrace(path, { arch: 'x86_64', at: '0' }))).toMatch(/bad --at '0'/);
    expect(error(() => inspectTrace(path, { arch: 'x86_64', at: '99999' }))).toMatch(/has \d+ lines/);
    expect(error(() => inspectTrace(path, { arch: 'x86_64', pid: '7' }))).toMatch(/pid 7 is not live/);
    expect(error(() => inspectTrace(path, { arch: 'x86_64', pid: 'x' }))).toMatch(/bad --pid/);
    expect(error(() => inspectTrace(path, { arch: 'x86_64', range: '20-10' }))).toMatch(/bad range/);
    expect(error(() => parseInspectFormat('tree'))).toMatch(/unknown format 'tree'/);
    expect(error(() => inspectTrace('/nonexistent.jsonl', { arch: 'x86_64' }))).toMatch(/cannot read/);
  });
});
