import { LOCK_PROTOCOLS, type LockProtocolName } from '@mmkit/core';
import type { Command } from 'commander';
import { UsageError } from '../archs.ts';
import { EXIT_FAILED } from '../exit.ts';
import { PLANTED_BUGS, type PlantedBug } from '../explore/cpu-protocol.ts';
import { type ExploreResult, explore } from '../explore/explorer.ts';
import { parsePositiveInt } from '../units.ts';

export interface ExploreCommandOptions {
  protocol?: string;
  cpus?: string;
  schedules?: string;
  seed?: string;
  ops?: string;
  recycle?: boolean;
  plant?: string;
  replay?: string;
  json?: boolean;
}

/** Parses a seed: an integer in 0 .. 2^32 - 1. */
function parseSeed(text: string, what: string): number {
  const n = Number(text);
  if (!(text.trim() !== '' && Number.isInteger(n) && n >= 0 && n < 2 ** 32))
    throw new UsageError(`bad ${what} '${text}': expected an integer from 0 to 4294967295`);
  return n;
}

/** The run's settings as the command line that reproduces them (with `--replay` added by the caller). */
function commandLine(
  protocol: string,
  cpus: number,
  ops: number,
  recycle: boolean,
  plant: string | null,
): string {
  return [
    `mmkit explore --protocol ${protocol} --cpus ${cpus}`,
    ops !== 4 ? ` --ops ${ops}` : '',
    recycle ? ' --recycle' : '',
    plant !== null ? ` --plant ${plant}` : '',
  ].join('');
}

/**
 * Runs `mmkit explore` and returns the exit status: 0 when every schedule was clean,
 * `EXIT_FAILED` when a violation was found (described on `out`). Bad options throw
 * `UsageError` (exit status 2).
 */
export async function runExplore(
  opts: ExploreCommandOptions,
  out: (text: string) => void,
  err: { write: (s: string) => void; isTTY?: boolean },
): Promise<number> {
  const protocol = opts.protocol ?? 'subtree';
  if (!(LOCK_PROTOCOLS as readonly string[]).includes(protocol))
    throw new UsageError(
      `--protocol: unknown lock protocol '${protocol}' (known: ${LOCK_PROTOCOLS.join(', ')})`,
    );
  const cpus = parsePositiveInt(opts.cpus ?? '3', '--cpus');
  if (cpus < 2 || cpus > 8) throw new UsageError(`bad --cpus '${opts.cpus}': expected 2 to 8`);
  const schedules = parsePositiveInt(opts.schedules ?? '200', '--schedules');
  const ops = parsePositiveInt(opts.ops ?? '4', '--ops');
  if (ops > 64) throw new UsageError(`bad --ops '${opts.ops}': expected 1 to 64`);
  const seed = parseSeed(opts.seed ?? '1', '--seed');
  const replay = opts.replay !== undefined ? parseSeed(opts.replay, '--replay') : undefined;
  const plant = opts.plant ?? null;
  if (plant !== null && !(PLANTED_BUGS as readonly string[]).includes(plant))
    throw new UsageError(`--plant: unknown bug '${plant}' (known: ${PLANTED_BUGS.join(', ')})`);
  const recycle = opts.recycle === true;
  const settings = `${protocol}, recycling ${recycle ? 'on' : 'off'}${plant !== null ? `, planted bug ${plant}` : ''}, ${cpus} CPUs x ${ops} operations`;
  let lastLine = 0;
  const result = await explore({
    protocol: protocol as LockProtocolName,
    recycle,
    cpus,
    schedules,
    seed,
    ops,
    plant: plant as PlantedBug | null,
    ...(replay !== undefined ? { replay } : {}),
    onProgress: (done, total, ms) => {
      const line = `explore: ${done}/${total} schedules, ${Math.round((done * 1000) / ms)}/s`;
      if (err.isTTY) err.write(`\r${line}`);
      else if (ms - lastLine >= 10_000) {
        lastLine = ms;
        err.write(`${line}\n`);
      }
    },
  });
  if (err.isTTY && result.elapsedMs >= 1000) err.write('\r\x1b[K');
  const again = commandLine(protocol, cpus, ops, recycle, plant);
  if (opts.json) {
    out(
      `${JSON.stringify({ protocol, recycle, plant, cpus, ops, seed, ...result, replayCommand: result.failure ? `${again} --replay ${result.failure.scheduleSeed}` : null })}\n`,
    );
  } else {
    out(describeResult(result, settings, again));
  }
  return result.failure === null ? 0 : EXIT_FAILED;
}

const hex = (va: number): string => `0x${va.toString(16)}`;

/** The human-readable report of a run. */
export function describeResult(result: ExploreResult, settings: string, again: string): string {
  const rate = result.elapsedMs > 0 ? (result.schedulesRun * 1000) / result.elapsedMs : 0;
  const stats = `${result.schedulesRun} schedule(s), ${result.switches} switches, ${(result.elapsedMs / 1000).toFixed(1)} s, ${rate.toFixed(1)} schedules/s`;
  const f = result.failure;
  if (f === null) return `explore: ${settings}: clean (${stats})\n`;
  const lines = [
    `explore: ${settings}: VIOLATION in ${f.scheduleIndex === null ? 'the replayed schedule' : `schedule ${f.scheduleIndex}`} (schedule seed ${f.scheduleSeed}, ${f.strategy}) after ${f.steps} switches (${stats})`,
    `  [${f.violation.kind}] ${f.violation.message}`,
    'programs:',
    ...f.programs.map((ops, cpu) => `  CPU ${cpu}: ${ops.join('; ')}`),
    `last ${f.trace.length} switches (the step each CPU was given, oldest first):`,
    ...f.trace.map(
      (s) =>
        `  #${s.step} CPU ${s.cpu} ${s.point}${s.point === 'start' || s.point === 'grace-wait' ? '' : ` node ${s.pfn}`}${s.va !== 0 ? ` at ${hex(s.va)}` : ''}  [op ${s.op}]`,
    ),
    'node locks held:',
    ...(f.locks.length > 0 ? f.locks.map((l) => `  ${l}`) : ['  none']),
    `replay: ${again} --replay ${f.scheduleSeed}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerExplore(program: Command): void {
  program
    .command('explore')
    .description('explore interleavings of simulated CPUs running page-table cursors under a lock protocol')
    .option('--protocol <name>', `lock protocol: ${LOCK_PROTOCOLS.join(', ')} (default subtree)`)
    .option('--cpus <k>', 'simulated CPUs, 2 to 8 (default 3)')
    .option('--schedules <n>', 'schedules to run (default 200)')
    .option('--seed <s>', 'seed of the run: schedule i gets a seed derived from it (default 1)')
    .option('--ops <n>', 'cursor operations per CPU per schedule (default 4)')
    .option('--recycle', 'install the recycle plugin: empty nodes are detached and freed')
    .option('--plant <bug>', `plant a protocol bug (fault injection): ${PLANTED_BUGS.join(', ')}`)
    .option('--replay <seed>', 'run only the schedule with this schedule seed (from a failure report)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Each simulated CPU is a worker thread running the kernel's real cursor code on one shared
page table, but only one runs at a time: at every switch point of the lock protocol (a node
lock taken or released, a PTE read on the way down, a PTE written, a node allocated or
freed) the CPU pauses and the scheduler picks who runs next. A schedule is the sequence of
those picks; it is drawn from its seed (half of them random walks, half PCT with random
priorities and 0 to 2 priority changes), so a seed replays it exactly.

Each CPU runs a short program of map/unmap/protect/query operations over 1 to 4 pages of an
8-page window across the 1 GiB boundary, so the CPUs share leaf and upper nodes and unmaps
empty them. At every switch the scheduler checks, with every CPU paused:
  nr_children  each reachable node counts its present PTEs exactly (and has one parent)
  stray        no reachable node is marked stray (or freed)
  lock owners  each locked node's owner is a CPU inside an operation, holding it as its
               protocol allows; a CPU about to write a PTE holds the node's lock and the
               node is where the walk from the root to that address leads
and at the end of a schedule kernel.check() and that no frame leaked. A CPU whose operation
throws (a lock-check failure in debug mode, a page that appeared under its cursor) fails too.

Planted bugs, to see the explorer catch a broken protocol:
  no-stray-check    subtree cursors skip the stray check after locking their guard node
  recycle-no-stray  the recycle plugin detaches empty nodes without marking them stray
  free-at-once      the recycle plugin frees a detached node at once, without the grace
                    period that waits for lock-free walkers
  link-before-lock  subtree cursors link a new node into its parent before locking it
All but link-before-lock need --protocol subtree --recycle to matter.

Examples:
  mmkit explore --protocol hoh --cpus 3 --schedules 500
  mmkit explore --protocol subtree --recycle --plant no-stray-check --seed 7
  mmkit explore --protocol subtree --recycle --plant no-stray-check --replay 3927589215

Exit status: 0 every schedule clean, 1 a violation was found, 2 bad options.`,
    )
    .action(async (opts: ExploreCommandOptions) => {
      const status = await runExplore(opts, (text) => process.stdout.write(text), process.stderr);
      if (status !== 0) process.exitCode = status;
    });
}
