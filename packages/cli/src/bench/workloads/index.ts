import type { MetricSpec, Workload } from '../types.ts';
import {
  cortenmmMmap,
  cortenmmMmapPf,
  cortenmmPf,
  cortenmmUnmap,
  cortenmmUnmapVirt,
  cowBreak,
  fault,
  fork,
  mremap,
} from './address-space.ts';
import { alloc } from './alloc.ts';
import { mmapChurn } from './mmap-churn.ts';
import { pagecacheRemoval } from './page-cache.ts';
import { map, memory, protect, protectSplit, query, unmap } from './page-table.ts';
import { replay } from './replay.ts';

/**
 * Every workload name of issue 5, in report order. Scripts rely on these names. A workload
 * whose API is not in mmkit (its `unavailable()` says why) is reported as not available.
 */
export const WORKLOAD_NAMES = [
  'map',
  'query',
  'unmap',
  'protect',
  'protect-split',
  'fault',
  'fork',
  'cow-break',
  'mremap',
  'mmap-churn',
  'pagecache-removal',
  'replay',
  'cortenmm-mmap',
  'cortenmm-mmap-pf',
  'cortenmm-pf',
  'cortenmm-unmap-virt',
  'cortenmm-unmap',
  'memory',
  'alloc',
] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

const IMPLEMENTED: Partial<Record<WorkloadName, Workload>> = {
  map,
  query,
  unmap,
  protect,
  'protect-split': protectSplit,
  fault,
  fork,
  'cow-break': cowBreak,
  mremap,
  'mmap-churn': mmapChurn,
  'pagecache-removal': pagecacheRemoval,
  replay,
  'cortenmm-mmap': cortenmmMmap,
  'cortenmm-mmap-pf': cortenmmMmapPf,
  'cortenmm-pf': cortenmmPf,
  'cortenmm-unmap-virt': cortenmmUnmapVirt,
  'cortenmm-unmap': cortenmmUnmap,
  memory,
  alloc,
};

/** Why a workload without an implementation is missing (none now: each says it itself). */
const MISSING_REASON: Partial<Record<WorkloadName, string>> = {};

/** The workload called `name`, or null with the reason it is not available. */
export function workloadByName(name: string): Workload | null {
  const w = IMPLEMENTED[name as WorkloadName];
  if (w === undefined) return null;
  return w.unavailable() === null ? w : null;
}

/** Why `name` cannot run (null if it can). */
export function unavailableReason(name: string): string | null {
  const w = IMPLEMENTED[name as WorkloadName];
  if (w !== undefined) return w.unavailable();
  return MISSING_REASON[name as WorkloadName] ?? `unknown workload '${name}'`;
}

export function isWorkloadName(name: string): name is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(name);
}

/** Implemented workloads (whether or not their API is available right now). */
export function implementedWorkloads(): Workload[] {
  return WORKLOAD_NAMES.flatMap((n) => (IMPLEMENTED[n] ? [IMPLEMENTED[n]] : []));
}

/** The metrics a run of `name` reports: its worker variant's with `workers`, else its own. */
export function workloadMetrics(name: string, workers?: number): readonly MetricSpec[] {
  const w = workloadByName(name);
  if (w === null) return [];
  return workers === undefined ? w.metrics : (w.workers?.metrics ?? []);
}

/** Workloads with a worker variant (what `--workers` runs), in report order. */
export function workerWorkloads(): string[] {
  return WORKLOAD_NAMES.filter((n) => IMPLEMENTED[n]?.workers !== undefined);
}
