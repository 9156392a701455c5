import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MmError, parseOp, Replayer, ScannedOp, scanLine } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

const NOFILE = join(import.meta.dirname, '..', 'fixtures', 'traces-nofile');
const TRACES = readdirSync(NOFILE)
  .filter((f) => f.endsWith('.trace.jsonl'))
  .sort()
  .map((f) => readFileSync(join(NOFILE, f), 'utf8').trimEnd().split('\n'));

/**
 * Replays `lines` on two replayers side by side, one executing every line as the `TraceOp`
 * `parseOp` gives (`step`), the other every line the scanner takes as scanned
 * (`stepScanned`); returns both result lists, the number of scanned lines, and the
 * replayers (to check).
 */
function sideBySide(lines: readonly string[], arch: (typeof ARCHS)[number]['arch']) {
  const viaOp = new Replayer(lines[0], { arch, memory: 32 << 20 });
  const viaScan = new Replayer(lines[0], { arch, memory: 32 << 20 });
  const scanned = new ScannedOp();
  const a: string[] = [];
  const b: string[] = [];
  let nrScanned = 0;
  for (let i = 1; i < lines.length; i++) {
    a.push(viaOp.step(parseOp(lines[i], i + 1, viaOp.header), i + 1));
    if (scanLine(lines[i], viaScan.header, scanned)) {
      nrScanned++;
      b.push(viaScan.stepScanned(scanned, i + 1));
    } else {
      b.push(viaScan.step(parseOp(lines[i], i + 1, viaScan.header), i + 1));
    }
  }
  return { a, b, nrScanned, viaOp, viaScan };
}

describe.each(ARCHS)('Replayer.stepScanned on $name', ({ arch }) => {
  it('gives the result line step gives, line by line, on every Linux-recorded trace without files', () => {
    let nrScanned = 0;
    for (const lines of TRACES) {
      const r = sideBySide(lines, arch);
      expect(r.b).toEqual(r.a);
      expect(r.viaScan.check()).toEqual([]);
      nrScanned += r.nrScanned;
    }
    // The traces' lines are nearly all as the recorder writes them: the scanned path ran.
    expect(nrScanned).toBeGreaterThan(1000);
  });

  it('agrees on 64-bit values past 2^53, addresses below the window and a break query', () => {
    const lines = [
      '{"mmtrace":2,"page_size":4096,"window":["0x100000000000","0x100040000000"]}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x7ffffffffffff000","prot":"rw-","flags":["private","anonymous"]}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x4000","prot":"rw-","flags":["private","anonymous","fixed"]}',
      '{"op":"munmap","pid":0,"addr":"0xfffffffffffff000","len":"0x1000"}',
      '{"op":"mprotect","pid":0,"addr":"0x100000001000","len":"0xfffffffffffff000","prot":"r--"}',
      '{"op":"mremap","pid":0,"addr":"0x100000000000","old_len":"0x1000","new_len":"0x2000","flags":["maymove"]}',
      '{"op":"mmap","pid":0,"addr":"0x10000","len":"0x1000","prot":"r--","flags":["private","anonymous","fixed"]}',
      '{"op":"write","pid":0,"addr":"0x100000003ff8","data":"0102030405060708"}',
      '{"op":"read","pid":0,"addr":"0x100000003ffc","len":"0x4"}',
      '{"op":"read","pid":0,"addr":"0x100000005000","len":"0x1"}',
      '{"op":"mincore","pid":0,"addr":"0x100000000000","len":"0x4000"}',
      '{"op":"brk","pid":0}',
      '{"op":"fork","pid":0}',
      '{"op":"maps","pid":1}',
      '{"op":"rss","pid":1}',
      '{"op":"exit","pid":1}',
    ];
    const r = sideBySide(lines, arch);
    expect(r.nrScanned).toBe(lines.length - 1);
    expect(r.b).toEqual(r.a);
    expect(r.b[0]).toBe('{"errno":"ENOMEM"}');
    expect(r.b[7]).toBe('{"data":"05060708"}');
    expect(r.viaScan.check()).toEqual([]);
  });

  it('rejects a scanned op on a pid that is not live, naming the line', () => {
    const r = new Replayer('{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}', {
      arch,
      memory: 16 << 20,
    });
    const s = new ScannedOp();
    expect(scanLine('{"op":"maps","pid":3}', r.header, s)).toBe(true);
    expect(() => r.stepScanned(s, 7)).toThrow(MmError);
    expect(() => r.stepScanned(s, 7)).toThrow(/line 7.*pid 3 is not a live process/);
  });
});
