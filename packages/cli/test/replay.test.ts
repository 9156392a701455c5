import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ARCH_NAMES, UsageError } from '../src/archs.ts';
import { runReplay } from '../src/commands/replay.ts';
import { CLI_BUNDLE } from './support/cli-bundle.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fixtures = join(root, 'packages/core/test/fixtures');
const HEADER = '{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}';
const MMAP =
  '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x2000","prot":"rw-","flags":["private","anonymous","fixed"]}';

function tempTrace(lines: string[]): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mmkit-replay-')), 't.trace.jsonl');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

function replay(
  path: string,
  arch = 'x86_64',
  isTTY = false,
  layout?: string,
  check = true,
): { out: string; err: string; status: number } {
  let out = '';
  let err = '';
  const status = runReplay(
    path,
    { arch, check, layout },
    (s) => {
      out += s;
    },
    { write: (s) => (err += s), isTTY },
  );
  return { out, err, status };
}

function errorOf(path: string): string {
  try {
    replay(path);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  return 'no error';
}

describe('mmkit replay', () => {
  it.each(ARCH_NAMES)('prints exactly the Linux-recorded results on %s, with --check', (arch) => {
    for (const name of ['traces/fork-0003', 'traces-nofile/edge-nofile-0002']) {
      const { out, err, status } = replay(join(fixtures, `${name}.trace.jsonl`), arch);
      expect(out).toBe(readFileSync(join(fixtures, `${name}.expected.jsonl`), 'utf8'));
      expect(err).toBe('');
      expect(status).toBe(0);
    }
  });

  /**
   * Per layout, the architecture whose replays also run `--check` (a full `kernel.check()`
   * of a 256 MiB kernel after every op): each layout and each architecture is checked op by
   * op once here (soa on every architecture above); every pair of them is checked in core's
   * `cursor-model` (after every op), `cow-copy` and `mremap-move` suites.
   */
  const CHECKED_ON: Record<string, string> = { soa: 'x86_64', aos: 'riscv-sv39', object: 'riscv-sv48' };

  it.each(['soa', 'aos', 'object'])('gives the Linux-recorded results with --layout %s', (layout) => {
    for (const name of ['traces/v2-0001', 'traces/mixed-0002', 'traces/fork-0003']) {
      for (const arch of ARCH_NAMES) {
        const check = arch === CHECKED_ON[layout];
        const { out, status } = replay(join(fixtures, `${name}.trace.jsonl`), arch, false, layout, check);
        expect(out).toBe(readFileSync(join(fixtures, `${name}.expected.jsonl`), 'utf8'));
        expect(status).toBe(0);
      }
    }
    expect(() => replay(join(fixtures, 'traces/fork-0003.trace.jsonl'), 'x86_64', false, 'columns')).toThrow(
      /--layout: unknown layout 'columns' \(known: soa, aos, object\)/,
    );
  });

  it('names the line and the problem of a malformed trace', () => {
    expect(errorOf(tempTrace([HEADER, MMAP, '{"op":"mmap",']))).toMatch(
      /t\.trace\.jsonl: line 3: not valid JSON: column 14: .+$/,
    );
    expect(errorOf(tempTrace([HEADER, '{"op":"mmapp","pid":0}']))).toMatch(/line 2: unknown op "mmapp"/);
    expect(errorOf(tempTrace([HEADER, '{"op":"munmap","pid":0,"addr":"0x10","len":"0xZZ"}']))).toMatch(
      /line 2: field "len": expected a lower-case 0x hex string/,
    );
    expect(errorOf(tempTrace([HEADER, MMAP, '{"op":"maps","pid":3}']))).toMatch(
      /line 3: pid 3 is not a live process/,
    );
    expect(
      errorOf(tempTrace([HEADER, '{"op":"write","pid":0,"addr":"0x100000000fff","data":"0102"}'])),
    ).toMatch(/line 2: write crosses a page boundary/);
    expect(errorOf(tempTrace([HEADER, '{"op":"fork","pid":0,"extra":1}']))).toMatch(
      /line 2: op "fork" has no field "extra"/,
    );
    expect(errorOf(tempTrace(['{"mmtrace":3}']))).toMatch(/line 1: not an mmtrace header/);
    expect(errorOf(join(fixtures, 'does-not-exist.jsonl'))).toMatch(/cannot read .*ENOENT/);
  });

  it('shows progress on stderr only when it is a terminal', () => {
    const path = tempTrace([HEADER, MMAP, ...Array.from({ length: 1200 }, () => '{"op":"maps","pid":0}')]);
    const quiet = replay(path, 'x86_64', false);
    expect(quiet.err).toBe('');
    expect(quiet.out.split('\n').length).toBe(1203); // 1202 lines and the last newline
    const tty = replay(path, 'x86_64', true);
    expect(tty.err).toMatch(/\rmmkit replay: 1000\/\d+ lines/);
    expect(tty.out).toBe(quiet.out);
  });

  it('runs from the command line: results on stdout, one error line on stderr, status 2', () => {
    const cli = [CLI_BUNDLE, 'replay'];
    const ok = execFileSync(
      process.execPath,
      [...cli, join(fixtures, 'traces/anon-0002.trace.jsonl'), '--arch', 'riscv-sv39'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    expect(ok).toBe(readFileSync(join(fixtures, 'traces/anon-0002.expected.jsonl'), 'utf8'));
    const bad = tempTrace([HEADER, MMAP, 'not json']);
    let failure = { status: 0, stdout: '', stderr: '' };
    try {
      execFileSync(process.execPath, [...cli, bad], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      failure = e as typeof failure;
    }
    expect(failure.status).toBe(2);
    expect(failure.stdout).toBe('{"mmtrace":1}\n{"ret":"0x100000000000"}\n');
    expect(failure.stderr.trim().split('\n')).toEqual([
      `mmkit: ${bad}: line 3: not valid JSON: column 2: Unexpected token 'o', "not json" is not valid JSON`,
    ]);
  });
});
