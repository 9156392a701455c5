import { readFileSync } from 'node:fs';
import { type Arch, MmError, type PluginSpec, replayLines, type Violation } from '@mmkit/core';
import type { Command } from 'commander';
import { ARCH_NAMES, archByName, UsageError } from '../archs.ts';
import { etaText } from '../eta.ts';
import { INSPECT_FORMATS, parseInspectFormat } from '../inspect/render.ts';
import { runReplaySteps } from '../inspect/replay-steps.ts';
import { parseLineNumber } from '../inspect/session.ts';
import { parsePid } from '../inspect/state.ts';
import { PLUGIN_NAMES, PLUGINS_OPTION_HELP, parsePluginList, pluginSpecs } from '../plugins.ts';

/** Exit status when `--check` finds a violated invariant. */
export const EXIT_VIOLATION = 3;
/** Lines between two progress updates on a terminal. */
const PROGRESS_EVERY = 1000;

export interface ReplayCommandOptions {
  arch: string;
  check?: boolean;
  /** Comma-separated plugin names (default: every plugin). */
  plugins?: string;
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
 * Returns the exit status: 0, or `EXIT_VIOLATION` when `--check` stopped the replay. A
 * malformed trace (or an internal error) throws a one-line `UsageError` naming the file and
 * line; the results of the lines before it have been written by then.
 */
export function runReplay(
  path: string,
  opts: ReplayCommandOptions,
  out: (chunk: string) => void,
  err: { write: (s: string) => void; isTTY?: boolean },
): number {
  const arch = archByName(opts.arch);
  const plugins = pluginSpecs(parsePluginList(opts.plugins ?? PLUGIN_NAMES.join(',')));
  if (opts.events || opts.json || opts.until !== undefined)
    return runSteps(path, opts, arch, plugins, out, err);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const lines = text.split('\n');
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
    for (const result of replayLines(lines, { arch, plugins, check: opts.check, onViolations })) {
      buffered.push(result);
      if (++done % PROGRESS_EVERY === 0) {
        out(`${buffered.join('\n')}\n`);
        buffered = [];
        if (progress)
          err.write(`\rmmkit replay: ${done}/${lines.length} lines${etaText(started, done, lines.length)}`);
      }
    }
  } catch (e) {
    // A malformed line names itself; anything else is reported with the line it broke on.
    if (e instanceof MmError && e.code === 'MalformedTrace')
      throw new UsageError(`${path}: ${e.message.slice(e.code.length + 2)}`);
    throw new UsageError(`${path}: line ${done + 1}: internal error: ${(e as Error).message}`);
  } finally {
    if (buffered.length > 0) out(`${buffered.join('\n')}\n`);
    if (progress && done >= PROGRESS_EVERY) err.write('\n');
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

/** `mmkit replay TRACE.jsonl [--arch NAME] [--check] [--plugins LIST] [--events] [--json] [--until LINE]`. */
export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description(
      'Replay an mmtrace (JSON Lines) on a fresh kernel and print one result line per trace line, as Linux gives them',
    )
    .argument('<trace>', 'trace file (mmtrace v1)')
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(', ')}`, 'x86_64')
    .option('--check', 'run kernel.check() after every op and stop at the first violation')
    .option('--plugins <list>', PLUGINS_OPTION_HELP, PLUGIN_NAMES.join(','))
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
