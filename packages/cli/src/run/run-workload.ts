import { existsSync, readFileSync } from 'node:fs';
import { createKernel, type Kernel, LinuxSyscalls, MmError, parseOp, Replayer } from '@mmkit/core';
import { archByName, UsageError } from '../archs.ts';
import { pluginSpecs } from '../plugins.ts';
import type { RunConfig } from './config.ts';
import { RunStats } from './stats.ts';
import { type RunSummary, summarize, teardown } from './summary.ts';
import { ThreadedRun } from './threads.ts';
import { WORKLOAD_NAMES, WORKLOADS } from './workloads/index.ts';
import { seededRandom } from './workloads/workload.ts';

type Progress = (done: number, total: number) => void;

function pluginsOf(config: RunConfig) {
  const options = Object.fromEntries(config.plugins.map((p) => [p.name, p.options]));
  return pluginSpecs(
    config.plugins.map((p) => p.name),
    options,
  );
}

/**
 * Composes a kernel from `config`, runs its workload (a built-in one, or an mmtrace when
 * `workload` names an existing file) and returns the summary: a snapshot taken before the
 * processes are torn down, plus what remains after they all exit.
 */
export function runWorkload(config: RunConfig, progress: Progress = () => {}): RunSummary {
  const threadedNames = WORKLOAD_NAMES.filter((n) => WORKLOADS[n].threaded === true).join(', ');
  const threadOption =
    config.threads > 1 ? `threads ${config.threads}` : config.perVmaLocks ? 'perVmaLocks' : undefined;
  if (WORKLOADS[config.workload] === undefined && existsSync(config.workload)) {
    if (threadOption !== undefined)
      throw new UsageError(
        `${threadOption}: a trace replays its own processes on one thread each; this applies to the threaded workloads (${threadedNames})`,
      );
    return runTrace(config, progress);
  }
  const workload = WORKLOADS[config.workload];
  if (workload === undefined) {
    throw new UsageError(
      `unknown workload '${config.workload}' (built in: ${WORKLOAD_NAMES.join(', ')}; or the path of an mmtrace)`,
    );
  }
  if (threadOption !== undefined && workload.threaded !== true)
    throw new UsageError(
      `${threadOption}: workload '${workload.name}' runs single-threaded processes; this applies to the threaded workloads (${threadedNames})`,
    );
  const names = config.plugins.map((p) => p.name);
  for (const needed of workload.requires) {
    if (!names.includes(needed))
      throw new UsageError(`workload '${workload.name}' needs the '${needed}' plugin`);
  }
  const kernel = createKernel({
    arch: archByName(config.arch),
    memory: config.memory,
    layout: config.layout,
    plugins: pluginsOf(config),
  });
  const sys = new LinuxSyscalls(kernel);
  const stats = new RunStats();
  const threaded =
    workload.threaded === true
      ? new ThreadedRun(sys, config.seed, { perVmaLocks: config.perVmaLocks })
      : undefined;
  return timed(
    config,
    kernel,
    sys,
    stats,
    () => {
      workload.run({
        kernel,
        sys,
        random: seededRandom(config.seed),
        scale: config.scale,
        seed: config.seed,
        threads: config.threads,
        threaded,
        op: (kind) => stats.op(kind),
        progress,
      });
      // A threaded workload's operations are counted by its threads.
      for (const t of threaded?.summary().perThread ?? [])
        for (const [kind, n] of Object.entries(t.byKind)) stats.op(kind, n);
    },
    threaded,
  );
}

/** Replays an mmtrace on the configured kernel, counting its operations by name. */
function runTrace(config: RunConfig, progress: Progress): RunSummary {
  const lines = readFileSync(config.workload, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new UsageError(`${config.workload}: empty trace (no header)`);
  const stats = new RunStats();
  try {
    const replayer = new Replayer(lines[0], {
      arch: archByName(config.arch),
      memory: config.memory,
      layout: config.layout,
      plugins: pluginsOf(config),
    });
    return timed(config, replayer.kernel, replayer.sys, stats, () => {
      for (let i = 1; i < lines.length; i++) {
        const op = parseOp(lines[i], i + 1, replayer.header);
        replayer.step(op, i + 1);
        stats.op(op.op);
        if ((i & 1023) === 0) progress(i, lines.length - 1);
      }
      progress(lines.length - 1, lines.length - 1);
    });
  } catch (e) {
    if (e instanceof MmError && e.code === 'MalformedTrace') {
      throw new UsageError(`${config.workload}: ${e.message.slice(e.code.length + 2)}`);
    }
    throw e;
  }
}

function timed(
  config: RunConfig,
  kernel: Kernel,
  sys: LinuxSyscalls,
  stats: RunStats,
  body: () => void,
  threaded?: ThreadedRun,
): RunSummary {
  stats.attach(kernel);
  const start = performance.now();
  try {
    body();
  } finally {
    stats.detach();
  }
  const summary = summarize(config, kernel, sys, stats, (performance.now() - start) / 1000, threaded);
  teardown(summary, kernel, sys);
  return summary;
}
