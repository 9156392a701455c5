import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MmError, parseHeader, parseOp, type TraceContext, type TraceOp } from '@mmkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseOpJson } from '../../src/syscall/mmtrace/parse.ts';
import { ScannedOp, scanLine, scanLineBytes, scanOp } from '../../src/syscall/mmtrace/scan.ts';
import { EDGES } from './mmtrace-scan-edges.ts';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const V1 = parseHeader('{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}');
const V2 = parseHeader('{"mmtrace":2,"page_size":4096,"window":["0x100000000000","0x100040000000"]}');
const FILE_OPS = new Set(['file', 'pwrite', 'pread', 'evict']);

/** Every op line of every Linux-recorded fixture, with its trace's header. */
function fixtureLines(): { line: string; ctx: TraceContext }[] {
  const out: { line: string; ctx: TraceContext }[] = [];
  for (const dir of ['traces', 'traces-nofile']) {
    for (const f of readdirSync(join(FIXTURES, dir)).filter((n) => n.endsWith('.trace.jsonl'))) {
      const lines = readFileSync(join(FIXTURES, dir, f), 'utf8')
        .trimEnd()
        .split('\n');
      const ctx = parseHeader(lines[0]);
      for (const line of lines.slice(1)) out.push({ line, ctx });
    }
  }
  return out;
}

/** What the JSON path makes of a line: its op, or the error it throws. */
function viaJson(line: string, ctx: TraceContext): TraceOp | MmError {
  try {
    return parseOpJson(line, 2, ctx);
  } catch (e) {
    if (e instanceof MmError) return e;
    throw e;
  }
}

/** The scanner agrees with the JSON path: the same op where it answers, and no answer where the line is in error. */
function expectAgrees(line: string, ctx: TraceContext): boolean {
  const scanned = scanOp(line, ctx);
  if (scanned === null) return false;
  const json = viaJson(line, ctx);
  expect(json, line).not.toBeInstanceOf(MmError);
  expect(scanned, line).toStrictEqual(json);
  return true;
}

/** `parseOp`'s error for `line` (its message after the line number, a JSON syntax error up to its column), or null. */
function parseError(line: string, ctx: TraceContext): string | null {
  try {
    parseOp(line, 2, ctx);
    return null;
  } catch (e) {
    if (!(e instanceof MmError)) throw e;
    const message = e.message.replace(/^MalformedTrace: line 2: /, '');
    return /^not valid JSON: column \d+/.exec(message)?.[0] ?? message;
  }
}

describe('mmtrace line scanner (the fast path of parseOp)', () => {
  it('reads every recorded line but the file operations, each exactly as JSON.parse does', () => {
    const lines = fixtureLines();
    expect(lines.length).toBeGreaterThan(5000);
    let nrFileLines = 0;
    for (const { line, ctx } of lines) {
      const o = JSON.parse(line);
      const namesFile = FILE_OPS.has(o.op) || 'file' in o;
      if (namesFile) nrFileLines++;
      // File operations and file mappings are left to JSON.parse; the recorder writes every other line in the scanner's form.
      expect(expectAgrees(line, ctx), line).toBe(!namesFile);
    }
    expect(nrFileLines).toBeGreaterThan(0);
  });

  it('fills one reused ScannedOp per line with what JSON.parse gives, safe integers as numbers', () => {
    const scanned = new ScannedOp();
    let n = 0;
    for (const { line, ctx } of fixtureLines()) {
      if (!scanLine(line, ctx, scanned)) continue;
      n++;
      const op = viaJson(line, ctx);
      if (op instanceof MmError) throw op;
      // Every field the op has not must read 0 (or null, false): nothing is left from the line before.
      const expected: Record<string, unknown> = {
        op: op.op,
        pid: 0,
        addr: 0,
        len: 0,
        prot: 0,
        flags: 0,
        advice: 0,
        oldLen: 0,
        newLen: 0,
        newAddr: 0,
        offset: 0,
        delta: 0,
        hasDelta: op.op === 'brk' && op.delta !== null,
        data: null,
      };
      for (const [k, v] of Object.entries(op))
        if (k !== 'op' && k !== 'file' && v !== null)
          expected[k] = typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      expect({ ...scanned }, line).toStrictEqual(expected);
    }
    expect(n).toBeGreaterThan(5000);
    // 64-bit values past 2^53 stay bigints: the recorded absurd lengths.
    expect(
      scanLine('{"op":"munmap","pid":0,"addr":"0x100000000000","len":"0xfffffffffffff000"}', V1, scanned),
    ).toBe(true);
    expect(scanned.len).toBe(0xfffffffffffff000n);
    expect(scanLine('{"op":"munmap","pid":0,"addr":"0x1fffffffffffff","len":"0x1000"}', V1, scanned)).toBe(
      true,
    );
    expect(scanned.addr).toBe(2 ** 53 - 1);
  });

  it('scans a line in place in a buffer of lines, reading nothing past its end', () => {
    const lines = fixtureLines().filter((_, i) => i % 5 === 0);
    const text = `${lines.map((l) => l.line).join('\n')}\n`;
    const bytes = new TextEncoder().encode(text);
    const inPlace = new ScannedOp();
    const alone = new ScannedOp();
    let start = 0;
    for (const { line, ctx } of lines) {
      const end = bytes.indexOf(0x0a, start);
      const ok = scanLineBytes(bytes, start, end, ctx, inPlace);
      expect(ok, line).toBe(scanLine(line, ctx, alone));
      if (ok) expect(inPlace, line).toStrictEqual(alone);
      // The line cut short is not a line, even where the bytes after the cut would complete it.
      expect(scanLineBytes(bytes, start, end - 1, ctx, inPlace), line).toBe(false);
      start = end + 1;
    }
  });

  it('reads a recorded line with its fields in any other order to the same ScannedOp', () => {
    const asRecorded = new ScannedOp();
    const reordered = new ScannedOp();
    let n = 0;
    for (const { line, ctx } of fixtureLines().filter((_, i) => i % 3 === 0)) {
      const { op, ...fields } = JSON.parse(line);
      const keys = Object.keys(fields);
      if (keys.length < 2) continue;
      // `op` first, the other fields reversed: JSON.stringify writes values as the recorder does.
      const other = JSON.stringify(
        Object.fromEntries([['op', op], ...keys.reverse().map((k) => [k, fields[k]])]),
      );
      const taken = scanLine(line, ctx, asRecorded);
      expect(scanLine(other, ctx, reordered), other).toBe(taken);
      if (!taken) continue;
      n++;
      expect(reordered, other).toStrictEqual(asRecorded);
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('gives a TraceOp bytes of its own, which the next line scanned leaves alone', () => {
    const first = scanOp('{"op":"write","pid":0,"addr":"0x100000000000","data":"0102"}', V1);
    const second = scanOp('{"op":"write","pid":0,"addr":"0x100000000000","data":"ff"}', V1);
    expect(first).toStrictEqual({ op: 'write', pid: 0, addr: 0x100000000000n, data: Uint8Array.of(1, 2) });
    expect(second).toStrictEqual({ op: 'write', pid: 0, addr: 0x100000000000n, data: Uint8Array.of(0xff) });
  });

  it('takes or leaves each edge line as before: key orders, whitespace, escapes, 16 hex digits, unknown flags, duplicates, cuts, bad hex', () => {
    const out = new ScannedOp();
    const bytes = new TextEncoder();
    for (const [line, takes, v1Error = null, v2Error = v1Error] of EDGES) {
      const b = bytes.encode(line);
      const byV1 = scanLineBytes(b, 0, b.length, V1, out);
      const byV2 = scanLineBytes(b, 0, b.length, V2, out);
      expect([byV1, byV2], line).toStrictEqual([takes === 'v1', takes !== 'no']);
      if (byV2) expectAgrees(line, V2);
      if (byV1) expectAgrees(line, V1);
      expect([parseError(line, V1), parseError(line, V2)], line).toStrictEqual([v1Error, v2Error]);
    }
  });

  it('reads the window of a context made by hand at every line, and of a header once', () => {
    const line = '{"op":"read","pid":0,"addr":"0x100000001000","len":"0x4"}';
    const out = new ScannedOp();
    const ctx: TraceContext = {
      version: 1,
      pageSize: 4096,
      windowLo: 0x100000000000n,
      windowHi: 0x100040000000n,
    };
    expect(scanLine(line, ctx, out)).toBe(true);
    // The same object with another window: the scanner sees the new one (the JSON path then words the error).
    ctx.windowLo = 0x100000002000n;
    expect(scanLine(line, ctx, out)).toBe(false);
    expect(viaJson(line, ctx)).toBeInstanceOf(MmError);
    ctx.windowLo = 0x100000000000n;
    expect(scanLine(line, ctx, out)).toBe(true);
    // A parsed header cannot change.
    expect(Object.isFrozen(V1)).toBe(true);
    expect(scanLine(line, V1, out)).toBe(true);
  });

  it('leaves a line with a character outside ASCII to the JSON path', () => {
    for (const line of [
      '{"op":"munmap","pid":0,"addr":"0x100000000000","len":"0x1000","é":1}',
      '{"op":"madvise","pid":0,"addr":"0x100000000000","len":"0x1000","advice":"dontneedé"}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":["privateé","anonymous"]}',
    ]) {
      expect(scanOp(line, V1), line).toBeNull();
      expect(viaJson(line, V1), line).toBeInstanceOf(MmError);
    }
  });

  it('leaves every malformed or unusual line to the JSON path', () => {
    const cases = [
      '{"op":"munmap","pid":0,"addr":"0x100000000000","len":"0x1000"} ',
      '{"op":"munmap", "pid":0,"addr":"0x100000000000","len":"0x1000"}',
      '{"pid":0,"op":"munmap","addr":"0x100000000000","len":"0x1000"}',
      '{"op":"munmap","pid":0,"addr":"0x100000000000","addr":"0x100000001000","len":"0x1000"}',
      '{"op":"munmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-"}',
      '{"op":"munmap","pid":-1,"addr":"0x100000000000","len":"0x1000"}',
      '{"op":"munmap","pid":01,"addr":"0x100000000000","len":"0x1000"}',
      '{"op":"munmap","pid":1.5,"addr":"0x100000000000","len":"0x1000"}',
      '{"op":"munmap","pid":0,"addr":"0x10000000000A","len":"0x1000"}',
      '{"op":"munmap","pid":0,"addr":"0x00000100000000000","len":"0x1000"}',
      '{"op":"munmap","pid":0,"addr":"0x100000000000"}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":["private","shared","anonymous"]}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":["private"]}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":["private","anonymous","fixed","fixed_noreplace"]}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":["private","anonymous","populate"]}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":["private","anonymous"],"file":"f"}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rwz","flags":["private","anonymous"]}',
      '{"op":"madvise","pid":0,"addr":"0x100000000000","len":"0x1000","advice":"willneed"}',
      '{"op":"mremap","pid":0,"addr":"0x100000000000","old_len":"0x1000","new_len":"0x2000","flags":["maymove","dontunmap"]}',
      '{"op":"read","pid":0,"addr":"0x100000000ffe","len":"0x4"}',
      '{"op":"read","pid":0,"addr":"0x0fffffff0000","len":"0x4"}',
      '{"op":"read","pid":0,"addr":"0x10000000000000","len":"0x4"}',
      '{"op":"munmap","pid":0,"addr":"0x100000000000","len":"0x10000000000000000"}',
      '{"op":"write","pid":0,"addr":"0x100000000000","data":"abc"}',
      '{"op":"write","pid":0,"addr":"0x100000000000","data":"0A"}',
      '{"op":"write","pid":0,"addr":"0x100000000000","data":"\\u0030a"}',
      '{"op":"rss","pid":0}',
      '{"op":"mincore","pid":0,"addr":"0x100040000000","len":"0x1000"}',
      '{"op":"mlock","pid":0,"addr":"0x100000000000","len":"0x1000","flags":["current"]}',
    ];
    for (const line of cases) expect(scanOp(line, V1), line).toBeNull();
  });

  it('agrees with JSON.parse on recorded lines with random damage', () => {
    const lines = fixtureLines().filter((_, i) => i % 7 === 0);
    const damaged = fc
      .record({
        index: fc.nat(lines.length - 1),
        at: fc.nat(200),
        cut: fc.nat(3),
        insert: fc.constantFrom(
          '',
          ' ',
          '"',
          ',',
          '0',
          'f',
          'x',
          '-',
          '}',
          ']',
          '[',
          '\\',
          'private',
          '"pid":1',
        ),
        v1: fc.boolean(),
      })
      .map(({ index, at, cut, insert, v1 }) => {
        const line = lines[index].line;
        const i = Math.min(at, line.length);
        return { line: line.slice(0, i) + insert + line.slice(i + cut), ctx: v1 ? V1 : lines[index].ctx };
      });
    let scanned = 0;
    fc.assert(
      fc.property(damaged, ({ line, ctx }) => {
        if (expectAgrees(line, ctx)) scanned++;
      }),
      { numRuns: 3000 },
    );
    // Damage often leaves a valid line (a changed digit, the pid's field moved): the scanner reads some.
    expect(scanned).toBeGreaterThan(0);
  });

  it('reads what a v2 header allows and leaves it to JSON.parse under v1', () => {
    const line = '{"op":"madvise","pid":3,"addr":"0x100000000000","len":"0x1000","advice":"willneed"}';
    expect(scanOp(line, V1)).toBeNull();
    expect(expectAgrees(line, V2)).toBe(true);
    expect(viaJson(line, V1)).toBeInstanceOf(MmError);
  });
});
