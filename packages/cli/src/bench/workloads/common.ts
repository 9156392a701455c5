import { createKernel, type Kernel, type PluginSpec, PROP_RW, PROP_USER } from '@mmkit/core';
import type { WorkloadContext } from '../types.ts';

export const PAGE = 4096;
/** Where user workloads place their range: 1 GiB, aligned to every node size but the root's. */
export const USER_BASE = 0x4000_0000;
export const USER_RW = PROP_RW | PROP_USER;

/** Physical memory for a workload touching `pages` pages: room for data, tables and metadata. */
export function memoryFor(pages: number, copies = 1): number {
  const bytes = pages * PAGE * copies;
  const twoMiB = 2 << 20;
  return Math.ceil((bytes * 1.05 + (64 << 20)) / twoMiB) * twoMiB;
}

/**
 * A non-debug kernel of the context's architecture, layout, services and memory; in SMP
 * mode where the context asks (its state handed out at once, though no thread attaches).
 */
export function benchKernel(
  ctx: WorkloadContext,
  memory: number,
  plugins: readonly PluginSpec[] = [],
): Kernel {
  const kernel = createKernel({
    arch: ctx.arch,
    layout: ctx.layout,
    memory,
    debug: false,
    plugins,
    services: ctx.services,
    sharedMemory: ctx.sharedMemory,
  });
  if (ctx.smp) kernel.sharedState();
  return kernel;
}

/** Times `f` in milliseconds. */
export function timeMs(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

/** Per second, from a count and milliseconds. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.POSITIVE_INFINITY;
}

/** Throws when the kernel's invariants do not hold after a workload (a benchmark must not lie). */
export function assertClean(kernel: Kernel, what: string): void {
  const v = kernel.check();
  if (v.length > 0) throw new Error(`${what}: kernel.check() found ${v.length} violations: ${v[0].message}`);
}

/**
 * Pages of `protect-split` (every other one is protected: half as many calls). Bounded so
 * that Linux, whose every call splits a VMA, stays below `vm.max_map_count` (65530).
 */
export const SPLIT_MAX_PAGES = 1 << 15;
/** Requests per run of the CortenMM microbenchmarks (the artifact issues 32 per thread per run). */
export const CORTENMM_REQUESTS = 4096;
/** Where the CortenMM microbenchmarks place fixed addresses (4 GiB). */
export const CORTENMM_BASE = 0x1_0000_0000;
