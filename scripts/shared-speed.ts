/**
 * Single-thread cost of `sharedMemory: true`: the same loop on two kernels in one process,
 * one on private buffers and one on shared memory (pages, metadata, allocator and counts on
 * `SharedArrayBuffer`s), interleaved round by round; prints the median time of a round for
 * each and their ratio. A round allocates 4096 frames and maps each with `mapFresh` under one
 * cursor (an anonymous fault's work per page), then unmaps them (munmap's). The per-workload
 * figures come from `mmkit bench --compare memory=private,shared`, each choice in its own
 * process; this script stays because its rounds alternate every half millisecond, so it
 * resolves a few percent on a loaded machine where the bench's runs cannot.
 * Usage: `node --import tsx scripts/shared-speed.ts [rounds]`.
 */
import { x86_64 } from '@mmkit/arch-x86_64';
import { createKernel, FrameType, PROP_RW, PROP_USER } from '@mmkit/core';

const PAGES = 4096;
const rounds = Number(process.argv[2] ?? 40);
const kernels = [false, true].map((sharedMemory) =>
  createKernel({ arch: x86_64, memory: 256 << 20, sharedMemory, linearMapping: false }),
);
const tables = kernels.map((k) => k.newUserPageTable());

/** Maps `PAGES` fresh frames under one cursor (each taking over its allocation's handle), then unmaps them under another. */
function round(i: number): number {
  const k = kernels[i];
  const t = tables[i];
  const start = performance.now();
  const c = t.cursorMut(0x4000_0000, 0x4000_0000 + PAGES * 4096);
  for (let p = 0; p < PAGES; p++) {
    c.mapFresh(k.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
  }
  c.drop();
  const u = t.cursorMut(0x4000_0000, 0x4000_0000 + PAGES * 4096);
  u.unmap(PAGES * 4096);
  u.drop();
  return performance.now() - start;
}

const times: number[][] = [[], []];
for (let r = 0; r < rounds; r++) {
  for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) times[i].push(round(i));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const [priv, shared] = times.map(median);
for (const k of kernels) if (k.check().length !== 0) throw new Error('check failed');
console.log(`map+unmap of ${PAGES} pages, median of ${rounds} rounds: private ${priv.toFixed(2)} ms, shared ${shared.toFixed(2)} ms, shared/private ${(shared / priv).toFixed(3)}`);
