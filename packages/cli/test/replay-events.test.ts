import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodesPerLevel } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, ARCHS } from '../src/archs.ts';
import { runReplay } from '../src/commands/replay.ts';
import { OpEventRecorder, type OpEvents } from '../src/inspect/op-events.ts';
import { TraceSession } from '../src/inspect/session.ts';
import { DEFAULT_PLUGINS, pluginSpecs } from '../src/plugins.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const traces = join(root, 'packages/core/test/fixtures/traces');

function replay(name: string, opts: Record<string, unknown>): { out: string; err: string; status: number } {
  let out = '';
  let err = '';
  const status = runReplay(
    join(traces, `${name}.trace.jsonl`),
    { arch: 'x86_64', ...opts },
    (s) => {
      out += s;
    },
    { write: (s) => (err += s) },
  );
  return { out, err, status };
}

const sum = (rec: Record<string, number>): number => Object.values(rec).reduce((a, b) => a + b, 0);

describe('mmkit replay --events', () => {
  it.each(ARCH_NAMES)('accounts for every frame, node and flush of the samples on %s', (arch) => {
    for (const name of ['fork-0002', 'file-0001', 'mixed-0002']) {
      const s = TraceSession.open(join(traces, `${name}.trace.jsonl`), {
        arch: ARCHS[arch],
        plugins: pluginSpecs(DEFAULT_PLUGINS),
      });
      const k = s.replayer.kernel;
      const framesBefore = k.frames.usageByType();
      const nodesBefore = nodesPerLevel(k);
      const flushesBefore = k.tlb.nrFlushes;
      const rec = new OpEventRecorder(k);
      const all: OpEvents[] = [];
      while (!s.atEnd) {
        s.next();
        all.push(rec.take());
      }
      rec.detach();
      const after = k.frames.usageByType();
      for (const type of Object.keys(after)) {
        const delta = all.reduce(
          (n, e) => n + (e.framesAllocated[type] ?? 0) - (e.framesFreed[type] ?? 0),
          0,
        );
        expect(delta, `${name} ${type}`).toBe(after[type] - framesBefore[type]);
      }
      const nodesAfter = nodesPerLevel(k);
      for (let level = 1; level < nodesAfter.length; level++) {
        const key = `L${level}`;
        const delta = all.reduce((n, e) => n + (e.nodesCreated[key] ?? 0) - (e.nodesFreed[key] ?? 0), 0);
        expect(delta, `${name} ${key}`).toBe(nodesAfter[level] - nodesBefore[level]);
      }
      const flushes = all.reduce((n, e) => n + e.tlbFlushes.page + e.tlbFlushes.asid + e.tlbFlushes.all, 0);
      expect(flushes).toBe(k.tlb.nrFlushes - flushesBefore);
      expect(k.check()).toEqual([]);
      expect(k.events.listenerCount('fault')).toBe(0);
    }
  });

  it('prints the results unchanged, with the events of each op as JSON Lines', () => {
    const { out, status } = replay('fork-0002', { events: true, json: true, check: true });
    expect(status).toBe(0);
    const records = out
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    const expected = readFileSync(join(traces, 'fork-0002.expected.jsonl'), 'utf8').trimEnd().split('\n');
    expect(records.map((r) => JSON.stringify(r.result))).toEqual(expected);
    expect(records.map((r) => r.line)).toEqual(expected.map((_, i) => i + 1));
    // A result that is a signal is a fault the kernel could not handle, seen as such.
    for (const r of records) {
      const signalled = r.result.fault !== undefined;
      const bad = r.events.faults.some((f: { kind: string }) => f.kind === 'segv' || f.kind === 'bus');
      expect(bad, `line ${r.line}`).toBe(signalled);
    }
    expect(records.some((r) => r.events.cowBreaks.copied + r.events.cowBreaks.reclaimed > 0)).toBe(true);
    expect(records.some((r) => sum(r.events.nodesCreated) > 0)).toBe(true);
    expect(
      records.some((r) => r.events.tlbFlushes.page + r.events.tlbFlushes.asid + r.events.tlbFlushes.all > 0),
    ).toBe(true);
  });

  it('shows page-cache loads as text', () => {
    const { out } = replay('file-0001', { events: true });
    expect(out).toMatch(/^line 2: \{"op":"file"/m);
    expect(out).toMatch(/^ {2}-> /m);
    expect(out).toMatch(/^ {4}page cache loads: f\d\[\d+\]/m);
    expect(out).toMatch(/^ {4}fault: pid 0 (read|write) at 0x[0-9a-f]+: /m);
  });
});

describe('mmkit replay --until', () => {
  it.each(ARCH_NAMES)('stops at the line and prints the state on %s', (arch) => {
    const { out } = replay('fork-0002', { arch, until: '20', format: 'smaps' });
    const lines = out.trimEnd().split('\n');
    const expected = readFileSync(join(traces, 'fork-0002.expected.jsonl'), 'utf8').split('\n').slice(0, 20);
    expect(lines.slice(0, 20)).toEqual(expected);
    expect(lines[20]).toBe('== state after line 20 of 198, pid 0 (smaps) ==');
    expect(lines.filter((l) => l.startsWith('Rss:')).length).toBeGreaterThan(0);
  });

  it('gives the state as the last JSON line', () => {
    const { out } = replay('fork-0002', { until: '60', json: true });
    const lines = out.trimEnd().split('\n');
    expect(lines.length).toBe(61);
    const { state } = JSON.parse(lines[60]);
    expect(state.line).toBe(60);
    expect(state.violations).toEqual([]);
  });

  it('rejects a line past the end', () => {
    expect(() => replay('fork-0002', { until: '9999' })).toThrow(/--until 9999: .* has 198 lines/);
    expect(() => replay('fork-0002', { until: 'x' })).toThrow(/bad --until 'x'/);
  });
});
