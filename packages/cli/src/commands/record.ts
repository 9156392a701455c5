import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { UsageError } from '../archs.ts';
import { findCompiler } from '../bench/linux.ts';

/**
 * `mmkit record`: runs an mmtrace on this machine's Linux kernel with the recorder in
 * `packages/cli/recorder/` (C, compiled with `cc -O2` on first use into a cache folder keyed
 * by the sources and the compiler, so an edited source is rebuilt) and prints Linux's result
 * lines. The recorder checks the machine and sets up the conditions the spec assumes; its
 * exit status is the command's: 0 done, 2 malformed trace, 3 an outcome mmtrace cannot
 * express (an address the kernel chose), 4 refused (the reason on stderr).
 */

/** Folder of the recorder's C sources. */
export const RECORDER_DIR = fileURLToPath(new URL('../../recorder/', import.meta.url));

/** Exit statuses of the recorder (and of `mmkit record`). */
export const RECORD_EXIT = { ok: 0, malformed: 2, outcome: 3, refused: 4 } as const;

/** Why this machine cannot record at all, or null. Finer checks (page size, THP) are the recorder's. */
export function recordUnsupported(
  platform: string = process.platform,
  arch: string = process.arch,
): string | null {
  if (platform !== 'linux') return `mmkit record runs traces on Linux; this is ${platform}`;
  if (arch !== 'x64') return `mmkit record records x86_64 behaviour; this machine is ${arch}`;
  return null;
}

/** The cache folder for the compiled recorder: `$MMKIT_CACHE_DIR`, `$XDG_CACHE_HOME/mmkit` or `~/.cache/mmkit`. */
export function cacheDir(): string {
  if (process.env.MMKIT_CACHE_DIR) return process.env.MMKIT_CACHE_DIR;
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'mmkit');
}

function recorderSources(): string[] {
  return readdirSync(RECORDER_DIR)
    .filter((f) => f.endsWith('.c') || f.endsWith('.h'))
    .sort();
}

/**
 * The path of the compiled recorder, compiling it first when the cache has no build of the
 * current sources with this compiler. `compiler` null means none was found: a `UsageError`
 * says so. Concurrent first uses are safe: each compiles to its own temporary name and
 * renames it into place.
 */
export function buildRecorder(compiler: string | null = findCompiler(), dir: string = cacheDir()): string {
  if (compiler === null)
    throw new UsageError('mmkit record needs a C compiler to build its recorder (tried $CC, cc, gcc, clang)');
  const sources = recorderSources();
  const hash = createHash('sha256');
  let version = '';
  try {
    version = execFileSync(compiler, ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    throw new UsageError(`the C compiler '${compiler}' does not run`);
  }
  hash.update(`${compiler}\n${version}\n`);
  for (const f of sources) hash.update(`${f}\n`).update(readFileSync(path.join(RECORDER_DIR, f)));
  const exe = path.join(dir, `mmrec-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(exe)) return exe;
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`cannot create the cache folder ${dir}: ${(e as NodeJS.ErrnoException).code}`);
  }
  const tmp = `${exe}.tmp-${process.pid}`;
  const cFiles = sources.filter((f) => f.endsWith('.c')).map((f) => path.join(RECORDER_DIR, f));
  try {
    execFileSync(compiler, ['-O2', '-Wall', '-Wextra', '-o', tmp, ...cFiles], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(tmp, exe);
  } catch (e) {
    rmSync(tmp, { force: true });
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new UsageError(`cannot compile the recorder with ${compiler}: ${stderr || (e as Error).message}`);
  }
  return exe;
}

export interface RecordOptions {
  /** Folder whose filesystem holds the trace's (unnamed) files; the recorder's default is /var/tmp. */
  filesDir?: string;
}

export interface RecordOutcome {
  /** The recorder's exit status (`RECORD_EXIT`). */
  status: number;
  /** Result lines, when `output` was 'pipe'. */
  stdout: string;
  /** The recorder's messages, each line prefixed `mmkit record: ` instead of its own name. */
  stderr: string;
}

/**
 * Records the trace at `trace` (`-`: this process's stdin) with the recorder at `exe`. Results go to the descriptor
 * `output` (they stream there as the trace runs), or are collected when it is 'pipe'.
 */
export function recordTrace(
  exe: string,
  trace: string,
  opts: RecordOptions,
  output: number | 'pipe',
): Promise<RecordOutcome> {
  const args = opts.filesDir ? ['-d', opts.filesDir, trace] : [trace];
  return new Promise((resolve, reject) => {
    const child = spawn(exe, args, { stdio: [trace === '-' ? 'inherit' : 'ignore', output, 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
    });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', (e) => reject(new UsageError(`cannot run the recorder ${exe}: ${e.message}`)));
    child.on('close', (code, signal) => {
      // The reader of the results went away (`mmkit record T | head`): a quiet end, as for every command.
      if (signal === 'SIGPIPE') code = 0;
      else if (signal) stderr += `mmrec: stopped by ${signal}\n`;
      resolve({ status: code ?? 2, stdout, stderr: stderr.replace(/^mmrec: /gm, 'mmkit record: ') });
    });
  });
}

/**
 * `mmkit record TRACE [-o FILE]` without commander: checks the machine and the paths before
 * building anything, then records. Returns the exit status; messages go to `err`.
 */
export async function runRecord(
  trace: string,
  opts: RecordOptions & { output?: string },
  err: { write: (s: string) => void },
): Promise<number> {
  const unsupported = recordUnsupported();
  if (unsupported !== null) {
    err.write(`mmkit record: ${unsupported}\n`);
    return RECORD_EXIT.refused;
  }
  try {
    if (trace !== '-') accessSync(trace, constants.R_OK);
  } catch (e) {
    throw new UsageError(`cannot read ${trace}: ${(e as NodeJS.ErrnoException).code}`);
  }
  let fd = 1;
  if (opts.output !== undefined) {
    try {
      fd = openSync(opts.output, 'w');
    } catch (e) {
      throw new UsageError(`cannot write ${opts.output}: ${(e as NodeJS.ErrnoException).code}`);
    }
  }
  try {
    const exe = buildRecorder();
    const outcome = await recordTrace(exe, trace, opts, fd);
    err.write(outcome.stderr);
    return outcome.status;
  } finally {
    if (fd !== 1) closeSync(fd);
  }
}

/** Registers `mmkit record TRACE [-o FILE] [--files-dir DIR]`. */
export function registerRecord(program: Command): void {
  program
    .command('record')
    .description(
      "Run an mmtrace (v1 or v2) on this machine's Linux kernel and print Linux's result lines (Linux x86_64, 4 KiB pages)",
    )
    .argument('<trace>', 'trace file (mmtrace v1 or v2); - reads stdin')
    .option('-o, --output <file>', 'write the results to a file instead of stdout')
    .option(
      '--files-dir <dir>',
      "folder on whose filesystem the trace's files live (default /var/tmp, ext4 expected)",
    )
    .addHelpText(
      'after',
      `
The recorder (packages/cli/recorder/*.c) is compiled with cc on first use into ${cacheDir()}.
Exit status: 0 done; 2 malformed trace (the line is named); 3 an outcome mmtrace cannot
express (the kernel chose an address outside the window); 4 this machine cannot record
(not Linux x86_64 with 4 KiB pages, or v2 conditions not met: the reason is printed).`,
    )
    .action(async (trace: string, opts: { output?: string; filesDir?: string }) => {
      const status = await runRecord(trace, opts, process.stderr);
      if (status !== 0) process.exitCode = status;
    });
}
