import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerBench } from './commands/bench.ts';
import { registerDemo } from './commands/demo.ts';
import { registerExplore } from './commands/explore.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerReplay } from './commands/replay.ts';
import { registerRun } from './commands/run.ts';
import { registerUi } from './commands/ui.ts';
import { EXIT_STATUS_HELP, exitFor } from './exit.ts';

/** Ends the process as `exitFor` says: one line on stderr (if any) and the status. */
function exitWith(e: unknown): never {
  const { status, line } = exitFor(e);
  if (line !== undefined) process.stderr.write(`${line}\n`);
  process.exit(status);
}

// A write to stdout that fails later (a closed pipe, a full disk) ends the command the same way.
process.stdout.on('error', exitWith);

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const program = new Command();
program
  .name('mmkit')
  .version(`mmkit ${version}`, '-V, --version', 'print the version')
  .description(
    "A data-oriented model of an operating system's memory management, as Asterinas builds it: " +
      'frames with metadata slots, page tables walked by cursors under a lock protocol, address ' +
      'spaces with Linux-compatible syscalls, plugins, and benchmarks of data layouts.',
  )
  .addHelpText(
    'after',
    `
Examples:
  mmkit run                                  the default kernel (x86_64, 1 GiB, every plugin) on the server workload
  mmkit run --workload allocator --json      another workload; the summary as JSON
  mmkit run --config kernel.json             arch, memory, layout, plugins and workload from a file
  mmkit replay trace.jsonl --arch riscv-sv39 an mmtrace; one result line per trace line, as Linux gives them
  mmkit demo --arch x86_64                   page-table dumps after a mixed map/protect/unmap
  mmkit bench --quick --html report.html     layouts compared, with a self-contained HTML report
  mmkit inspect trace.jsonl --format smaps   a process's memory as /proc/PID/smaps shows it, after the trace
  mmkit replay trace.jsonl --events          per line, the faults, frames, nodes and flushes inside
  mmkit ui trace.jsonl -o page.html          a page that steps through the trace
  mmkit explore --protocol subtree --recycle interleavings of cursors on simulated CPUs, invariants at every switch

Run 'mmkit help <command>' for a command's options.

${EXIT_STATUS_HELP}`,
  )
  .showHelpAfterError()
  .exitOverride();

registerRun(program);
registerDemo(program);
registerBench(program);
registerReplay(program);
(await import('./commands/record.ts')).registerRecord(program);
registerInspect(program);
registerUi(program);
registerExplore(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  exitWith(e);
}
