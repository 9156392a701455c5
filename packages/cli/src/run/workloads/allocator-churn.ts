import { MAP_ANONYMOUS, MAP_PRIVATE, MREMAP_MAYMOVE, PROT_NONE, PROT_READ, PROT_WRITE } from '@mmkit/core';
import { check, type Workload, type WorkloadContext } from './workload.ts';

const PAGE = 4096;

/**
 * A memory allocator's churn, as a malloc arena behaves: blocks of 1–64 pages are mapped,
 * partly touched, fenced with a `PROT_NONE` guard page, grown with `mremap` (moving when they
 * cannot grow in place), shrunk, and unmapped, with a bounded number alive at once.
 */
export const allocatorChurn: Workload = {
  name: 'allocator',
  description: "an allocator's mmap/munmap/mprotect/mremap churn with guard pages",
  requires: [],
  run(ctx: WorkloadContext): void {
    const { sys, random, scale } = ctx;
    const steps = Math.max(100, Math.round(20000 * scale));
    const maxLive = 256;
    const pid = sys.spawn();
    ctx.op('spawn');
    const live: { addr: number; pages: number }[] = [];
    const byte = Uint8Array.of(0x5a);
    for (let step = 0; step < steps; step++) {
      const r = random();
      if (live.length < maxLive && (r < 0.45 || live.length === 0)) {
        const pages = 2 + Math.floor(random() * 63);
        const addr = check(
          sys.mmap(pid, 0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS),
          'mmap',
        );
        ctx.op('mmap');
        check(sys.mprotect(pid, addr + (pages - 1) * PAGE, PAGE, PROT_NONE), 'mprotect');
        ctx.op('mprotect');
        const touched = 1 + Math.floor(random() * (pages - 1));
        for (let p = 0; p < touched; p++) {
          sys.writeMemory(pid, addr + p * PAGE, byte);
          ctx.op('write');
        }
        live.push({ addr, pages });
      } else if (r < 0.6) {
        const i = Math.floor(random() * live.length);
        const b = live[i];
        const grown = b.pages + 1 + Math.floor(random() * 16);
        // Drop the guard, grow (moving if needed), put the guard back at the new end.
        check(sys.mprotect(pid, b.addr + (b.pages - 1) * PAGE, PAGE, PROT_READ | PROT_WRITE), 'mprotect');
        const addr = check(sys.mremap(pid, b.addr, b.pages * PAGE, grown * PAGE, MREMAP_MAYMOVE), 'mremap');
        check(sys.mprotect(pid, addr + (grown - 1) * PAGE, PAGE, PROT_NONE), 'mprotect');
        ctx.op('mprotect');
        ctx.op('mremap');
        ctx.op('mprotect');
        sys.writeMemory(pid, addr + (grown - 2) * PAGE, byte);
        ctx.op('write');
        live[i] = { addr, pages: grown };
      } else {
        const i = Math.floor(random() * live.length);
        const b = live[i];
        check(sys.munmap(pid, b.addr, b.pages * PAGE), 'munmap');
        ctx.op('munmap');
        live[i] = live[live.length - 1];
        live.pop();
      }
      if ((step & 255) === 0) ctx.progress(step, steps);
    }
    ctx.progress(steps, steps);
  },
};
