import { LinuxSyscalls, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '@mmkit/core';
import { seededRandom } from '../../run/workloads/workload.ts';
import type { Workload } from '../types.ts';
import { assertClean, benchKernel, memoryFor, PAGE, perSecond, timeMs } from './common.ts';

/** Mappings kept alive throughout: the churn happens among them. */
export const CHURN_MAPPINGS = 10_000;
/** Replacements (one munmap and one mmap each) per run. */
export const CHURN_REPLACEMENTS = 10_000;
/** Each mapping owns a slot of this many pages; a mapping takes 1 to `CHURN_MAX_PAGES` of it, so neighbours never touch (and never merge). */
const SLOT_PAGES = 8;
const CHURN_MAX_PAGES = 4;
const BASE = 0x1_0000_0000;
const RW = PROT_READ | PROT_WRITE;
const FLAGS = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;

/**
 * `mmap-churn`: a process holds `CHURN_MAPPINGS` small anonymous mappings; each run
 * replaces randomly chosen ones (seeded), munmapping one and mmapping a region of a new
 * random size (1 to 4 pages) in its place, so every call looks up, splits or inserts
 * among 10 000 mappings. No page is touched: this measures the address-space bookkeeping.
 */
export const mmapChurn: Workload = {
  name: 'mmap-churn',
  description: `mmap/munmap of random small regions (1-${CHURN_MAX_PAGES} pages) among ${CHURN_MAPPINGS} mappings (Linux syscalls, no faults)`,
  metrics: [{ metric: 'calls_per_s', unit: 'calls/s', higherIsBetter: true }],
  unavailable: () => null,
  setup(ctx) {
    const kernel = benchKernel(ctx, memoryFor(1024));
    const sys = new LinuxSyscalls(kernel);
    const pid = sys.spawn();
    const random = seededRandom(0xc4a2e);
    const pages = new Uint8Array(CHURN_MAPPINGS);
    const addr = (slot: number) => BASE + slot * SLOT_PAGES * PAGE;
    const mmap = (slot: number, nrPages: number) => {
      const r = sys.mmap(pid, addr(slot), nrPages * PAGE, RW, FLAGS);
      if (r !== addr(slot)) throw new Error(`mmap-churn: mmap returned ${r}`);
      pages[slot] = nrPages;
    };
    for (let slot = 0; slot < CHURN_MAPPINGS; slot++) mmap(slot, 1 + Math.floor(random() * CHURN_MAX_PAGES));
    const slots = new Uint16Array(CHURN_REPLACEMENTS);
    const sizes = new Uint8Array(CHURN_REPLACEMENTS);
    return {
      run() {
        // The choices are drawn before timing.
        for (let i = 0; i < CHURN_REPLACEMENTS; i++) {
          slots[i] = Math.floor(random() * CHURN_MAPPINGS);
          sizes[i] = 1 + Math.floor(random() * CHURN_MAX_PAGES);
        }
        const ms = timeMs(() => {
          for (let i = 0; i < CHURN_REPLACEMENTS; i++) {
            const slot = slots[i];
            if (sys.munmap(pid, addr(slot), pages[slot] * PAGE) !== 0)
              throw new Error('mmap-churn: munmap failed');
            mmap(slot, sizes[i]);
          }
        });
        return { calls_per_s: perSecond(2 * CHURN_REPLACEMENTS, ms) };
      },
      finish() {
        assertClean(kernel, 'mmap-churn');
        const v = sys.procs.check();
        if (v.length > 0) throw new Error(`mmap-churn: ${v[0].message}`);
        let bytes = 0;
        for (let slot = 0; slot < CHURN_MAPPINGS; slot++) bytes += pages[slot] * PAGE;
        const vmar = sys.procs.require(pid).vmar;
        if (vmar.totalVm !== bytes)
          throw new Error(`mmap-churn: ${vmar.totalVm} bytes mapped, ${bytes} expected`);
      },
    };
  },
};
