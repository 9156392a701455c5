import type { Command } from 'commander';
import { ARCH_NAMES, archByName, UsageError } from '../archs.ts';
import { etaText } from '../eta.ts';
import { TraceSession } from '../inspect/session.ts';
import { DEFAULT_PLUGINS, PLUGINS_OPTION_HELP, parsePluginList, pluginSpecs } from '../plugins.ts';
import { writeUiPage } from '../ui/page.ts';
import { buildTimeline } from '../ui/timeline.ts';

/** Lines between two progress updates on a terminal. */
const PROGRESS_EVERY = 500;

export interface UiCommandOptions {
  arch: string;
  plugins?: string;
  output?: string;
}

/** Replays `trace` and writes the page; returns the number of lines it covers. Progress goes to `err` when it is a terminal. */
export function writeTraceUi(
  trace: string,
  opts: UiCommandOptions,
  err: { write: (s: string) => void; isTTY?: boolean } = { write: () => {} },
): number {
  if (opts.output === undefined || opts.output === '') throw new UsageError('ui: -o FILE.html is required');
  const arch = archByName(opts.arch);
  const plugins = pluginSpecs(parsePluginList(opts.plugins ?? DEFAULT_PLUGINS.join(',')));
  const started = performance.now();
  let shown = 0;
  const progress = (done: number, total: number): void => {
    if (err.isTTY !== true || done % PROGRESS_EVERY !== 0) return;
    err.write(`\rmmkit ui: ${done}/${total} lines${etaText(started, done, total)}`);
    shown = done;
  };
  const timeline = buildTimeline(TraceSession.open(trace, { arch, plugins }), progress);
  if (shown > 0) err.write('\n');
  try {
    writeUiPage(opts.output, timeline);
  } catch (e) {
    throw new UsageError(
      `cannot write ${opts.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return timeline.lines.length;
}

/** `mmkit ui TRACE -o page.html`. */
export function registerUi(program: Command): void {
  program
    .command('ui')
    .description(
      'write one self-contained HTML page that steps through an mmtrace (address space, page table, frames, charts)',
    )
    .argument('<trace>', 'trace file (mmtrace v1 or v2)')
    .requiredOption('-o, --output <file>', 'the HTML file to write')
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(', ')}`, 'x86_64')
    .option('--plugins <list>', PLUGINS_OPTION_HELP, DEFAULT_PLUGINS.join(','))
    .action((trace: string, opts: UiCommandOptions) => {
      const n = writeTraceUi(trace, opts, process.stderr);
      console.error(`mmkit ui: wrote ${opts.output} (${n} lines); open it in a browser`);
    });
}
