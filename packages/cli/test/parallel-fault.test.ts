import {
  FrameType,
  LOCK_PROTOCOLS,
  PROP_ACCESSED,
  PROP_DIRTY,
  PROP_RW,
  PROP_USER,
  QUERY_END,
  QUERY_MAPPED,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import {
  type ParallelKernelSpec,
  type ParallelOp,
  parallelKernel,
  runWorkers,
} from '../src/parallel/index.ts';

/**
 * Anonymous faults in worker threads: two workers fault pages of one page table, some on
 * pages only they touch and some on pages both touch, for every lock protocol. Every page
 * ends up mapped exactly once (one fault mapped it, any other was spurious), the kernel's
 * invariants hold, every fresh frame is mapped, and destroying the table frees them all.
 */

const PAGE = 4096;
const G = 0x4000_0000;
const M2 = 0x20_0000;
const PROP = PROP_RW | PROP_USER | PROP_ACCESSED | PROP_DIRTY;
const ROUNDS = 600;

/**
 * Worker `w`'s plan: a `descend` over the shared 2 MiB, then `ROUNDS` one-to-four-page faults
 * over its own 2 MiB and the shared 2 MiB.
 */
function plan(w: number): ParallelOp[] {
  // Both workers first create the shared range's leaf node (a race to link it once).
  const ops: ParallelOp[] = [{ op: 'descend', va: 2 * G, pages: 512 }];
  let s = 0x9e3779b9 ^ (w + 1);
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let i = 0; i < ROUNDS; i++) {
    const base = next() < 0.5 ? G + w * M2 : 2 * G;
    const va = base + Math.floor(next() * 508) * PAGE;
    ops.push({ op: 'fault', va, pages: 1 + Math.floor(next() * 4), prop: PROP });
  }
  return ops;
}

/** The distinct pages `plans` fault. */
function pagesOf(plans: readonly ParallelOp[][]): Set<number> {
  const pages = new Set<number>();
  for (const ops of plans)
    for (const op of ops)
      if (op.op === 'fault') for (let i = 0; i < op.pages; i++) pages.add(op.va + i * PAGE);
  return pages;
}

describe.each(LOCK_PROTOCOLS)('anonymous faults in two workers under %s', (protocol) => {
  it('maps every faulted page once, with nothing leaked', async () => {
    const spec: ParallelKernelSpec = {
      arch: 'x86_64',
      memory: 64 << 20,
      layout: 'soa',
      protocol,
      recycle: false,
      debug: true,
    };
    const kernel = parallelKernel(spec);
    const table = kernel.newUserPageTable();
    const dataBefore = kernel.frames.nrInUseByType[FrameType.Untyped];
    const plans = [plan(0), plan(1)];
    const counters = await runWorkers(kernel, spec, table, plans, { timeoutMs: 20_000 });
    expect(kernel.check()).toEqual([]);
    for (const [w, c] of counters.entries()) {
      expect(c.violations).toEqual([]);
      expect(c.ops).toBe(plans[w].length);
    }
    const requests = plans.flat().reduce((n, op) => n + (op.op === 'fault' ? op.pages : 0), 0);
    const faulted = counters[0].faulted + counters[1].faulted;
    const spurious = counters[0].spuriousFaults + counters[1].spuriousFaults;
    const expected = pagesOf(plans);
    expect(faulted).toBe(expected.size);
    expect(faulted + spurious).toBe(requests);
    // Pages are faulted again (by the same worker or the other): those faults are spurious.
    expect(counters[0].spuriousFaults).toBeGreaterThan(0);
    expect(counters[1].spuriousFaults).toBeGreaterThan(0);

    const mapped = new Map<number, number>();
    const frames = new Set<number>();
    const c = table.cursor(G, 3 * G);
    for (let kind = c.query(); kind !== QUERY_END; kind = c.query()) {
      if (kind !== QUERY_MAPPED) continue;
      expect(c.qLen).toBe(PAGE);
      mapped.set(c.qVa, c.qProp);
      frames.add(c.qPfn);
      expect(kernel.frames.refCount(c.qPfn)).toBe(1);
    }
    c.drop();
    expect(new Set(mapped.keys())).toEqual(expected);
    for (const prop of mapped.values()) expect(prop).toBe(PROP);
    expect(frames.size).toBe(expected.size);
    expect(kernel.frames.nrInUseByType[FrameType.Untyped] - dataBefore).toBe(expected.size);

    kernel.destroyUserPageTable(table);
    expect(kernel.check()).toEqual([]);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
  });
});
