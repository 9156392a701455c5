import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../src/archs.ts';
import { FileTable } from '../src/inspect/files.ts';
import { TraceSession } from '../src/inspect/session.ts';
import { totals, vmaViews } from '../src/inspect/vmas.ts';
import { DEFAULT_PLUGINS, pluginSpecs } from '../src/plugins.ts';

const traces = join(
  fileURLToPath(new URL('../../..', import.meta.url)),
  'packages/core/test/fixtures/traces',
);
/** The v2 samples that ask for `rss` at least once. */
const V2_SAMPLES = readdirSync(traces)
  .filter((f) => f.startsWith('v2-') && f.endsWith('.trace.jsonl'))
  .filter((f) => readFileSync(join(traces, f), 'utf8').includes('"op":"rss"'))
  .map((f) => f.slice(0, -'.trace.jsonl'.length))
  .sort();
const PAGE = 4096;

/**
 * `smaps` against Linux: at every `rss` op of the v2 samples, the process's smaps figures
 * (computed by the inspect views from the model's page tables, not from its RSS counters)
 * must give the counters Linux reported there: `Anonymous` summed over the mappings is
 * Linux's anon count, and the rest of `Rss` is its file plus shmem count.
 */
describe.each(['x86_64', 'riscv-sv48'])('smaps against the rss results Linux recorded, on %s', (arch) => {
  it.each(V2_SAMPLES)('%s', (name) => {
    const expected = readFileSync(join(traces, `${name}.expected.jsonl`), 'utf8')
      .trimEnd()
      .split('\n');
    const s = TraceSession.open(join(traces, `${name}.trace.jsonl`), {
      arch: ARCHS[arch],
      plugins: pluginSpecs(DEFAULT_PLUGINS),
    });
    let compared = 0;
    while (!s.atEnd) {
      const step = s.next();
      const op = JSON.parse(step.text) as { op: string; pid?: number };
      if (op.op !== 'rss') continue;
      const linux = (
        JSON.parse(expected[step.line - 1]) as { rss: { anon: number; file: number; shmem: number } }
      ).rss;
      const proc = s.replayer.sys.procs.require(op.pid ?? -1);
      // Linux sums the VMAs inside the trace's window (the heap and stack lie outside it).
      const lo = Number(s.replayer.header.windowLo);
      const hi = Number(s.replayer.header.windowHi);
      const inWindow = vmaViews(s.replayer.kernel, proc, new FileTable(s.replayer.kernel)).filter(
        (v) => v.start < hi && v.end > lo,
      );
      for (const v of inWindow) expect(v.start >= lo && v.end <= hi).toBe(true);
      const t = totals(inWindow);
      expect({
        line: step.line,
        anon: t.anonymous / PAGE,
        fileAndShmem: (t.rss - t.anonymous) / PAGE,
      }).toEqual({
        line: step.line,
        anon: linux.anon,
        fileAndShmem: linux.file + linux.shmem,
      });
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
  });
});
