/**
 * A bench child process: runs one workload × layout × architecture, a warm-up then the
 * measured runs, and prints one line `RESULT_MARKER <json>` on stdout. Started by the
 * runner as `node --expose-gc --import tsx child.ts <spec json>`, so each combination gets a
 * fresh heap and JIT state (no layout ever makes another's code polymorphic).
 */
import { archByName } from '../archs.ts';
import { compareServices } from './compare.ts';
import type { WorkloadContext } from './types.ts';
import { workloadByName } from './workloads/index.ts';

export const RESULT_MARKER = 'MMKIT_BENCH_RESULT';

export interface ChildSpec {
  workload: string;
  layout: string;
  /** A service choice from `--compare` (`{ key: 'lock', value: 'subtree' }`), if any. */
  choice?: { key: string; value: string };
  arch: string;
  size: number;
  runs: number;
  warmup: number;
  quick: boolean;
}

export interface ChildResult {
  /** Per metric: the value of each measured run. */
  values: Record<string, number[]>;
  pages: number;
  ms: number;
}

/** Runs a spec in this process (the child's body; also callable from tests). */
export function runSpec(spec: ChildSpec): ChildResult {
  const t0 = performance.now();
  const w = workloadByName(spec.workload);
  if (w === null) throw new Error(`workload '${spec.workload}' is not available`);
  const nrPages = Math.min(spec.size / 4096, w.maxPages ?? Number.POSITIVE_INFINITY);
  const ctx: WorkloadContext = {
    arch: archByName(spec.arch),
    archName: spec.arch,
    layout: spec.layout,
    services: spec.choice === undefined ? {} : compareServices(spec.choice.key, spec.choice.value),
    size: nrPages * 4096,
    nrPages,
    quick: spec.quick,
  };
  const inst = w.setup(ctx);
  for (let i = 0; i < spec.warmup; i++) inst.run();
  const values: Record<string, number[]> = {};
  for (const m of w.metrics) values[m.metric] = [];
  for (let i = 0; i < spec.runs; i++) {
    const r = inst.run();
    for (const m of w.metrics) values[m.metric].push(r[m.metric]);
  }
  inst.finish?.();
  return { values, pages: nrPages, ms: performance.now() - t0 };
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) {
  const spec = JSON.parse(process.argv[2]) as ChildSpec;
  try {
    const result = runSpec(spec);
    process.stdout.write(`${RESULT_MARKER} ${JSON.stringify(result)}\n`);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  }
}
