import { LAYOUT_NAMES, MmError } from '@mmkit/core';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ARCH_NAMES, UsageError } from '../archs.ts';
import { PLUGINS_OPTION_HELP, parsePluginList, pluginSpecs } from '../plugins.ts';
import { applyFlags, type ConfigFlags, DEFAULT_CONFIG, loadConfig, type RunConfig } from '../run/config.ts';
import { runWorkload } from '../run/run-workload.ts';
import { formatSummary } from '../run/summary.ts';
import { WORKLOAD_NAMES, WORKLOADS } from '../run/workloads/index.ts';
import { formatBytes } from '../units.ts';

interface RunOptions extends ConfigFlags {
  perVmaLocks?: boolean;
  config?: string;
  plugins?: string;
  workload?: string;
  scale?: string;
  json?: boolean;
}

/** A progress bar on stderr when it is a terminal; nothing otherwise (stdout stays parseable). */
function progressBar(): { update: (done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new SingleBar({
    stream: process.stderr,
    format: 'running [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}',
    hideCursor: true,
  });
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Memory from which booting takes long enough (seconds) to be announced on stderr. */
export const LARGE_MEMORY = 2 ** 36;

/**
 * The stderr line announcing a long boot (building the metadata of every frame and the
 * linear mapping before the workload starts), or `undefined` for a memory that boots quickly.
 */
export function bootNotice(config: RunConfig): string | undefined {
  if (config.memory < LARGE_MEMORY) return undefined;
  return `mmkit run: booting ${formatBytes(config.memory)} of memory (${config.memory / 4096} frames with their metadata) before the workload starts; this takes a while\n`;
}

/** The usage error for a kernel that ran out of frames: which knob to turn. */
export function outOfFramesHint(config: RunConfig, e: MmError): UsageError {
  return new UsageError(
    `the ${config.workload} workload at scale ${config.scale} ran out of physical memory with ${formatBytes(config.memory)} ` +
      `(${e.message}): give the kernel more memory ("memory" in the config, default ${formatBytes(DEFAULT_CONFIG.memory)}) or a smaller scale (--scale, "scale" in the config)`,
  );
}

export function registerRun(program: Command): void {
  const list = Object.values(WORKLOADS)
    .map((w) => `  ${w.name.padEnd(10)} ${w.description}`)
    .join('\n');
  program
    .command('run')
    .description('compose a kernel from a config and run a workload; print a summary (the main job)')
    .option(
      '--config <file>',
      'kernel config (JSON): arch, memory, layout, plugins, workload, scale, seed, threads, perVmaLocks',
    )
    .option('--arch <name>', `architecture: ${ARCH_NAMES.join(', ')} (default: the config's, or x86_64)`)
    .option('--memory <size>', "physical memory, e.g. 512MiB, 2GiB (default: the config's, or 1 GiB)")
    .option(
      '--layout <name>',
      `frame metadata layout: ${LAYOUT_NAMES.join(', ')} (default: the config's, or soa)`,
    )
    .option('--seed <n>', "seed of the built-in workload's random choices (default: the config's, or 1)")
    .option(
      '--threads <n>',
      "threads of a threaded workload's process (arenas), 1 to 64; a seeded scheduler interleaves them (default: the config's, or 1)",
    )
    .option(
      '--workload <name>',
      `a built-in workload (${WORKLOAD_NAMES.join(', ')}) or the path of an mmtrace`,
    )
    .option(
      '--per-vma-locks',
      "a threaded workload's faults take per-VMA locks (Linux 6.4) instead of the mmap_lock where they can",
    )
    .option('--plugins <list>', `${PLUGINS_OPTION_HELP} (default: the config's, or all)`)
    .option('--scale <n>', 'size multiplier of the built-in workload (default 1)')
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `\nWith no options: x86_64, 1 GiB, soa layout, every plugin, the server workload. Flags override the config file's fields.\n\nWorkloads:\n${list}\n\nExample config:\n  {"arch": "riscv-sv39", "memory": "512MiB", "plugins": ["recycle"], "workload": "allocator"}`,
    )
    .action((opts: RunOptions) => {
      const config: RunConfig = applyFlags(
        opts.config !== undefined ? loadConfig(opts.config) : { ...DEFAULT_CONFIG },
        opts,
      );
      if (opts.workload !== undefined) config.workload = opts.workload;
      if (opts.perVmaLocks === true) config.perVmaLocks = true;
      if (opts.plugins !== undefined) {
        const names = parsePluginList(opts.plugins);
        pluginSpecs(names);
        config.plugins = names.map(
          (name) => config.plugins.find((p) => p.name === name) ?? { name, options: {} },
        );
      }
      if (opts.scale !== undefined) {
        const scale = Number(opts.scale);
        if (!(scale > 0 && scale <= 1024))
          throw new UsageError(`--scale: expected a number in (0, 1024], got '${opts.scale}'`);
        config.scale = scale;
      }
      const notice = bootNotice(config);
      if (notice !== undefined) process.stderr.write(notice);
      const bar = progressBar();
      let summary: ReturnType<typeof runWorkload>;
      try {
        summary = runWorkload(config, bar.update);
      } catch (e) {
        if (e instanceof MmError && e.code === 'OutOfFrames') throw outOfFramesHint(config, e);
        throw e;
      } finally {
        bar.stop();
      }
      console.log(opts.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
      if (!summary.check.ok || !summary.afterExit.check.ok || summary.afterExit.leaked !== 0)
        process.exitCode = 1;
    });
}
