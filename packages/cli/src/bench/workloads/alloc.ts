import type { Workload, WorkloadInstance } from '../types.ts';
import { assertClean, benchKernel, memoryFor, perSecond, timeMs } from './common.ts';

/** Frames in a 2 MiB block of 4 KiB pages. */
const HUGE_FRAMES = 512;

/**
 * Allocation churn through the kernel's frame allocator service: a seeded mix of single
 * frames (4 KiB, 80%) and 2 MiB-aligned 512-frame blocks (20%), each followed, once the pool
 * of live allocations is full, by the free of a random live one. Every run makes the same
 * sequence, so allocators (`--compare allocator=bitmap,buddy`) see the same requests.
 */
export const alloc: Workload = {
  name: 'alloc',
  description: 'frame allocator churn: 4 KiB and 2 MiB allocations and frees, mixed (seeded)',
  metrics: [{ metric: 'ops_per_s', unit: 'ops/s', higherIsBetter: true }],
  unavailable: () => null,
  setup(ctx): WorkloadInstance {
    // Live allocations stay under half of the size, so that 2 MiB blocks keep fitting.
    const kernel = benchKernel(ctx, memoryFor(ctx.nrPages));
    const frames = kernel.frames;
    const nrOps = Math.max(1000, Math.min(ctx.nrPages, 1 << 18));
    const maxLive = Math.max(16, Math.floor(ctx.nrPages / (2 * HUGE_FRAMES)));
    const liveStart = new Float64Array(maxLive);
    const liveCount = new Uint16Array(maxLive);
    return {
      run() {
        let nLive = 0;
        let seed = 0x2545f491;
        const next = (): number => {
          // xorshift32: the same sequence every run.
          seed ^= seed << 13;
          seed ^= seed >>> 17;
          seed ^= seed << 5;
          return seed >>> 0;
        };
        const freeOne = (i: number): void => {
          const start = liveStart[i];
          for (let p = start, end = start + liveCount[i]; p < end; p++) frames.put(p);
          nLive--;
          liveStart[i] = liveStart[nLive];
          liveCount[i] = liveCount[nLive];
        };
        const ms = timeMs(() => {
          for (let op = 0; op < nrOps; op++) {
            if (nLive === maxLive) freeOne(next() % nLive);
            const huge = next() % 5 === 0;
            liveStart[nLive] = huge ? frames.allocContiguous(HUGE_FRAMES, HUGE_FRAMES) : frames.alloc();
            liveCount[nLive] = huge ? HUGE_FRAMES : 1;
            nLive++;
          }
          while (nLive > 0) freeOne(nLive - 1);
        });
        if (frames.nrInUse !== kernel.nrBootFrames) throw new Error('alloc: frames leaked');
        return { ops_per_s: perSecond(nrOps, ms) };
      },
      finish: () => assertClean(kernel, 'alloc'),
    };
  },
};
