/**
 * Bench-only probe of the critical sections behind `mmkit bench --workers`: for each lock
 * protocol and CortenMM request kind, one worker thread runs the disjoint plan of
 * `cortenmm-workers.ts` while this thread samples, as fast as it can, whether the two locks
 * that workers on disjoint ranges share are taken: the root's lock word (also `global`'s
 * lock) and the level-3 node above every worker's 1 GiB (x86-64). The fraction of samples in
 * which a lock is taken is the fraction of a worker's time it holds that lock. Printed with
 * the time per request (a run without sampling) and what an Amdahl model makes of the
 * larger fraction `h`: speedup(N) = N / (1 + (N - 1) h).
 *
 * Run: `node --import tsx packages/cli/src/bench/lock-hold.ts [runs]` (default 3 runs each).
 */
import { LOCK_PROTOCOLS, type LockProtocolName } from '@mmkit/core';
import { lockOwner } from '@mmkit/core/internal';
import { type ParallelKernelSpec, parallelKernel } from '../parallel/spec.ts';
import { median } from './stats.ts';
import { WorkerPool } from './workers/pool.ts';
import { CORTENMM_BASE, CORTENMM_REQUESTS, memoryFor, PAGE } from './workloads/common.ts';
import { CORTENMM_KINDS, type CortenmmKindName, cortenmmPlans } from './workloads/cortenmm-workers.ts';

/** Amdahl's speedup of `n` workers whose time is serialized for a fraction `h`. */
export function amdahl(n: number, h: number): number {
  return n / (1 + (n - 1) * h);
}

interface Probe {
  usPerRequest: number;
  rootHeld: number;
  l3Held: number;
  samples: number;
}

function probe(protocol: LockProtocolName, name: CortenmmKindName, runs: number): Probe {
  const kind = CORTENMM_KINDS[name];
  const requests = CORTENMM_REQUESTS;
  const spec: ParallelKernelSpec = {
    arch: 'x86_64',
    memory: memoryFor(requests * kind.pagesPerRequest),
    layout: 'soa',
    protocol,
    recycle: false,
    debug: false,
  };
  const kernel = parallelKernel(spec);
  const pool = WorkerPool.start(kernel, spec, [cortenmmPlans(kind, 1, requests, 0)]);
  const us: number[] = [];
  const root: number[] = [];
  const l3: number[] = [];
  let samples = 0;
  try {
    for (let r = 0; r < runs + 1; r++) {
      for (const sampled of [false, true]) {
        const table = kernel.newUserPageTable();
        // The path to the worker's range, made here so that its level-3 node is known.
        const c = table.cursorMut(CORTENMM_BASE, CORTENMM_BASE + PAGE);
        c.enterLeafNode();
        const l3Pfn = c.nodeAt(3);
        c.drop();
        pool.runPhase(table, 0);
        if (!sampled) {
          const ms = pool.runPhase(table, 1);
          if (r > 0) us.push((ms * 1000) / requests);
        } else {
          let n = 0;
          let rootN = 0;
          let l3N = 0;
          const meta = kernel.meta;
          const rootPfn = table.rootPfn;
          pool.runPhaseSampling(table, 1, () => {
            n++;
            if (lockOwner(meta, rootPfn) !== 0) rootN++;
            if (lockOwner(meta, l3Pfn) !== 0) l3N++;
          });
          if (r > 0) {
            root.push(rootN / n);
            l3.push(l3N / n);
            samples += n;
          }
        }
        kernel.destroyUserPageTable(table);
      }
    }
  } finally {
    pool.close();
  }
  return { usPerRequest: median(us), rootHeld: median(root), l3Held: median(l3), samples };
}

function main(): void {
  const runs = Number(process.argv[2] ?? 3);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    '| protocol | request | µs/request (1 worker) | root held | level-3 node held | Amdahl ×2 | ×8 | ×64 |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const protocol of LOCK_PROTOCOLS) {
    for (const name of Object.keys(CORTENMM_KINDS) as CortenmmKindName[]) {
      const p = probe(protocol, name, runs);
      const h = Math.max(p.rootHeld, p.l3Held);
      lines.push(
        `| ${protocol} | ${name} | ${p.usPerRequest.toFixed(2)} | ${pct(p.rootHeld)} | ${pct(p.l3Held)} | ${amdahl(2, h).toFixed(2)} | ${amdahl(8, h).toFixed(1)} | ${amdahl(64, h).toFixed(1)} |`,
      );
      process.stderr.write(`${protocol} ${name}: ${p.samples} samples\n`);
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'));
if (isMain) main();
