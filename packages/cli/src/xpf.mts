import { cortenmmPlans, CORTENMM_KINDS, cortenmmRequests } from './bench/workloads/cortenmm-workers.ts';
import { memoryFor } from './bench/workloads/common.ts';
import { parallelKernel } from './parallel/spec.ts';
import { WorkerPool } from './bench/workers/pool.ts';
const n = Number(process.argv[2] ?? 1);
const kind = CORTENMM_KINDS[(process.argv[3] ?? 'pf') as 'pf'];
const requests = cortenmmRequests(false);
const spec = { arch: 'x86_64', memory: memoryFor(n * requests * kind.pagesPerRequest), layout: 'soa', protocol: process.argv[4] ?? 'subtree', recycle: false, debug: false } as const;
const kernel = parallelKernel(spec as never);
kernel.memory.populateHost();
const plans = Array.from({ length: n }, (_, w) => cortenmmPlans(kind as never, n, requests, w));
const pool = WorkerPool.start(kernel, spec as never, plans);
const rounds = Number(process.argv[5] ?? 40);
const spans: number[] = [];
for (let r = 0; r < rounds; r++) {
  const table = kernel.newUserPageTable();
  pool.runPhase(table, 0);
  spans.push(pool.runPhase(table, 1));
  kernel.destroyUserPageTable(table);
}
spans.sort((a, b) => a - b);
console.log(`n=${n} median ${((n * requests) / spans[spans.length >> 1] / 1e3).toFixed(2)} M/s best ${((n * requests) / spans[0] / 1e3).toFixed(2)}`);
pool.close();
