import { execFile } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/archs.ts';
import { findCompiler } from '../src/bench/linux.ts';
import { buildRecorder, RECORD_EXIT, recordTrace, recordUnsupported } from '../src/commands/record.ts';
import { CLI_BUNDLE } from './support/cli-bundle.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/record/', import.meta.url));
const SAMPLES = readdirSync(fixtures)
  .filter((f) => f.endsWith('.trace.jsonl'))
  .map((f) => f.slice(0, -'.trace.jsonl'.length))
  .sort();
const V1 = '{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}';
const MMAP =
  '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x2000","prot":"rw-","flags":["private","anonymous","fixed"]}';

const unsupported = recordUnsupported() ?? (findCompiler() === null ? 'no C compiler (cc) found' : null);
if (unsupported !== null) console.warn(`record: skipping the recordings: ${unsupported}`);

describe('recordUnsupported', () => {
  it('refuses other systems and architectures by name', () => {
    expect(recordUnsupported('darwin', 'x64')).toBe('mmkit record runs traces on Linux; this is darwin');
    expect(recordUnsupported('linux', 'arm64')).toBe(
      'mmkit record records x86_64 behaviour; this machine is arm64',
    );
    expect(recordUnsupported('linux', 'x64')).toBeNull();
  });

  it('says that a C compiler is needed when none is found', () => {
    expect(() => buildRecorder(null, tmpdir())).toThrow(UsageError);
    expect(() => buildRecorder(null, tmpdir())).toThrow(
      /needs a C compiler .*\(tried \$CC, cc, gcc, clang\)/,
    );
  });
});

describe.skipIf(unsupported !== null)('mmkit record on this machine', () => {
  let cache = '';
  let filesDir = '';
  let exe = '';
  const scratch = mkdtempSync(join(tmpdir(), 'mmkit-record-'));

  beforeAll(() => {
    cache = mkdtempSync(join(tmpdir(), 'mmkit-record-cache-'));
    filesDir = mkdtempSync('/var/tmp/mmkit-record-files-');
    exe = buildRecorder(findCompiler(), cache);
  });

  afterAll(() => {
    for (const d of [cache, filesDir, scratch]) if (d) rmSync(d, { recursive: true, force: true });
  });

  function trace(lines: string[]): string {
    const path = join(scratch, `t${readdirSync(scratch).length}.trace.jsonl`);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  }

  it('builds once per source version: a second build reuses the cached program', () => {
    const before = statSync(exe).mtimeMs;
    expect(buildRecorder(findCompiler(), cache)).toBe(exe);
    expect(statSync(exe).mtimeMs).toBe(before);
    expect(readdirSync(cache)).toEqual([exe.slice(cache.length + 1)]);
  });

  it.for(SAMPLES)('reproduces %s byte for byte', async (name, ctx) => {
    const got = await recordTrace(exe, join(fixtures, `${name}.trace.jsonl`), { filesDir }, 'pipe');
    if (got.status === RECORD_EXIT.refused) ctx.skip(`refused here: ${got.stderr.trim()}`);
    const expected = readFileSync(join(fixtures, `${name}.expected.jsonl`), 'utf8');
    const messages = got.stderr.split('\n').filter((l) => l !== '');
    const errors = messages.filter((l) => !/: warning: /.test(l));
    // A warned-about difference from the reference machine (older kernel, files not on ext4)
    // may change results: then this machine cannot check the sample.
    if (got.stdout !== expected && messages.length > 0 && errors.length === 0)
      ctx.skip(`this machine differs from the reference: ${got.stderr.trim()}`);
    expect(errors).toEqual([]);
    expect(got.status).toBe(0);
    expect(got.stdout).toBe(expected);
  });

  it('leaves no file and no traced process behind', () => {
    expect(readdirSync(filesDir)).toEqual([]);
    const running = readdirSync('/proc').filter((pid) => {
      if (!/^\d+$/.test(pid)) return false;
      try {
        return readlinkSync(`/proc/${pid}/exe`) === exe;
      } catch {
        return false;
      }
    });
    expect(running).toEqual([]);
  });

  it('names the line of a malformed trace after printing the results before it (status 2)', async () => {
    const got = await recordTrace(exe, trace([V1, MMAP, '{"op":"mmap",']), {}, 'pipe');
    expect(got.status).toBe(RECORD_EXIT.malformed);
    expect(got.stdout).toBe('{"mmtrace":1}\n{"ret":"0x100000000000"}\n');
    expect(got.stderr).toMatch(/^mmkit record: .*t\d+\.trace\.jsonl: line 3: not valid JSON: /);
    const numbers = await recordTrace(exe, trace([V1, MMAP.replace('"0x2000"', '8192')]), {}, 'pipe');
    expect(numbers.status).toBe(RECORD_EXIT.malformed);
    expect(numbers.stderr).toMatch(/line 2: field "len" must be a string/);
    const both = await recordTrace(
      exe,
      trace([V1, MMAP.replace('"private"', '"private","shared"')]),
      {},
      'pipe',
    );
    expect(both.stderr).toMatch(/line 2: mmap needs exactly one of "private", "shared", "shared_validate"/);
  });

  it('reads \\u escapes as JSON does (a file name beyond the BMP too) and names a bad one', async () => {
    const plain = [
      V1,
      '{"op":"file","name":"f\u{1f600}","size":"0x2000"}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x2000","prot":"rw-","flags":["shared"],"file":"f\u{1f600}","offset":"0x0"}',
      '{"op":"write","pid":0,"addr":"0x100000000010","data":"0102"}',
      '{"op":"pread","name":"f\u{1f600}","offset":"0x10","len":"0x2"}',
    ];
    const escaped = [
      V1,
      '{"op":"\\u0066ile","name":"f\\ud83d\\ude00","size":"0x2000"}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x2000","prot":"rw-","flags":["\\u0073hared"],"file":"f\\uD83D\\uDE00","offset":"0x0"}',
      '{"op":"write","pid":0,"addr":"0x1\\u00300000000010","data":"0102"}',
      '{"op":"pread","name":"f\\ud83d\\ude00","offset":"0x10","len":"0x2"}',
    ];
    const want = await recordTrace(exe, trace(plain), { filesDir }, 'pipe');
    expect(want.status).toBe(0);
    expect(want.stdout.split('\n')).toContain('{"data":"0102"}');
    const got = await recordTrace(exe, trace(escaped), { filesDir }, 'pipe');
    expect(got.stderr).toBe('');
    expect(got.stdout).toBe(want.stdout);
    const bad: [string, RegExp][] = [
      ['"f\\ud83d"', /line 2: not valid JSON: a \\u escape is a high surrogate without its low half/],
      ['"f\\ude00"', /line 2: not valid JSON: a \\u escape is a lone low surrogate/],
      ['"f\\u0000"', /line 2: not valid JSON: \\u0000 in a string/],
      ['"f\\u00g0"', /line 2: not valid JSON: a \\u escape needs 4 hex digits/],
    ];
    for (const [name, message] of bad) {
      const r = await recordTrace(
        exe,
        trace([V1, `{"op":"file","name":${name},"size":"0x1000"}`]),
        {},
        'pipe',
      );
      expect(r.status, name).toBe(RECORD_EXIT.malformed);
      expect(r.stderr, name).toMatch(message);
    }
  });

  it('rejects v2 operations, flags and advice in a v1 trace', async () => {
    const cases: [string, RegExp][] = [
      ['{"op":"rss","pid":0}', /op "rss" needs an mmtrace 2 header/],
      [MMAP.replace('"fixed"', '"fixed","locked"'), /mmap flag "locked" needs an mmtrace 2 header/],
      [
        '{"op":"madvise","pid":0,"addr":"0x100000000000","len":"0x1000","advice":"free"}',
        /advice "free" needs an mmtrace 2 header/,
      ],
    ];
    for (const [line, message] of cases) {
      const got = await recordTrace(exe, trace([V1, line]), {}, 'pipe');
      expect(got.status).toBe(RECORD_EXIT.malformed);
      expect(got.stdout).toBe('{"mmtrace":1}\n');
      expect(got.stderr).toMatch(message);
    }
  });

  it('refuses an address outside the window (status 3) and an op on an exited process', async () => {
    const hint =
      '{"op":"mmap","pid":0,"addr":"0x200000000000","len":"0x1000","prot":"rw-","flags":["private","anonymous"]}';
    const outside = await recordTrace(exe, trace([V1, hint]), {}, 'pipe');
    expect(outside.status).toBe(RECORD_EXIT.outcome);
    expect(outside.stderr).toMatch(/line 2: mmap returned 0x200000000000, outside the trace's window/);
    const exited = ['{"op":"fork","pid":0}', '{"op":"exit","pid":1}', '{"op":"maps","pid":1}'];
    const gone = await recordTrace(exe, trace([V1, ...exited]), {}, 'pipe');
    expect(gone.status).toBe(RECORD_EXIT.malformed);
    expect(gone.stdout).toBe('{"mmtrace":1}\n{"ret":1}\n{"ret":0}\n');
    expect(gone.stderr).toMatch(/line 4: pid 1 has exited/);
  });

  it('reports an access past the end of a mapped file as SIGBUS, as the spec says', async () => {
    const lines = [
      '{"op":"file","name":"f","size":"0x1000"}',
      '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x3000","prot":"rw-","flags":["shared","fixed"],"file":"f","offset":"0x0"}',
      '{"op":"write","pid":0,"addr":"0x100000000010","data":"2a"}',
      '{"op":"read","pid":0,"addr":"0x100000002000","len":"0x1"}',
      '{"op":"pread","name":"f","offset":"0x10","len":"0x1"}',
    ];
    const got = await recordTrace(exe, trace([V1, ...lines]), { filesDir }, 'pipe');
    expect(got.status).toBe(0);
    expect(got.stdout).toBe(
      '{"mmtrace":1}\n{"ret":0}\n{"ret":"0x100000000000"}\n{"ret":0}\n{"fault":"SIGBUS"}\n{"data":"2a"}\n',
    );
  });

  it('refuses a trace made for another page size (status 4)', async () => {
    const got = await recordTrace(exe, trace([V1.replace('4096', '16384'), MMAP]), {}, 'pipe');
    expect(got.status).toBe(RECORD_EXIT.refused);
    expect(got.stdout).toBe('');
    expect(got.stderr).toMatch(/line 1: the trace is for 16384-byte pages; this machine has 4 KiB pages/);
  });

  it('runs from the command line: -o writes the results, errors are one line', async () => {
    const out = join(scratch, 'results.jsonl');
    const cli = [CLI_BUNDLE, 'record'];
    const env = { ...process.env, MMKIT_CACHE_DIR: cache };
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [...cli, ...args],
          { cwd: root, env, encoding: 'utf8' },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
        );
      });
    const ok = await run([join(fixtures, 'anon-0009.trace.jsonl'), '-o', out]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('');
    expect(ok.stderr.split('\n').filter((l) => l !== '' && !/^mmkit record: warning: /.test(l))).toEqual([]);
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(fixtures, 'anon-0009.expected.jsonl'), 'utf8'));
    const unwritable = await run([
      join(fixtures, 'anon-0009.trace.jsonl'),
      '-o',
      join(scratch, 'no/such/dir'),
    ]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr.trim()).toMatch(/^mmkit: cannot write .*no\/such\/dir: ENOENT$/);
  });
});
