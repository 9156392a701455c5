import { readFileSync } from 'node:fs';
import { type Arch, LAYOUT_NAMES, MmError, type PluginSpec, replayLines, type Violation } from '@mmkit/core';
import type { Command } from 'commander';
import { ARCH_NAMES, archByName, UsageError } from '../archs.ts';
import { etaText } from '../eta.ts';
import { EXIT_FAILED, isOutputError } from '../exit.ts';
import { INSPECT_FORMATS, parseInspectFormat } from '../inspect/render.ts';
import { runReplaySteps } from '../inspect/replay-steps.ts';
import { parseLineNumber } from '../inspect/session.ts';
import { parsePid } from '../inspect/state.ts';
import { DEFAULT_PLUGINS, PLUGINS_OPTION_HELP, parsePluginList, pluginSpecs } from '../plugins.ts';
import { ResultComparison, readResultLines } from '../result-diff.ts';

/** Exit status when `--check` finds a violated invariant or `--expect` a different line. */
export const EXIT_VIOLATION = EXIT_FAILED;
/** Lines between two progress updates on a terminal. */
const PROGRESS_EVERY = 1000;

export interface ReplayCommandOptions {
  arch: string;
  /** Storage layout of every component family (`soa`, `aos`, `object`; default `soa`). */
  layout?: string;
  check?: boolean;
  /** Comma-separated plugin names (default: every plugin). */
  plugins?: string;
  /** A result file to compare with instead of printing the results. */
  expect?: string;
  /** Print what happened inside the kernel per op (`--events`). */
  events?: boolean;
  /** JSON Lines output (`--json`). */
  json?: boolean;
  /** Stop after this line and print the state (`--until`). */
  until?: string;
  /** The state's view and process after `--until`. */
  format?: string;
  pid?: string;
}

/**
 * Replays the trace at `path`, writing result lines to `out` and diagnostics to `err`.
 * Returns the exit status: 0, or `EXIT_VIOLATION` when `--check` stopped the replay or the
 * results differ from `--expect`'s file (then only the verdict is written to `out`). A
 * malformed trace (or another refusal of the engine, e.g. running out of frames) throws a
 * one-line `UsageError` naming the file and line; any other error is a bug, thrown with the
 * line as context (exit status 3). The results of the lines before it have been written by
 * then. A failed write to `out` is thrown as it is.
 */
export function runReplay(
  path: string,
  opts: ReplayCommandOptions,
  out: (chunk: string) => void,
  err: { write: (s: string) => void; isTTY?: boolean },
): number {
  const arch = archByName(opts.arch);
  const layout = opts.layout ?? 'soa';
  if (!(LAYOUT_NAMES as readonly string[]).includes(layout))
    throw new UsageError(`--layout: unknown layout '${layout}' (known: ${LAYOUT_NAMES.join(', ')})`);
  const plugins = pluginSpecs(parsePluginList(opts.plugins ?? DEFAULT_PLUGINS.join(',')));
  if (opts.events || opts.json || opts.until !== undefined) {
    if (opts.expect !== undefined)
      throw new UsageError(
        '--expect compares plain results: it cannot be combined with --events, --json or --until',
      );
    return runSteps(path, { ...opts, layout }, arch, plugins, out, err);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split('\n');
  const comparison =
    opts.expect !== undefined ? new ResultComparison(readResultLines(opts.expect), lines) : undefined;
  const write = comparison !== undefined ? (chunk: string) => comparison.add(chunk) : out;
  let status = 0;
  const onViolations = (line: number, v: Violation[]): void => {
    err.write(
      `mmkit replay: ${path}: line ${line}: invariant violated (${v.length}): [${v[0].kind}] ${v[0].message}\n`,
    );
    status = EXIT_VIOLATION;
  };
  const progress = err.isTTY === true;
  const started = performance.now();
  let buffered: string[] = [];
  let done = 0;
  try {
    for (const result of replayLines(lines, { arch, layout, plugins, check: opts.check, onViolations })) {
      buffered.push(result);
      if (++done % PROGRESS_EVERY === 0) {
        write(`${buffered.join('\n')}\n`);
        buffered = [];
        if (progress)
          err.write(`\rmmkit replay: ${done}/${lines.length} lines${etaText(started, done, lines.length)}`);
      }
    }
  } catch (e) {
    if (isOutputError(e)) throw e;
    // A malformed line names itself; anything else is reported with the line it broke on.
    if (e instanceof MmError && e.code === 'MalformedTrace')
      throw new UsageError(`${path}: ${e.message.slice(e.code.length + 2)}`);
    if (e instanceof MmError) throw new UsageError(`${path}: line ${done + 1}: ${e.message}`);
    throw new Error(`${path}: line ${done + 1}: ${(e as Error).message}`, { cause: e });
  } finally {
    if (buffered.length > 0) write(`${buffered.join('\n')}\n`);
    if (progress && done >= PROGRESS_EVERY) err.write('\n');
  }
  if (comparison !== undefined && opts.expect !== undefined) {
    out(comparison.report(opts.expect));
    if (!comparison.matches) status = EXIT_VIOLATION;
  }
  return status;
}

/** `--events`, `--json`, `--until`: the replay line by line with what happened inside (`runReplaySteps`). */
function runSteps(
  path: string,
  opts: ReplayCommandOptions,
  arch: Arch,
  plugins: PluginSpec[],
  out: (chunk: string) => void,
  err: { write: (s: string) => void },
): number {
  const pid = parsePid(opts.pid);
  const clean = runReplaySteps(
    path,
    {
      arch,
      plugins,
      layout: opts.layout,
      events: opts.events === true,
      json: opts.json === true,
      until: opts.until === undefined ? undefined : parseLineNumber(opts.until, '--until'),
      format: parseInspectFormat(opts.format ?? 'maps'),
      pid,
      check: opts.check,
      onViolations: (line, v) =>
        err.write(`mmkit replay: ${path}: line ${line}: invariant violated (${v.length}): ${v[0]}\n`),
    },
    out,
  );
  return clean ? 0 : EXIT_VIOLATION;
}

/**
 * `mmkit replay TRACE.jsonl [--arch NAME] [--check] [--plugins LIST] [--expect FILE]
 * [--events] [--json] [--until LINE]`.
 */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'Replay an mmtrace (JSON Lines) on a fresh kernel and print one result line per trace line, as Linux gives them',
    )
    .argument('<trace>', 'trace file (mmtrace v1 or v2)')
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(', ')}`, 'x86_64')
    .option('--layout <name>', `storage layout of every component family: ${LAYOUT_NAMES.join(', ')}`, 'soa')
    .option('--check', 'run kernel.check() after every op and stop at the first violation')
    .option('--plugins <list>', PLUGINS_OPTION_HELP, DEFAULT_PLUGINS.join(','))
    .option(
      '--expect <file>',
      "compare with a result file (e.g. Linux's) instead of printing: the first differing line with the op, exit 1",
    )
    .option(
      '--events',
      'after each result, what happened inside: faults, COW breaks, frames, nodes, TLB flushes, page cache',
    )
    .option('--json', 'one JSON object per line: {"line","op","result"} (and "events" with --events)')
    .option('--until <line>', 'stop after this line and print the state (as mmkit inspect)')
    .option('--format <name>', `the state's view after --until: ${INSPECT_FORMATS.join(', ')}`, 'maps')
    .option('--pid <pid>', 'the process shown after --until (default: the lowest live pid)')
    .action((trace: string, opts: ReplayCommandOptions) => {
      const status = runReplay(trace, opts, (s) => process.stdout.write(s), process.stderr);
      if (status !== 0) process.exitCode = status;
    });
}
