import { MmError } from '@mmkit/core';
import { CommanderError } from 'commander';
import { UsageError } from './archs.ts';

/**
 * The exit statuses of every `mmkit` command, one rule for all of them (commander's own
 * errors included):
 * - 0: done, and every check passed;
 * - 1: a check failed or a result differs (an invariant `kernel.check()` found violated,
 *   leaked frames, `replay --expect` found a different line, a benchmark failed);
 * - 2: the command could not do its job as asked: a bad option or argument, an input that
 *   cannot be read or is malformed, an output that cannot be written, a kernel too small for
 *   the workload;
 * - 3: an internal error (a bug in mmkit): the only case that prints a stack trace.
 * A reader that closes the output early (`mmkit … | head`) ends the command quietly with 0.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERNAL = 3;

/** The rule above as `mmkit --help` prints it. */
export const EXIT_STATUS_HELP = `Exit status:
  0  done, every check passed
  1  a check failed or a result differs (kernel.check(), leaked frames, replay --expect, bench)
  2  usage: a bad option or argument, an unreadable or malformed input, an unwritable output
  3  internal error (a bug in mmkit; the stack trace is printed)`;

/** Error codes of a write that failed because of where the output goes, not because of mmkit. */
const OUTPUT_ERROR_CODES = new Set(['EPIPE', 'ENOSPC', 'EIO', 'EFBIG', 'EDQUOT', 'EBADF', 'EROFS', 'EACCES']);

/** Whether `e` is the failure of a write to an output (stdout, a report file). */
export function isOutputError(e: unknown): e is NodeJS.ErrnoException {
  const err = e as NodeJS.ErrnoException | null;
  return (
    err instanceof Error &&
    err.syscall === 'write' &&
    typeof err.code === 'string' &&
    OUTPUT_ERROR_CODES.has(err.code)
  );
}

/**
 * The one line to print and the status to exit with for an error that ended a command;
 * `undefined` as the line when nothing is to be printed (commander has printed its own).
 */
export function exitFor(e: unknown): { status: number; line?: string } {
  if (e instanceof CommanderError) return { status: e.exitCode === 0 ? EXIT_OK : EXIT_USAGE };
  if (e instanceof UsageError || e instanceof MmError)
    return { status: EXIT_USAGE, line: `mmkit: ${e.message}` };
  if (isOutputError(e)) {
    if (e.code === 'EPIPE') return { status: EXIT_OK };
    // Node's message reads `ENOSPC: no space left on device, write`: keep the reason only.
    const reason = e.message.replace(/^[A-Z]+: /, '').replace(/, write$/, '');
    return { status: EXIT_USAGE, line: `mmkit: cannot write the output: ${reason} (${e.code})` };
  }
  const cause = e instanceof Error && e.cause instanceof Error ? `\ncaused by: ${e.cause.stack}` : '';
  return {
    status: EXIT_INTERNAL,
    line: `mmkit: internal error: ${e instanceof Error ? e.stack : String(e)}${cause}`,
  };
}
