import type { Command } from 'commander';
import { ARCH_NAMES, archByName, UsageError } from '../archs.ts';
import { INSPECT_FORMATS, parseInspectFormat, renderInspect } from '../inspect/render.ts';
import { parseLineNumber, TraceSession } from '../inspect/session.ts';
import { type InspectState, inspectState, parsePid, parseRange } from '../inspect/state.ts';
import { DEFAULT_PLUGINS, PLUGINS_OPTION_HELP, parsePluginList, pluginSpecs } from '../plugins.ts';

export interface InspectCommandOptions {
  arch: string;
  plugins?: string;
  at?: string;
  pid?: string;
  format?: string;
  range?: string;
}

/** Replays `path` up to `--at` (default: the end) and gathers the state of `--pid`. */
export function inspectTrace(
  path: string,
  opts: InspectCommandOptions,
): { session: TraceSession; state: InspectState } {
  const arch = archByName(opts.arch);
  const plugins = pluginSpecs(parsePluginList(opts.plugins ?? DEFAULT_PLUGINS.join(',')));
  const session = TraceSession.open(path, { arch, plugins });
  const at = opts.at === undefined ? session.nrLines : parseLineNumber(opts.at, '--at');
  let last = '{"mmtrace":1}';
  if (at > session.nrLines) throw new UsageError(`--at ${at}: ${path} has ${session.nrLines} lines`);
  while (session.line < at) last = session.next().result;
  const pid = parsePid(opts.pid);
  const range = opts.range === undefined ? undefined : parseRange(opts.range);
  return { session, state: inspectState(session, last, { pid, range }) };
}

/** `mmkit inspect TRACE [--at LINE] [--pid P] [--format F] [--range A-B]`. */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(
      "replay an mmtrace up to a line and show a process's memory as Linux tools do (maps, smaps, pmap -x), its page table, or the frames",
    )
    .argument('<trace>', 'trace file (mmtrace v1 or v2)')
    .option('--at <line>', 'stop after this line (1 = the header; default: the last line)')
    .option('--pid <pid>', 'process to show (default: the lowest live pid)')
    .option('--format <name>', `view: ${INSPECT_FORMATS.join(', ')}`, 'maps')
    .option('--range <A-B>', 'page-table view: only entries translating [A, B) (hex)')
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(', ')}`, 'x86_64')
    .option('--plugins <list>', PLUGINS_OPTION_HELP, DEFAULT_PLUGINS.join(','))
    .addHelpText(
      'after',
      `
Addresses are the model's: on riscv-sv39 the trace's window is relocated into the smaller
user address space (see 'mmkit replay'); elsewhere they are the trace's.

Examples:
  mmkit inspect t.trace.jsonl --format smaps          smaps of process 0 after the whole trace
  mmkit inspect t.trace.jsonl --at 12 --format pt     the page table after line 12
  mmkit inspect t.trace.jsonl --format pt --range 100000000000-100000010000
  mmkit inspect t.trace.jsonl --format json | jq .totals`,
    )
    .action((trace: string, opts: InspectCommandOptions) => {
      const format = parseInspectFormat(opts.format ?? 'maps');
      const { session, state } = inspectTrace(trace, opts);
      process.stdout.write(`${renderInspect(format, session, state).join('\n')}\n`);
    });
}
