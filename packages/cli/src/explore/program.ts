import { PROP_R, PROP_RW, PROP_USER } from '@mmkit/core';
import type { ParallelOp } from '../parallel/ops.ts';
import { seededRandom } from '../run/workloads/workload.ts';

const PAGE = 4096;
const GiB = 2 ** 30;
/**
 * The pages the CPUs' operations touch: 8 pages around the 1 GiB boundary, so that four
 * fall in each of two leaf nodes, which hang from two different level-2 nodes under one
 * level-3 node (x86_64, the explorer's architecture). An operation inside one half has a
 * leaf node as its guard; one across the boundary has the level-3 node (or the root while
 * it has no child). Unmaps empty nodes often, so recycling detaches and frees them while
 * other CPUs walk towards them.
 */
export const WINDOW_START = GiB - 4 * PAGE;
export const WINDOW_PAGES = 8;
/** Pages of one operation at most. */
const MAX_OP_PAGES = 4;

/** The seed of schedule `index` of a run seeded `runSeed` (a 32-bit mix of both). */
export function scheduleSeed(runSeed: number, index: number): number {
  let h = (Math.imul(runSeed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A generator of schedule `seed`'s choices for one purpose (`stream`: 0 the scheduler, 1 + cpu each CPU). */
export function streamRandom(seed: number, stream: number): () => number {
  return seededRandom(scheduleSeed(seed, 1000 + stream));
}

/**
 * The program CPU `cpu` runs in schedule `seed`: `nrOps` cursor operations over the
 * window (maps weighted 3, unmaps 2, protects and queries 1 each; 1 to 4 pages).
 */
export function cpuProgram(seed: number, cpu: number, nrOps: number): ParallelOp[] {
  const random = streamRandom(seed, 1 + cpu);
  const ops: ParallelOp[] = [];
  for (let i = 0; i < nrOps; i++) {
    const first = Math.floor(random() * WINDOW_PAGES);
    const pages = 1 + Math.floor(random() * Math.min(MAX_OP_PAGES, WINDOW_PAGES - first));
    const va = WINDOW_START + first * PAGE;
    const pick = Math.floor(random() * 7);
    if (pick < 3) ops.push({ op: 'map', va, pages, prop: PROP_RW | PROP_USER });
    else if (pick < 5) ops.push({ op: 'unmap', va, pages });
    else if (pick < 6)
      ops.push({ op: 'protect', va, pages, prop: (random() < 0.5 ? PROP_R : PROP_RW) | PROP_USER });
    else ops.push({ op: 'query', va, pages });
  }
  return ops;
}

/** One line per operation, e.g. `map 0x3fffc000+3`. */
export function describeOp(op: ParallelOp): string {
  return `${op.op} 0x${op.va.toString(16)}+${op.pages}`;
}
