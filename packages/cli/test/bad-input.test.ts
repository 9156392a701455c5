import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/archs.ts';
import { runReplay } from '../src/commands/replay.ts';
import { bootNotice } from '../src/commands/run.ts';
import { parsePluginList, pluginSpecs } from '../src/plugins.ts';
import { DEFAULT_CONFIG, loadConfig } from '../src/run/config.ts';
import { runWorkload } from '../src/run/run-workload.ts';
import { CLI_BUNDLE } from './support/cli-bundle.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(root, 'packages/cli/bin/mmkit.mjs');
const traces = join(root, 'packages/core/test/fixtures/traces');
const TRACE = join(traces, 'fork-0003.trace.jsonl');
const EXPECTED = join(traces, 'fork-0003.expected.jsonl');
const HEADER = '{"mmtrace":1,"page_size":4096,"window":["0x100000000000","0x100040000000"]}';
const MMAP =
  '{"op":"mmap","pid":0,"addr":"0x100000000000","len":"0x2000","prot":"rw-","flags":["private","anonymous","fixed"]}';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mmkit-bad-input-'));
}

/**
 * Runs the CLI in a process from `cwd` (another directory than the workspace by default):
 * from its prebuilt bundle, or (`entry`) from the `mmkit` bin.
 */
function mmkit(args: string[], cwd = tmpdir(), stdout: 'pipe' | number = 'pipe', entry = CLI_BUNDLE) {
  const r = spawnSync(process.execPath, [entry, ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', stdout, 'pipe'],
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function usageErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('the mmkit bin and its exit statuses', () => {
  it('runs from another directory than the workspace', () => {
    const r = mmkit(['replay', TRACE], tmpdir(), 'pipe', bin);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(readFileSync(EXPECTED, 'utf8'));
    expect(r.status).toBe(0);
  });

  it('exits 2 on every usage error, commander-detected or not, and documents the rule', () => {
    const unknown = mmkit(['run', '--bogus']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--bogus'/);
    expect(mmkit(['replay']).status).toBe(2);
    const empty = mmkit(['replay', TRACE, '--plugins', '']);
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(
      /^mmkit: --plugins: empty list \(write 'none' for no plugin, or some of cow, recycle, .*pagecache\)\n?$/,
    );
    const help = mmkit(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Exit status:\n {2}0 .*\n {2}1 .*replay --expect.*\n {2}2 {2}usage/);
  });

  it('reports a full output device in one line, status 2', () => {
    if (!existsSync('/dev/full')) return;
    const fd = openSync('/dev/full', 'w');
    try {
      for (const args of [['replay', TRACE], ['demo']]) {
        const r = mmkit(args, tmpdir(), fd);
        expect(r.status).toBe(2);
        expect(r.stderr).toBe('mmkit: cannot write the output: no space left on device (ENOSPC)\n');
      }
    } finally {
      closeSync(fd);
    }
  });

  it('ends quietly with 0 when the reader closes the pipe early', async () => {
    const dir = tempDir();
    const path = join(dir, 'long.trace.jsonl');
    writeFileSync(
      path,
      [HEADER, MMAP, ...Array.from({ length: 30_000 }, () => '{"op":"maps","pid":0}'), ''].join('\n'),
    );
    const child = spawn(process.execPath, [CLI_BUNDLE, 'replay', '--plugins', 'none', path], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    // Like `| head -1`: read the first chunk, then close the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const status = await new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });

  it('checks bench report paths before running any benchmark', () => {
    const dir = tempDir();
    for (const [option, path, reason] of [
      ['--html', join(dir, 'missing', 'r.html'), /cannot use the folder .*missing \(ENOENT\)/],
      ['--json', dir, /is a folder/],
    ] as const) {
      const r = mmkit(['bench', '--quick', option, path]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`mmkit: ${option} ${path}: `);
      expect(lines[0]).toMatch(reason);
    }
  });

  it('refuses a second --compare instead of keeping the last one', () => {
    const r = mmkit([
      'bench',
      '--quick',
      '--compare',
      'lock=hoh,subtree',
      '--compare',
      'memory=private,shared',
    ]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(
      "mmkit: --compare given twice ('lock=hoh,subtree', 'memory=private,shared'): compare one key, fix others with --with",
    );
  });

  it('turns running out of frames into a hint, status 2', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'k.json'), JSON.stringify({ memory: '64MiB' }));
    const r = mmkit(['run', '--config', 'k.json'], dir);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/the server workload at scale 1 ran out of physical memory with 64 MiB/);
    expect(r.stderr).toMatch(/give the kernel more memory \("memory" in the config, default 1 GiB\)/);
  });

  it('announces a long boot on stderr for a huge memory only', () => {
    expect(bootNotice({ ...DEFAULT_CONFIG })).toBeUndefined();
    expect(bootNotice({ ...DEFAULT_CONFIG, memory: 2 ** 40 })).toMatch(
      /^mmkit run: booting 1 TiB of memory \(268435456 frames with their metadata\)/,
    );
  });
});

describe('mmkit run configuration files', () => {
  it("takes a relative trace path and the page cache's folder from the config's folder", () => {
    const dir = tempDir();
    copyFileSync(join(traces, 'mixed-0001.trace.jsonl'), join(dir, 'mine.trace.jsonl'));
    const config = join(dir, 'k.json');
    writeFileSync(
      config,
      JSON.stringify({
        memory: '256MiB',
        workload: 'mine.trace.jsonl',
        plugins: ['cow', { name: 'pagecache', options: { store: { dir: 'store' } } }],
      }),
    );
    const c = loadConfig(config);
    expect(c.workload).toBe(join(dir, 'mine.trace.jsonl'));
    expect(c.plugins[1].options).toEqual({ store: { dir: join(dir, 'store') } });
    // Built-in workload names stay names.
    writeFileSync(config, JSON.stringify({ workload: 'allocator' }));
    expect(loadConfig(config).workload).toBe('allocator');
    const s = runWorkload({
      ...c,
      plugins: [
        { name: 'cow', options: {} },
        { name: 'pagecache', options: {} },
      ],
    });
    expect(s.check.ok).toBe(true);
    expect(s.afterExit.leaked).toBe(0);
  });

  it('validates the options of every plugin, in config files too', () => {
    expect(usageErrorOf(() => pluginSpecs(['cow'], { cow: { eager: true } }))).toBe(
      "cow options: unknown field 'eager' (cow takes no options)",
    );
    expect(usageErrorOf(() => pluginSpecs(['recycle'], { recycle: { x: 1 } }))).toMatch(
      /recycle options: unknown field 'x'/,
    );
    expect(pluginSpecs(['cow', 'recycle'], { cow: {}, recycle: {} }).map((p) => p.name)).toEqual([
      'cow',
      'recycle',
    ]);
    const dir = tempDir();
    writeFileSync(join(dir, 'k.json'), JSON.stringify({ plugins: [{ name: 'recycle', options: { y: 2 } }] }));
    expect(usageErrorOf(() => loadConfig(join(dir, 'k.json')))).toMatch(
      /k\.json: plugins\[0\]\.options: recycle options: unknown field 'y'/,
    );
  });

  it("refuses an empty --plugins list: 'none' says no plugin", () => {
    expect(parsePluginList('none')).toEqual([]);
    expect(parsePluginList(' cow , recycle ')).toEqual(['cow', 'recycle']);
    for (const text of ['', ' ', ',', ' , '])
      expect(usageErrorOf(() => parsePluginList(text))).toMatch(/empty list/);
  });
});

describe('mmkit replay --expect', () => {
  function replayExpect(trace: string, expected: string) {
    let out = '';
    const status = runReplay(
      trace,
      { arch: 'x86_64', expect: expected },
      (s) => {
        out += s;
      },
      { write: () => {} },
    );
    return { out, status };
  }

  it('says so on a match, status 0', () => {
    const r = replayExpect(TRACE, EXPECTED);
    expect(r.status).toBe(0);
    expect(r.out).toBe(`match: all 111 result lines equal ${EXPECTED}\n`);
  });

  it('shows the first differing line with both sides and the op, status 1', () => {
    const dir = tempDir();
    const lines = readFileSync(EXPECTED, 'utf8').split('\n');
    const ops = readFileSync(TRACE, 'utf8').split('\n');
    lines[6] = '{"err":"EINVAL"}';
    lines[9] = '{"err":"ENOMEM"}';
    const wrong = join(dir, 'wrong.expected.jsonl');
    writeFileSync(wrong, lines.join('\n'));
    const r = replayExpect(TRACE, wrong);
    expect(r.status).toBe(1);
    expect(r.out).toBe(
      [
        `difference at line 7 (the replay gave 111 lines, ${wrong} has 111):`,
        `  op:       ${ops[6]}`,
        '  expected: {"err":"EINVAL"}',
        `  got:      ${readFileSync(EXPECTED, 'utf8').split('\n')[6]}`,
        '',
      ].join('\n'),
    );
  });

  it('reports a result file that ends early or goes on, and one that cannot be read', () => {
    const dir = tempDir();
    const short = join(dir, 'short.jsonl');
    writeFileSync(short, `${readFileSync(EXPECTED, 'utf8').split('\n').slice(0, 3).join('\n')}\n`);
    const r = replayExpect(TRACE, short);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/^difference at line 4 \(the replay gave 111 lines, .* has 3\):/);
    expect(r.out).toMatch(/expected: \(none: .*short\.jsonl ends before it\)/);
    const long = join(dir, 'long.jsonl');
    writeFileSync(long, `${readFileSync(EXPECTED, 'utf8')}{"ret":"0x0"}\n`);
    const l = replayExpect(TRACE, long);
    expect(l.status).toBe(1);
    expect(l.out).toMatch(/^difference at line 112 .*\n {2}op: {7}\(none: the trace has no such line\)\n/);
    expect(l.out).toMatch(/got: {6}\(none: the replay ended before it\)/);
    expect(usageErrorOf(() => replayExpect(TRACE, join(dir, 'absent.jsonl')))).toMatch(
      /cannot read .*ENOENT/,
    );
  });

  it('exits 1 on a difference from the command line', () => {
    const dir = tempDir();
    const wrong = join(dir, 'wrong.jsonl');
    writeFileSync(wrong, readFileSync(EXPECTED, 'utf8').replace('{"mmtrace":1}', '{"mmtrace":2}'));
    const r = mmkit(['replay', TRACE, '--expect', wrong]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^difference at line 1 /);
    expect(mmkit(['replay', TRACE, '--expect', EXPECTED]).status).toBe(0);
  });
});
