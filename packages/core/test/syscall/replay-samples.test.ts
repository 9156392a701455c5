import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eagerFork, type ForkStrategy, MmError, RSS_ANON, replayLines, type Violation } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

function traces(dir: string, prefix: RegExp): string[] {
  return readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.trace.jsonl') && prefix.test(f))
    .map((f) => join(FIXTURES, dir, f.slice(0, -'.trace.jsonl'.length)))
    .sort();
}

function replay(base: string, arch: (typeof ARCHS)[number]['arch'], check = false): string[] {
  const lines = readFileSync(`${base}.trace.jsonl`, 'utf8').split('\n');
  const violations: Violation[] = [];
  const out = [
    ...replayLines(lines, { arch, memory: 32 << 20, check, onViolations: (_, v) => violations.push(...v) }),
  ];
  expect(violations.map((v) => v.message)).toEqual([]);
  return out;
}

function expected(base: string): string[] {
  return readFileSync(`${base}.expected.jsonl`, 'utf8').trimEnd().split('\n');
}

/** Traces core must replay exactly as Linux recorded them. */
const EXACT = [...traces('traces', /^(anon|fork)-/), ...traces('traces-nofile', /./)];

describe.each(ARCHS)('replaying Linux-recorded traces on $name', ({ arch }) => {
  it.each(EXACT.map((b) => [b.split('/').pop()!, b]))('%s gives byte-identical results', (_, base) => {
    expect(replay(base, arch)).toEqual(expected(base));
  });

  it('keeps every invariant after every op of a fork trace, an edge trace and a v2 trace', () => {
    for (const base of [
      EXACT.find((b) => b.endsWith('fork-0002'))!,
      EXACT.find((b) => b.endsWith('edge-nofile-0003'))!,
      EXACT.find((b) => b.endsWith('v2-nofile-0201'))!,
    ]) {
      expect(replay(base, arch, true)).toEqual(expected(base));
    }
  });
});

describe('traces with file operations (the page-cache plugin)', () => {
  it.each(traces('traces', /^(edge|mixed|file|v2)-/).map((b) => [b.split('/').pop()!, b]))(
    '%s is rejected at its first file op, with the results before it',
    (_, base) => {
      const lines = readFileSync(`${base}.trace.jsonl`, 'utf8').split('\n');
      const first = lines.findIndex((l) => /"op":"(file|pwrite|pread|evict)"|"file":/.test(l));
      const out: string[] = [];
      let error: unknown;
      try {
        for (const r of replayLines(lines, { arch: ARCHS[0].arch, memory: 32 << 20 })) out.push(r);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(MmError);
      expect((error as MmError).code).toBe('MalformedTrace');
      expect((error as MmError).message).toContain(`line ${first + 1}:`);
      expect((error as MmError).message).toContain('page-cache plugin');
      expect(out).toEqual(expected(base).slice(0, first));
    },
  );
});

describe('replay with checks', () => {
  it('stops at the first op that breaks an invariant and reports its line', () => {
    // A fork strategy that miscounts the child's resident pages.
    const miscounting: ForkStrategy = {
      name: 'miscounting',
      fork(parent, child) {
        eagerFork.fork(parent, child);
        child.addRss(RSS_ANON, 1);
      },
    };
    const lines = [
      '{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":["private","anonymous","fixed"]}',
      '{"op":"fork","pid":0}',
      '{"op":"maps","pid":1}',
    ];
    const seen: [number, string][] = [];
    const out = [
      ...replayLines(lines, {
        arch: ARCHS[0].arch,
        memory: 16 << 20,
        forkStrategy: miscounting,
        check: true,
        onViolations: (line, v) => seen.push([line, v[0].kind]),
      }),
    ];
    expect(out).toEqual(['{"mmtrace":1}', '{"ret":"0x100000000000"}', '{"ret":1}']);
    expect(seen).toEqual([[3, 'vmar-rss']]);
  });
});
