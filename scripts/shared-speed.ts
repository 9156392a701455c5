/**
 * Single-thread cost of `sharedMemory: true`: the same loops on two kernels in one process,
 * one on private buffers and one on shared memory (pages, metadata, allocator and counts on
 * `SharedArrayBuffer`s), interleaved round by round; prints the median time of a round for
 * each and their ratio, per loop:
 * - `fresh`: allocates 4096 frames and maps each with `mapFresh` under one cursor (an
 *   anonymous fault's work per page), then unmaps them (munmap's): no atomic
 *   read-modify-write per page on shared memory;
 * - `held`: maps 4096 frames the script keeps a handle to with one `mapRun`, then unmaps
 *   them: one `Atomics.add` and one `Atomics.sub` per page on shared memory.
 * The per-workload figures come from `mmkit bench --compare memory=private,shared`, each
 * choice in its own process; this script stays because its rounds alternate every half
 * millisecond, so it resolves a few percent on a loaded machine where the bench's runs
 * cannot. Usage: `node --import tsx scripts/shared-speed.ts [rounds]`.
 */
import { x86_64 } from '@mmkit/arch-x86_64';
import { createKernel, FrameType, PROP_RW, PROP_USER } from '@mmkit/core';

const PAGES = 4096;
const START = 0x4000_0000;
const END = START + PAGES * 4096;
const rounds = Number(process.argv[2] ?? 40);
const kernels = [false, true].map((sharedMemory) =>
  createKernel({ arch: x86_64, memory: 256 << 20, sharedMemory, linearMapping: false }),
);
const tables = kernels.map((k) => k.newUserPageTable());
/** Per kernel: `PAGES` consecutive frames the `held` loop maps (their handles kept). */
const heldFirst = kernels.map((k) => k.frames.allocContiguous(PAGES));

/** Unmaps the range under one cursor, checking that every page was mapped. */
function unmapAll(i: number): void {
  const u = tables[i].cursorMut(START, END);
  if (u.unmap(PAGES * 4096) !== PAGES) throw new Error('a page was not mapped');
  u.drop();
}

const loops = {
  /** Maps `PAGES` fresh frames (each taking over its allocation's handle), then unmaps them. */
  fresh(i: number): number {
    const k = kernels[i];
    const start = performance.now();
    const c = tables[i].cursorMut(START, END);
    for (let p = 0; p < PAGES; p++) c.mapFresh(k.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
    c.drop();
    unmapAll(i);
    return performance.now() - start;
  },
  /** Maps the held frames with one `mapRun` (a reference each), then unmaps them. */
  held(i: number): number {
    const start = performance.now();
    const c = tables[i].cursorMut(START, END);
    c.mapRun(heldFirst[i], PAGES, PROP_RW | PROP_USER);
    c.drop();
    unmapAll(i);
    return performance.now() - start;
  },
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [name, round] of Object.entries(loops)) {
  const times: number[][] = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) times[i].push(round(i));
  }
  const [priv, shared] = times.map(median);
  console.log(
    `${name}: map+unmap of ${PAGES} pages, median of ${rounds} rounds: private ${priv.toFixed(2)} ms, shared ${shared.toFixed(2)} ms, shared/private ${(shared / priv).toFixed(3)}`,
  );
}
for (const [i, k] of kernels.entries()) {
  for (let p = heldFirst[i]; p < heldFirst[i] + PAGES; p++) k.frames.put(p);
  if (k.check().length !== 0) throw new Error('check failed');
}
