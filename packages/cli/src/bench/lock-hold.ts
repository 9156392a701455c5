/**
 * Bench-only estimate of the critical sections behind `mmkit bench --workers`, measured on
 * one thread (minimum of several runs, so that other load on the machine inflates nothing):
 * - the time of one request of each CortenMM kind (`cortenmm-workers.ts`, the disjoint plan of
 *   one worker, run by `runOps` on a shared-memory kernel), per lock protocol;
 * - the time of a minimal request (a cursor over one page whose path exists, one query,
 *   dropped), per protocol: the lock traffic every request pays at least once.
 * From those, the fraction `h` of a request spent holding the busiest lock that workers on
 * disjoint ranges share (the root, or the level-3 node above every worker's 1 GiB on x86-64):
 * - `global`: the root's lock for the whole cursor life: h = 1 (minus the plan loop);
 * - `hoh`: the root and the level-3 node, each held for one hand-over-hand step of the four-level
 *   descent, one after the other (so they pipeline: the busier one bounds throughput):
 *   h = (minimal request / 4) × cursors per request / request, an upper estimate (the
 *   minimal request also counts the cursor's own setup and its query);
 * - `subtree`: no shared lock once the worker's nodes exist (the guard is its own node): h = 0.
 * Printed with what Amdahl's law makes of h: speedup(N) = N / (1 + (N - 1) h).
 *
 * Run: `node --import tsx packages/cli/src/bench/lock-hold.ts [runs]` (default 7).
 */
import { LOCK_PROTOCOLS, type LockProtocolName } from '@mmkit/core';
import { newCounters, type ParallelOp, runOps } from '../parallel/ops.ts';
import { parallelKernel } from '../parallel/spec.ts';
import { CORTENMM_BASE, CORTENMM_REQUESTS, memoryFor, PAGE } from './workloads/common.ts';
import { CORTENMM_KINDS, type CortenmmKindName, cortenmmPlans } from './workloads/cortenmm-workers.ts';

/** Amdahl's speedup of `n` workers whose time is serialized for a fraction `h`. */
export function amdahl(n: number, h: number): number {
  return n / (1 + (n - 1) * h);
}

function kernelOf(protocol: LockProtocolName, pages: number) {
  return parallelKernel({
    arch: 'x86_64',
    memory: memoryFor(pages),
    layout: 'soa',
    protocol,
    recycle: false,
    debug: false,
  });
}

/** Microseconds per request of `name` on one thread: the minimum over `runs` fresh tables. */
function requestUs(protocol: LockProtocolName, name: CortenmmKindName, runs: number): number {
  const kind = CORTENMM_KINDS[name];
  const kernel = kernelOf(protocol, CORTENMM_REQUESTS * kind.pagesPerRequest);
  const [prepare, timed] = cortenmmPlans(kind, 1, CORTENMM_REQUESTS, 0);
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const table = kernel.newUserPageTable();
    runOps(kernel, table, prepare, newCounters());
    const t0 = performance.now();
    runOps(kernel, table, timed, newCounters());
    best = Math.min(best, ((performance.now() - t0) * 1000) / CORTENMM_REQUESTS);
    kernel.destroyUserPageTable(table);
  }
  return best;
}

/**
 * Microseconds of a minimal request: a cursor over one page whose path exists, one query,
 * dropped (`runOps` with `query` ops, as the workers run them): the minimum over `runs`.
 */
function emptyCursorUs(protocol: LockProtocolName, runs: number): number {
  const kernel = kernelOf(protocol, CORTENMM_REQUESTS);
  const table = kernel.newUserPageTable();
  const range: ParallelOp = { op: 'descend', va: CORTENMM_BASE, pages: CORTENMM_REQUESTS };
  runOps(kernel, table, [range], newCounters());
  const queries: ParallelOp[] = [];
  for (let j = 0; j < CORTENMM_REQUESTS; j++)
    queries.push({ op: 'query', va: CORTENMM_BASE + j * PAGE, pages: 1 });
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    runOps(kernel, table, queries, newCounters());
    best = Math.min(best, ((performance.now() - t0) * 1000) / CORTENMM_REQUESTS);
  }
  kernel.destroyUserPageTable(table);
  return best;
}

/** Cursors one request of each kind creates. */
const CURSORS_PER_REQUEST: Record<CortenmmKindName, number> = {
  mmap: 1,
  'mmap-pf': 2,
  pf: 1,
  'unmap-virt': 1,
  unmap: 1,
};

function main(): void {
  const runs = Number(process.argv[2] ?? 7);
  const lines = [
    '| protocol | request | µs/request | minimal request µs | shared-lock fraction h | Amdahl ×2 | ×8 | ×64 |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const protocol of LOCK_PROTOCOLS) {
    const cursorUs = emptyCursorUs(protocol, runs);
    for (const name of Object.keys(CORTENMM_KINDS) as CortenmmKindName[]) {
      const us = requestUs(protocol, name, runs);
      const h =
        protocol === 'global'
          ? 1
          : protocol === 'hoh'
            ? Math.min(1, ((cursorUs / 4) * CURSORS_PER_REQUEST[name]) / us)
            : 0;
      lines.push(
        `| ${protocol} | ${name} | ${us.toFixed(2)} | ${cursorUs.toFixed(2)} | ${h.toFixed(2)} | ${amdahl(2, h).toFixed(2)} | ${amdahl(8, h).toFixed(1)} | ${amdahl(64, h).toFixed(1)} |`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) main();
