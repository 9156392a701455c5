import { createKernel, LinuxSyscalls } from '@mmkit/core';
import { archByName, UsageError } from '../archs.ts';
import { pluginSpecs } from '../plugins.ts';
import type { RunConfig } from './config.ts';
import { RunStats } from './stats.ts';
import { type RunSummary, summarize, teardown } from './summary.ts';
import { WORKLOAD_NAMES, WORKLOADS } from './workloads/index.ts';
import { seededRandom } from './workloads/workload.ts';

/**
 * Composes a kernel from `config`, runs its built-in workload, and returns the summary
 * (taken before the processes are torn down, plus what remains after they exit).
 */
export function runWorkload(
  config: RunConfig,
  progress: (done: number, total: number) => void = () => {},
): RunSummary {
  const workload = WORKLOADS[config.workload];
  if (workload === undefined) {
    throw new UsageError(
      `unknown workload '${config.workload}' (built in: ${WORKLOAD_NAMES.join(', ')}; or give a trace file)`,
    );
  }
  const names = config.plugins.map((p) => p.name);
  for (const needed of workload.requires) {
    if (!names.includes(needed))
      throw new UsageError(`workload '${workload.name}' needs the '${needed}' plugin`);
  }
  const options = Object.fromEntries(config.plugins.map((p) => [p.name, p.options]));
  const kernel = createKernel({
    arch: archByName(config.arch),
    memory: config.memory,
    layout: config.layout,
    plugins: pluginSpecs(names, options),
  });
  const sys = new LinuxSyscalls(kernel);
  const stats = new RunStats();
  stats.attach(kernel);
  const start = performance.now();
  workload.run({
    kernel,
    sys,
    random: seededRandom(config.seed),
    scale: config.scale,
    op: (kind) => stats.op(kind),
    progress,
  });
  const seconds = (performance.now() - start) / 1000;
  stats.detach();
  const summary = summarize(config, kernel, sys, stats, seconds);
  teardown(summary, kernel, sys);
  return summary;
}
