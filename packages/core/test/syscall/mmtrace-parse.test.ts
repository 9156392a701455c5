import { MmError, parseHeader, parseOp, replayLines } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

const V1 = '{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}';
const V2 = '{"mmtrace":2,"page_size":4096,"window":["0x100000000000","0x100040000000"]}';

/** The `MalformedTrace` message of parsing `line` as line 2 of a trace with `header`, or `''`. */
function complaint(line: string, header = V2): string {
  try {
    parseOp(line, 2, parseHeader(header));
    return '';
  } catch (e) {
    expect(e).toBeInstanceOf(MmError);
    expect((e as MmError).code).toBe('MalformedTrace');
    return (e as MmError).message;
  }
}

const MMAP = (flags: string) =>
  `{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"rw-","flags":${flags}}`;

describe('mmtrace parser: input a careless user might give', () => {
  it('wants hex strings, not numbers, for 64-bit fields', () => {
    expect(complaint('{"op":"munmap","pid":0,"addr":17592186044416,"len":"0x1000"}')).toMatch(
      /line 2: field "addr": expected a lower-case 0x hex string, got 17592186044416/,
    );
    expect(complaint('{"op":"read","pid":0,"addr":"0x100000000000","len":1}')).toMatch(/field "len"/);
    expect(complaint('{"op":"munmap","pid":0,"addr":"0x100000000000","len":"0x1000"}')).toBe('');
  });

  it('reads 64-bit hex fields exactly at every length, and refuses what is not lower-case 0x hex', () => {
    const munmapLen = (len: string) => {
      const op = parseOp(
        `{"op":"munmap","pid":0,"addr":"0x100000000000","len":"${len}"}`,
        2,
        parseHeader(V2),
      );
      return op.op === 'munmap' ? op.len : undefined;
    };
    for (const v of ['0x0', '0x00001', '0xfffffffffffff', '0x10000000000000', '0xffffffffffffffff'])
      expect(munmapLen(v)).toBe(BigInt(v));
    expect(munmapLen('0x0000000000000000000001')).toBe(1n);
    for (const v of ['0x', '0X10', '0x1F', '0x1g', '10', 'x10', '0x-1', ' 0x1'])
      expect(complaint(`{"op":"munmap","pid":0,"addr":"0x100000000000","len":"${v}"}`)).toMatch(
        /field "len": expected a lower-case 0x hex string/,
      );
    expect(complaint('{"op":"munmap","pid":0,"addr":"0x100000000000","len":"0x10000000000000000"}')).toMatch(
      /does not fit 64 bits/,
    );
  });

  it('reads prot as three characters, each its letter or "-"', () => {
    const prot = (p: string) => {
      const op = parseOp(
        `{"op":"mprotect","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"${p}"}`,
        2,
        parseHeader(V2),
      );
      return op.op === 'mprotect' ? op.prot : undefined;
    };
    expect([prot('---'), prot('r--'), prot('-w-'), prot('--x'), prot('rwx')]).toEqual([0, 1, 2, 4, 7]);
    for (const p of ['rw', 'rwx-', 'wr-', 'R--', 'r-w', 'x--', ''])
      expect(
        complaint(`{"op":"mprotect","pid":0,"addr":"0x100000000000","len":"0x1000","prot":"${p}"}`),
      ).toMatch(/field "prot": expected three characters/);
  });

  it('wants exactly one sharing type, at most one fixed kind, and "anonymous" exactly without a file', () => {
    expect(complaint(MMAP('["private","shared","anonymous","fixed"]'))).toMatch(/exactly one of "private"/);
    expect(complaint(MMAP('["anonymous","fixed"]'))).toMatch(/exactly one of "private"/);
    expect(complaint(MMAP('["private","anonymous","fixed","fixed_noreplace"]'))).toMatch(
      /exclude each other/,
    );
    expect(complaint(MMAP('["private","fixed"]'))).toMatch(/"anonymous" is required/);
    expect(complaint(MMAP('["private","anonymous","fixed"]'))).toBe('');
    expect(complaint(MMAP('["shared_validate","anonymous","fixed"]'))).toBe('');
  });

  it('reads a flag given twice as given once, as Linux takes the bits (recorded there)', () => {
    expect(complaint(MMAP('["private","private","anonymous","anonymous","fixed"]'))).toBe('');
    expect(complaint(MMAP('["private","anonymous","fixed","locked","locked"]'))).toBe('');
    expect(complaint(MMAP('["shared","shared_validate","anonymous","fixed"]'))).toMatch(/exactly one of/);
    const at = (flags: string) => MMAP(flags).replace('"0x100000000000"', '"0x100000010000"');
    const out = [
      ...replayLines(
        [
          V2,
          MMAP('["private","private","anonymous","fixed","locked","locked"]'),
          at('["private","anonymous","fixed"]'),
          '{"op":"rss","pid":0}',
        ],
        { arch: ARCHS[0].arch },
      ),
    ];
    // What this machine's Linux recorded for these lines: the locked mapping is populated,
    // the other not (`mmkit record` of a longer trace: cli/test/fixtures/record/v2-dup-flags).
    expect(out).toEqual([
      '{"mmtrace":2}',
      '{"ret":"0x100000000000"}',
      '{"ret":"0x100000010000"}',
      '{"rss":{"anon":1,"file":0,"shmem":0}}',
    ]);
  });

  it("refuses loads, stores and mincore ranges outside the header's window", () => {
    expect(complaint('{"op":"read","pid":0,"addr":"0xfff000","len":"0x1"}')).toMatch(
      /outside the trace's window/,
    );
    expect(complaint('{"op":"write","pid":0,"addr":"0x100040000000","data":"2a"}')).toMatch(/outside/);
    expect(complaint('{"op":"mincore","pid":0,"addr":"0x10003ffff000","len":"0x2000"}')).toMatch(/outside/);
    // Absurd ranges (past any user address) are the kernel's to refuse.
    expect(complaint('{"op":"mincore","pid":0,"addr":"0x100000000000","len":"0x7ffffffffffff000"}')).toBe('');
    expect(complaint('{"op":"read","pid":0,"addr":"0x10003ffff000","len":"0x1000"}')).toBe('');
  });

  it('says where a line is not valid JSON and why, and names a blank line', () => {
    expect(complaint('{"op":"maps","pid":0')).toMatch(/line 2: not valid JSON: column \d+: .+/);
    expect(complaint('{"op":"maps",,"pid":0}')).toMatch(
      /not valid JSON: column 14: Expected double-quoted property name/,
    );
    expect(complaint('')).toMatch(/line 2: blank line/);
    expect(complaint('   ')).toMatch(/blank line/);
    const lines = [V1, '{"op":"maps","pid":0}', '', '{"op":"maps","pid":0}'];
    expect(() => [...replayLines(lines, { arch: ARCHS[0].arch, memory: 16 << 20 })]).toThrow(
      /line 3: blank line/,
    );
  });

  it('keeps v2 ops, flags and advice out of v1 traces', () => {
    expect(complaint('{"op":"rss","pid":0}', V1)).toMatch(/op "rss" needs an mmtrace v2 header/);
    expect(complaint(MMAP('["private","anonymous","fixed","locked"]'), V1)).toMatch(/flag "locked" needs/);
    expect(
      complaint('{"op":"madvise","pid":0,"addr":"0x100000000000","len":"0x1000","advice":"free"}', V1),
    ).toMatch(/"free" needs an mmtrace v2 header/);
    expect(
      complaint('{"op":"madvise","pid":0,"addr":"0x100000000000","len":"0x1000","advice":"bogus"}'),
    ).toMatch(/unknown advice "bogus"/);
    expect(
      complaint(
        '{"op":"mremap","pid":0,"addr":"0x100000000000","old_len":"0x1000","new_len":"0x1000","flags":["maymove","dontunmap"]}',
      ),
    ).toMatch(/"dontunmap" needs "new_addr"/);
    expect(complaint('{"op":"mlockall","pid":0,"flags":["current","sometimes"]}')).toMatch(/unknown flag/);
    expect(parseHeader(V2).version).toBe(2);
    expect(() => parseHeader('{"mmtrace":3,"page_size":4096,"window":["0x0","0x1000"]}')).toThrow(
      /not an mmtrace header/,
    );
  });
});
