import {
  createKernel,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_READ,
  PROT_WRITE,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, KERNEL_CONFIGS } from '../support/configs.ts';

const P = 0x1000;
const NODE = 0x20_0000;
/** 2 MiB-aligned and valid on every architecture (Sv39's user half is 256 GiB). */
const W = 0x10_0000_0000;
const MOVE = MREMAP_MAYMOVE | MREMAP_FIXED;
/** Pages of the moved range: more than two leaf nodes. */
const NR = 1100;

/** Distinct contents per page: its index, in the first two bytes. */
function stamp(i: number): Uint8Array {
  return Uint8Array.of(i & 0xff, i >> 8);
}

/** [source page offset from W, destination page offset from W] of each move. */
const MOVES: [string, number, number][] = [
  ['2 MiB-aligned (leaf nodes relinked)', 0, 2048],
  ['one page off the alignment', 0, 2049],
  ['unaligned to unaligned, the same distance mod 2 MiB', 3, 2051],
  ['downwards', 2048, 5],
];

describe.each(KERNEL_CONFIGS)('mremap moves populated ranges on $name', ({ arch, layout }) => {
  it.each(MOVES)('%s: contents, RSS and invariants as before the move', (_, from, to) => {
    const k = createKernel({ arch, layout, memory: 32 << 20, debug: true });
    const s = new LinuxSyscalls(k);
    const pid = s.spawn();
    const src = W + from * P;
    const dst = W + to * P;
    const len = NR * P;
    expect(s.mmap(pid, src, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0)).toBe(
      src,
    );
    // Every page but a few holes is written.
    const written = (i: number) => i % 9 !== 4;
    for (let i = 0; i < NR; i++) if (written(i)) expect(s.writeMemory(pid, src + i * P, stamp(i))).toBe(0);
    const rss = s.rss(pid, W, W + 16 * NODE);

    expect(s.mremap(pid, src, len, len, MOVE, dst)).toBe(dst);

    expect(s.rss(pid, W, W + 16 * NODE)).toEqual(rss);
    const out = new Uint8Array(2);
    for (let i = 0; i < NR; i++) {
      expect(s.readMemory(pid, dst + i * P, out)).toBe(0);
      expect(Array.from(out)).toEqual(written(i) ? Array.from(stamp(i)) : [0, 0]);
    }
    expect(s.readMemory(pid, src, out)).not.toBe(0);
    expect(s.procs.check()).toEqual([]);
    expectClean(k);
    s.exit(pid);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expectClean(k);
  });
});
