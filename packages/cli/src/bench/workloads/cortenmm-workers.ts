import { type Kernel, type PageTable, PROP_ACCESSED, PROP_DIRTY } from '@mmkit/core';
import type { ParallelOp } from '../../parallel/ops.ts';
import type { ParallelKernelSpec } from '../../parallel/spec.ts';
import { parallelKernel } from '../../parallel/spec.ts';
import type { WorkerVariant, WorkloadContext } from '../types.ts';
import { WorkerPool } from '../workers/pool.ts';
import {
  assertClean,
  CORTENMM_BASE,
  CORTENMM_REQUESTS,
  memoryFor,
  PAGE,
  perSecond,
  USER_RW,
} from './common.ts';

/**
 * CortenMM's microbenchmarks on worker threads, at the page-table level: N workers share one
 * page table of a kernel in shared memory and each issues `requests` requests per phase, timed
 * from the start barrier to the last worker done (ops/s counts every worker's requests; a run
 * sums `cortenmmRounds` phases). Each layout runs on a fresh table each time (as the artifact
 * forks a fresh process):
 * - disjoint (`ops_per_s`): worker i works in its own 1 GiB at `CORTENMM_BASE + i GiB`, its
 *   requests one after the other (the artifact's low contention);
 * - shuffled (`shuffled_ops_per_s`): the N × requests slots of one region are shuffled as the
 *   artifact's high-contention runs do (Fisher–Yates with its LCG, seed `0xdeadbeef - N`) and
 *   dealt out, so neighbouring requests of different workers meet in the same nodes.
 * What a request is: the `ParallelOp`s of `CortenmmKind.request`; the VMAR side of mmap and
 * munmap (the mapping tree) is not modelled with threads, only the page-table work.
 */
interface CortenmmKind {
  /** Pages per request (the artifact's `pages_per_request`). */
  pagesPerRequest: number;
  /** Untimed, before the timed phase: what every page of the range needs (pre-mapped, faulted). */
  prepare: 'none' | 'descend' | 'fault';
  /** The operations of one request at `va`. */
  request(va: number): ParallelOp[];
  /** What the timed phase must add to the counters, per request (checked after each run). */
  perRequest: { faulted: number; unmapped: number };
  description: string;
}

/** The property an anonymous write fault maps a page with. */
const FAULT_PROP = USER_RW | PROP_ACCESSED | PROP_DIRTY;
/** Each worker's own region in the disjoint layout. */
const REGION = 2 ** 30;

export const CORTENMM_KINDS = {
  mmap: {
    pagesPerRequest: 4,
    prepare: 'none',
    request: (va) => [{ op: 'descend', va, pages: 4 }],
    perRequest: { faulted: 0, unmapped: 0 },
    description:
      'page-table part of a fixed 4-page mmap as CortenMM does it: a cursor over the pages that creates the nodes down to their leaf (CortenMM then writes status markers; mmkit has none)',
  },
  'mmap-pf': {
    pagesPerRequest: 1,
    prepare: 'none',
    request: (va) => [
      { op: 'descend', va, pages: 1 },
      { op: 'fault', va, pages: 1, prop: FAULT_PROP },
    ],
    perRequest: { faulted: 1, unmapped: 0 },
    description: 'the mmap request on 1 page, then an anonymous fault on it (a second cursor)',
  },
  pf: {
    pagesPerRequest: 1,
    prepare: 'descend',
    request: (va) => [{ op: 'fault', va, pages: 1, prop: FAULT_PROP }],
    perRequest: { faulted: 1, unmapped: 0 },
    description:
      'an anonymous fault on a never-touched page of a pre-mapped range (its nodes made untimed): one cursor, a zeroed frame mapped',
  },
  'unmap-virt': {
    pagesPerRequest: 1,
    prepare: 'descend',
    request: (va) => [{ op: 'unmap', va, pages: 1 }],
    perRequest: { faulted: 0, unmapped: 0 },
    description:
      'unmap of one page of a pre-mapped, never-faulted range (a cursor that finds nothing to unmap)',
  },
  unmap: {
    pagesPerRequest: 1,
    prepare: 'fault',
    request: (va) => [{ op: 'unmap', va, pages: 1 }],
    perRequest: { faulted: 0, unmapped: 1 },
    description: 'unmap of one page that was faulted in (untimed) before: the frame is freed',
  },
} as const satisfies Record<string, CortenmmKind>;
export type CortenmmKindName = keyof typeof CORTENMM_KINDS;

/** The artifact's shuffle: Fisher–Yates driven by `x = (x * 1103515245 + 12345) & 0x7fffffff`. */
export function cortenmmShuffle(n: number, seed: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let x = seed;
  for (let i = n - 1; i > 0; i--) {
    x = (Math.imul(x, 1103515245) + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Phases of every worker's plans: disjoint prepare and timed, shuffled prepare and timed. */
const DISJOINT_PREPARE = 0;
const DISJOINT_TIMED = 1;
const SHUFFLED_PREPARE = 2;
const SHUFFLED_TIMED = 3;

/** The untimed preparation of `[start, start + pages)`. */
function prepareOps(kind: CortenmmKind, start: number, pages: number): ParallelOp[] {
  if (kind.prepare === 'none') return [];
  const ops: ParallelOp[] = [{ op: 'descend', va: start, pages }];
  if (kind.prepare === 'fault') ops.push({ op: 'fault', va: start, pages, prop: FAULT_PROP });
  return ops;
}

/** Worker `w`'s plans (by phase) for `n` workers of `requests` requests each. */
export function cortenmmPlans(kind: CortenmmKind, n: number, requests: number, w: number): ParallelOp[][] {
  const span = kind.pagesPerRequest * PAGE;
  const own = CORTENMM_BASE + w * REGION;
  const disjoint: ParallelOp[] = [];
  for (let j = 0; j < requests; j++) disjoint.push(...kind.request(own + j * span));
  // Shuffled: slots of one region of n × requests requests; worker w prepares its share of
  // the region and runs slots order[w * requests ..] of the shuffle.
  const order = cortenmmShuffle(n * requests, (0xdeadbeef - n) >>> 0);
  const shuffled: ParallelOp[] = [];
  for (let j = 0; j < requests; j++)
    shuffled.push(...kind.request(CORTENMM_BASE + order[w * requests + j] * span));
  const share = requests * kind.pagesPerRequest;
  return [
    prepareOps(kind, own, share),
    disjoint,
    prepareOps(kind, CORTENMM_BASE + w * share * PAGE, share),
    shuffled,
  ];
}

/**
 * Requests per worker and timed phase: 8 × the single-thread workloads' count, so that a
 * phase lasts milliseconds (a request takes well under a microsecond, and waking the workers tens of
 * microseconds); a quarter of that count in quick mode. Every worker's requests fit its
 * 1 GiB (32768 × 4 pages = 512 MiB).
 */
export function cortenmmRequests(quick: boolean): number {
  return quick ? CORTENMM_REQUESTS / 4 : 8 * CORTENMM_REQUESTS;
}

/**
 * Timed phases per run and layout, each on a fresh table, their spans summed: one phase of
 * `cortenmmRequests` lasts 3-15 ms on this kind of machine, less than a scheduler tick (4 ms
 * at 250 Hz) for the shortest, so that one interruption or one slow stretch of the host would
 * decide a whole run; four make a run of 12-60 ms. One in quick mode.
 */
export function cortenmmRounds(quick: boolean): number {
  return quick ? 1 : 4;
}

/** The kernel the workers share: the context's architecture, layout and lock protocol. */
function workerKernelSpec(ctx: WorkloadContext, pages: number): ParallelKernelSpec {
  if (ctx.layout !== 'soa' && ctx.layout !== 'aos')
    throw new Error(`--workers runs on the soa and aos layouts only (not '${ctx.layout}')`);
  const other = Object.keys(ctx.services).filter((k) => k !== 'lockProtocol');
  if (other.length > 0) throw new Error(`--workers compares lock protocols only (not ${other.join(', ')})`);
  return {
    arch: ctx.archName,
    memory: memoryFor(pages),
    layout: ctx.layout,
    protocol: ctx.services.lockProtocol?.name ?? 'hoh',
    recycle: false,
    debug: false,
  };
}

/** The `--workers` variant of the CortenMM microbenchmark `name`. */
export function cortenmmOnWorkers(name: CortenmmKindName): WorkerVariant {
  const kind: CortenmmKind = CORTENMM_KINDS[name];
  return {
    description: `on N worker threads sharing one page table, each issuing its requests: ${kind.description}; ops_per_s with each worker in its own 1 GiB, shuffled_ops_per_s with the requests of all shuffled over one region`,
    metrics: [
      { metric: 'ops_per_s', unit: 'ops/s', higherIsBetter: true },
      { metric: 'shuffled_ops_per_s', unit: 'ops/s', higherIsBetter: true },
    ],
    setup(ctx, n) {
      const requests = cortenmmRequests(ctx.quick);
      const spec = workerKernelSpec(ctx, n * requests * kind.pagesPerRequest);
      const kernel = parallelKernel(spec);
      // Untimed: the host backs every page now, not at a run's first touch (see populateHost).
      kernel.memory.populateHost();
      const plans = Array.from({ length: n }, (_, w) => cortenmmPlans(kind, n, requests, w));
      const pool = WorkerPool.start(kernel, spec, plans);
      const rounds = cortenmmRounds(ctx.quick);
      /** One timed phase on a fresh table: its span in ms. */
      const once = (prepare: number, timed: number): number => {
        const table = kernel.newUserPageTable();
        pool.runPhase(table, prepare);
        const before = pool.total();
        const ms = pool.runPhase(table, timed);
        expectCounters(name, pool, before, n * requests, kind.perRequest);
        destroyClean(kernel, table, name);
        return ms;
      };
      const measure = (prepare: number, timed: number): number => {
        let ms = 0;
        for (let r = 0; r < rounds; r++) ms += once(prepare, timed);
        return perSecond(rounds * n * requests, ms);
      };
      return {
        run: () => ({
          ops_per_s: measure(DISJOINT_PREPARE, DISJOINT_TIMED),
          shuffled_ops_per_s: measure(SHUFFLED_PREPARE, SHUFFLED_TIMED),
        }),
        finish: () => pool.close(),
      };
    },
  };
}

/** Throws unless the timed phase did exactly its requests' work and saw no violation. */
function expectCounters(
  name: string,
  pool: WorkerPool,
  before: ReturnType<WorkerPool['total']>,
  requests: number,
  perRequest: CortenmmKind['perRequest'],
): void {
  const after = pool.total();
  const got = {
    faulted: after.faulted - before.faulted,
    unmapped: after.unmapped - before.unmapped,
    spuriousFaults: after.spuriousFaults - before.spuriousFaults,
    violations: after.violations,
  };
  const want = {
    faulted: requests * perRequest.faulted,
    unmapped: requests * perRequest.unmapped,
    spuriousFaults: 0,
    violations: 0,
  };
  if (JSON.stringify(got) !== JSON.stringify(want))
    throw new Error(`${name} on workers: expected ${JSON.stringify(want)}, counted ${JSON.stringify(got)}`);
}

/** Checks the kernel, destroys the run's table and checks that every frame came back. */
function destroyClean(kernel: Kernel, table: PageTable, name: string): void {
  assertClean(kernel, `${name} on workers`);
  kernel.destroyUserPageTable(table);
  if (kernel.frames.nrInUse !== kernel.nrBootFrames)
    throw new Error(
      `${name} on workers: ${kernel.frames.nrInUse - kernel.nrBootFrames} frames still in use after destroying the table`,
    );
}
