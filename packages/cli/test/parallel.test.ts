import { LOCK_PROTOCOLS, PROP_R, PROP_RW, PROP_USER, QUERY_END, QUERY_MAPPED } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import {
  type ParallelKernelSpec,
  type ParallelOp,
  parallelKernel,
  runWorkers,
  type WorkerCounters,
} from '../src/parallel/index.ts';

/**
 * Contention: two, three and four worker threads run cursor operations on one page table
 * in shared memory, for every lock protocol, with page-table recycling off and on (fewer
 * operations per worker with more workers, to keep each case to a few seconds on two
 * cores). After each run: no
 * violation seen under a cursor, every frame mapped was unmapped exactly once or is still
 * mapped (no lost or duplicated PTE), each worker's own pages match a model of its
 * operations, `kernel.check()` is clean, and destroying the table frees every frame.
 */

const PAGE = 4096;
const PROT_RW = PROP_RW | PROP_USER;
const PROT_R = PROP_R | PROP_USER;
/** Operations per worker, by number of workers. */
const ROUNDS: Record<number, number> = { 2: 1500, 3: 300, 4: 240 };
const CHUNK = 8;

/** A small deterministic generator (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** Random operations over the given chunks (each `CHUNK` pages at a start address). */
function plan(chunks: readonly number[], seed: number, rounds: number): ParallelOp[] {
  const r = rng(seed);
  const ops: ParallelOp[] = [];
  for (let i = 0; i < rounds; i++) {
    const va = chunks[Math.floor(r() * chunks.length)];
    const x = r();
    if (x < 0.4) ops.push({ op: 'map', va, pages: CHUNK, prop: PROT_RW });
    else if (x < 0.7) ops.push({ op: 'unmap', va, pages: CHUNK });
    else if (x < 0.85) ops.push({ op: 'protect', va, pages: CHUNK, prop: r() < 0.5 ? PROT_R : PROT_RW });
    else ops.push({ op: 'query', va, pages: CHUNK });
  }
  return ops;
}

/** Page address → property after `ops`, for a worker whose pages no other worker touches. */
function model(ops: readonly ParallelOp[]): Map<number, number> {
  const pages = new Map<number, number>();
  for (const op of ops) {
    for (let i = 0; i < op.pages; i++) {
      const va = op.va + i * PAGE;
      if (op.op === 'map' && !pages.has(va)) pages.set(va, op.prop);
      else if (op.op === 'unmap') pages.delete(va);
      else if (op.op === 'protect' && pages.has(va)) pages.set(va, op.prop);
    }
  }
  return pages;
}

const G = 0x4000_0000; // 1 GiB: one level-3 entry on x86-64
const M2 = 0x20_0000; // 2 MiB: one level-2 entry

/** Chunk starts of worker `w` (of `n`) in each range pattern. */
const PATTERNS = {
  // Different 1 GiB regions: the workers share only the root.
  disjoint: (w: number, _n: number) => Array.from({ length: 8 }, (_, i) => (w + 1) * G + i * M2),
  // Interleaved chunks of the same two leaf nodes: every upper node is shared, no page is.
  'shared nodes': (w: number, n: number) =>
    Array.from({ length: 8 }, (_, i) => G + (n * i + w) * CHUNK * PAGE + (i % 2) * M2),
  // The same chunks: pages are mapped, protected and unmapped by all.
  overlapping: (_w: number, _n: number) => Array.from({ length: 4 }, (_, i) => G + i * CHUNK * PAGE),
} as const;

/** Every mapped page of `[start, end)` with its property. */
function mappedPages(
  kernel: ReturnType<typeof parallelKernel>,
  table: ReturnType<ReturnType<typeof parallelKernel>['newUserPageTable']>,
  start: number,
  end: number,
): Map<number, number> {
  const out = new Map<number, number>();
  const c = table.cursor(start, end);
  try {
    for (let kind = c.query(); kind !== QUERY_END; kind = c.query()) {
      if (kind === QUERY_MAPPED) for (let va = c.qVa; va < c.qVa + c.qLen; va += PAGE) out.set(va, c.qProp);
    }
  } finally {
    c.drop();
  }
  expect(kernel.check()).toEqual([]);
  return out;
}

const CASES = LOCK_PROTOCOLS.flatMap((protocol) =>
  [false, true].map((recycle) => ({ workers: 2, protocol, recycle })),
);

describe.each(CASES)(
  '$workers workers under $protocol, recycling $recycle',
  ({ workers, protocol, recycle }) => {
    for (const pattern of Object.keys(PATTERNS) as (keyof typeof PATTERNS)[]) {
      it(`on ${pattern} ranges`, async () => {
        const spec: ParallelKernelSpec = {
          arch: 'x86_64',
          memory: 64 << 20,
          layout: 'soa',
          protocol,
          recycle,
          debug: true,
        };
        const kernel = parallelKernel(spec);
        const table = kernel.newUserPageTable();
        const ids = Array.from({ length: workers }, (_, w) => w);
        const chunks = ids.map((w) => PATTERNS[pattern](w, workers));
        const plans = chunks.map((c, w) =>
          plan(c, 1000 * w + 100 * workers + protocol.length + (recycle ? 7 : 0), ROUNDS[workers]),
        );
        const counters: WorkerCounters[] = await runWorkers(kernel, spec, table, plans, {
          timeoutMs: 20_000,
        });
        for (const c of counters) expect(c.violations).toEqual([]);
        for (const [w, c] of counters.entries()) expect(c.ops).toBe(plans[w].length);
        console.log(
          `${workers} workers, ${protocol} recycle=${recycle} ${pattern}: busy retries ${counters.map((c) => c.busyRetries).join(' + ')}`,
        );
        expect(kernel.check()).toEqual([]);

        const all = mappedPages(kernel, table, 0, (workers + 1) * G);
        // Every frame a worker mapped was unmapped exactly once (by any worker) or is still mapped.
        const mapped = counters.reduce((n, c) => n + c.mapped, 0);
        const unmapped = counters.reduce((n, c) => n + c.unmapped, 0);
        expect(mapped - unmapped).toBe(all.size);
        if (pattern !== 'overlapping') {
          const expected = new Map(plans.flatMap((p) => [...model(p)]));
          expect(all).toEqual(expected);
        }
        const before = kernel.frames.nrInUse;
        kernel.destroyUserPageTable(table);
        expect(kernel.check()).toEqual([]);
        expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
        expect(before - kernel.frames.nrInUse).toBeGreaterThan(all.size);
      });
    }
  },
);

/**
 * Three and four workers, fewer operations each, every range pattern at once: each worker's
 * chunks are its own 1 GiB region, its interleaved chunks of the shared leaf nodes, and the
 * overlapping chunks (one worker start-up per protocol and recycling choice instead of
 * three). The model check covers the pages outside the overlapping chunks.
 */
describe.each(
  [3, 4].flatMap((workers) =>
    LOCK_PROTOCOLS.flatMap((protocol) => [false, true].map((recycle) => ({ workers, protocol, recycle }))),
  ),
)('$workers workers under $protocol, recycling $recycle', ({ workers, protocol, recycle }) => {
  it('on disjoint, shared-node and overlapping ranges at once', async () => {
    const spec: ParallelKernelSpec = {
      arch: 'x86_64',
      memory: 64 << 20,
      layout: 'soa',
      protocol,
      recycle,
      debug: true,
    };
    const kernel = parallelKernel(spec);
    const table = kernel.newUserPageTable();
    const overlapping = PATTERNS.overlapping(0, workers);
    const plans = Array.from({ length: workers }, (_, w) =>
      plan(
        [...PATTERNS.disjoint(w, workers), ...PATTERNS['shared nodes'](w, workers), ...overlapping],
        1000 * w + 100 * workers + protocol.length + (recycle ? 7 : 0),
        ROUNDS[workers],
      ),
    );
    const counters = await runWorkers(kernel, spec, table, plans, { timeoutMs: 30_000 });
    for (const c of counters) expect(c.violations).toEqual([]);
    for (const [w, c] of counters.entries()) expect(c.ops).toBe(plans[w].length);
    console.log(
      `${workers} workers, ${protocol} recycle=${recycle} all patterns: busy retries ${counters.map((c) => c.busyRetries).join(' + ')}`,
    );
    expect(kernel.check()).toEqual([]);
    const all = mappedPages(kernel, table, 0, (workers + 1) * G);
    const mapped = counters.reduce((n, c) => n + c.mapped, 0);
    const unmapped = counters.reduce((n, c) => n + c.unmapped, 0);
    expect(mapped - unmapped).toBe(all.size);
    const shared = (va: number) => overlapping.some((start) => va >= start && va < start + CHUNK * PAGE);
    const own = new Map([...all].filter(([va]) => !shared(va)));
    const expected = new Map(plans.flatMap((p) => [...model(p)]).filter(([va]) => !shared(va)));
    expect(own).toEqual(expected);
    kernel.destroyUserPageTable(table);
    expect(kernel.check()).toEqual([]);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
  });
});

it('runs workers on the aos layout too', async () => {
  const spec: ParallelKernelSpec = {
    arch: 'x86_64',
    memory: 64 << 20,
    layout: 'aos',
    protocol: 'subtree',
    recycle: false,
    debug: true,
  };
  const kernel = parallelKernel(spec);
  const table = kernel.newUserPageTable();
  const plans = [0, 1].map((w) => plan(PATTERNS['shared nodes'](w, 2), 77 + w, ROUNDS[2]));
  const counters = await runWorkers(kernel, spec, table, plans, { timeoutMs: 20_000 });
  for (const c of counters) expect(c.violations).toEqual([]);
  expect(mappedPages(kernel, table, 0, 3 * G)).toEqual(new Map([...model(plans[0]), ...model(plans[1])]));
  kernel.destroyUserPageTable(table);
  expect(kernel.check()).toEqual([]);
  expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
});

describe('the watchdog', () => {
  it('fails a run whose workers cannot progress and names the lock owners', async () => {
    const spec: ParallelKernelSpec = {
      arch: 'x86_64',
      memory: 64 << 20,
      layout: 'soa',
      protocol: 'global',
      recycle: false,
      debug: true,
    };
    const kernel = parallelKernel(spec);
    const table = kernel.newUserPageTable();
    // The main thread keeps the table's one lock: every worker cursor finds it busy forever.
    const held = table.cursorMut(0, PAGE);
    const ops: ParallelOp[] = [{ op: 'map', va: G, pages: 1, prop: PROT_RW }];
    await expect(runWorkers(kernel, spec, table, [ops, ops], { timeoutMs: 2_000 })).rejects.toThrow(
      new RegExp(`worker 0: 0 ops done.*node ${table.rootPfn} \\(level 4\\) held by the main thread`),
    );
    held.drop();
    kernel.destroyUserPageTable(table);
    expect(kernel.check()).toEqual([]);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
  });
});
