import {
  ACCESS_WRITE,
  eagerFork,
  FAULT_HANDLED,
  handlePageFault,
  type Kernel,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  type PluginSpec,
  PROT_READ,
  PROT_WRITE,
  type Vmar,
} from '@mmkit/core';
import * as plugins from '@mmkit/plugins';
import type { WorkerVariant, Workload, WorkloadContext, WorkloadInstance } from '../types.ts';
import {
  assertClean,
  benchKernel,
  CORTENMM_BASE,
  CORTENMM_REQUESTS,
  memoryFor,
  PAGE,
  perSecond,
  timeMs,
} from './common.ts';
import { cortenmmOnWorkers } from './cortenmm-workers.ts';

const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
/** Fixed addresses start where the CortenMM microbenchmarks place theirs. */
const FIXED_BASE = CORTENMM_BASE;
const ONE_BYTE = new Uint8Array([1]);

/** A kernel with Linux's memory system calls and process 0. */
class Sys {
  readonly kernel: Kernel;
  readonly sys: LinuxSyscalls;
  readonly pid: number;
  readonly vmar: Vmar;

  constructor(ctx: WorkloadContext, pages: number, copies = 1, kernelPlugins: readonly PluginSpec[] = []) {
    this.kernel = benchKernel(ctx, memoryFor(pages, copies), kernelPlugins);
    this.sys = new LinuxSyscalls(this.kernel);
    this.pid = this.sys.spawn();
    this.vmar = this.sys.procs.require(this.pid).vmar;
  }

  /** mmap, throwing on an error return. */
  mmap(addr: number, len: number, flags = ANON): number {
    const r = this.sys.mmap(this.pid, addr, len, RW, flags);
    if (r < 0) throw new Error(`mmap returned ${r}`);
    return r;
  }

  munmap(addr: number, len: number): void {
    const r = this.sys.munmap(this.pid, addr, len);
    if (r < 0) throw new Error(`munmap returned ${r}`);
  }

  /** Write faults on every page of `[addr, addr + len)`. */
  populate(addr: number, len: number): void {
    for (let va = addr; va < addr + len; va += PAGE) {
      if (handlePageFault(this.vmar, va, ACCESS_WRITE) !== FAULT_HANDLED) throw new Error('fault failed');
    }
  }

  check(what: string): void {
    assertClean(this.kernel, what);
    const v = this.sys.procs.check();
    if (v.length > 0) throw new Error(`${what}: ${v[0].message}`);
  }
}

export const fault: Workload = {
  name: 'fault',
  description:
    'anonymous write page faults over a fresh private mapping (handlePageFault, one per 4 KiB page)',
  metrics: [{ metric: 'faults_per_s', unit: 'faults/s', higherIsBetter: true }],
  unavailable: () => null,
  setup(ctx): WorkloadInstance {
    const s = new Sys(ctx, ctx.nrPages);
    const len = ctx.nrPages * PAGE;
    return {
      run() {
        const addr = s.mmap(FIXED_BASE, len, ANON | MAP_FIXED);
        const ms = timeMs(() => s.populate(addr, len));
        s.munmap(addr, len);
        return { faults_per_s: perSecond(ctx.nrPages, ms) };
      },
      finish: () => s.check('fault'),
    };
  },
};

/** The copy-on-write plugin's spec, when `@mmkit/plugins` has it. */
function cowPlugin(): (() => PluginSpec) | undefined {
  const f = (plugins as Record<string, unknown>).cow;
  return typeof f === 'function' ? (f as () => PluginSpec) : undefined;
}

/** A populated process; each `fork()` returns the time of one fork of it, the child exited. */
function forkBench(s: Sys, len: number): { addr: number; forkMs: () => number } {
  const addr = s.mmap(FIXED_BASE, len, ANON | MAP_FIXED);
  s.populate(addr, len);
  return {
    addr,
    forkMs() {
      let child = -1;
      const ms = timeMs(() => {
        child = s.sys.fork(s.pid);
      });
      s.sys.exit(child);
      return ms;
    },
  };
}

export const fork: Workload = {
  name: 'fork',
  description:
    'fork of a process whose range is populated, then exit of the child: the core eager copy (ms_per_gib) and, with the COW plugin, the copy-on-write page-table copy (cow_ms_per_gib)',
  metrics: [
    { metric: 'ms_per_gib', unit: 'ms/GiB', higherIsBetter: false },
    ...(cowPlugin() ? [{ metric: 'cow_ms_per_gib', unit: 'ms/GiB', higherIsBetter: false }] : []),
  ],
  unavailable: () => null,
  setup(ctx) {
    const len = ctx.nrPages * PAGE;
    // One kernel per child (half the memory, one heap to measure): the eager copy runs on the
    // COW kernel with the process table's fork strategy swapped.
    const cowSpec = cowPlugin();
    const s = new Sys(ctx, ctx.nrPages, 2, cowSpec ? [cowSpec()] : []);
    const cowStrategy = s.sys.procs.forkStrategy;
    const f = forkBench(s, len);
    return {
      run() {
        s.sys.procs.forkStrategy = eagerFork;
        const out: Record<string, number> = { ms_per_gib: (f.forkMs() * 2 ** 30) / len };
        s.sys.procs.forkStrategy = cowStrategy;
        if (cowSpec) out.cow_ms_per_gib = (f.forkMs() * 2 ** 30) / len;
        return out;
      },
      finish: () => s.check('fork'),
    };
  },
};

export const cowBreak: Workload = {
  name: 'cow-break',
  description:
    'copy-on-write breaks: after a COW fork (plugin) of a populated range, a write fault on every page in the child',
  metrics: [{ metric: 'faults_per_s', unit: 'faults/s', higherIsBetter: true }],
  unavailable: () =>
    cowPlugin() ? null : 'needs the copy-on-write plugin (cow in @mmkit/plugins), not yet in mmkit',
  setup(ctx) {
    const spec = cowPlugin();
    if (!spec) throw new Error('cow-break: no COW plugin');
    const len = ctx.nrPages * PAGE;
    const s = new Sys(ctx, ctx.nrPages, 2, [spec()]);
    const addr = s.mmap(FIXED_BASE, len, ANON | MAP_FIXED);
    s.populate(addr, len);
    return {
      run() {
        const child = s.sys.fork(s.pid);
        const vmar = s.sys.procs.require(child).vmar;
        const ms = timeMs(() => {
          for (let va = addr; va < addr + len; va += PAGE)
            if (handlePageFault(vmar, va, ACCESS_WRITE) !== FAULT_HANDLED)
              throw new Error('COW fault failed');
        });
        s.sys.exit(child);
        return { faults_per_s: perSecond(ctx.nrPages, ms) };
      },
      finish: () => s.check('cow-break'),
    };
  },
};

export const mremap: Workload = {
  name: 'mremap',
  description:
    'mremap (MAYMOVE|FIXED) of a populated range, there and back: to an address one page off its 2 MiB alignment (every PTE moves), and to a 2 MiB-aligned one (whole leaf nodes move)',
  metrics: [
    { metric: 'pages_per_s', unit: 'pages/s', higherIsBetter: true },
    { metric: 'aligned_pages_per_s', unit: 'pages/s', higherIsBetter: true },
  ],
  unavailable: () => null,
  setup(ctx) {
    const s = new Sys(ctx, ctx.nrPages);
    const len = ctx.nrPages * PAGE;
    const a = s.mmap(FIXED_BASE, len, ANON | MAP_FIXED);
    s.populate(a, len);
    const gap = Math.ceil(len / 2 ** 30 + 1) * 2 ** 30;
    const unaligned = a + gap + PAGE;
    const aligned = a + 2 * gap;
    /** Milliseconds to move the range from `a` to `to` and back. */
    const thereAndBack = (to: number): number => {
      let there = 0;
      let back = 0;
      const ms = timeMs(() => {
        there = s.sys.mremap(s.pid, a, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
        back = s.sys.mremap(s.pid, to, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, a);
      });
      if (there !== to || back !== a) throw new Error(`mremap returned ${there}, ${back}`);
      return ms;
    };
    return {
      run: () => ({
        pages_per_s: perSecond(2 * ctx.nrPages, thereAndBack(unaligned)),
        aligned_pages_per_s: perSecond(2 * ctx.nrPages, thereAndBack(aligned)),
      }),
      finish: () => s.check('mremap'),
    };
  },
};

/**
 * The CortenMM single-thread microbenchmarks: `CORTENMM_REQUESTS` requests per run, through
 * the system calls; `workers` is the page-table-level variant `--workers` runs.
 */
function cortenmm(
  name: string,
  description: string,
  body: (s: Sys, n: number) => number,
  workers: WorkerVariant,
): Workload {
  return {
    name,
    description,
    workers,
    metrics: [{ metric: 'ops_per_s', unit: 'ops/s', higherIsBetter: true }],
    unavailable: () => null,
    setup(ctx) {
      const s = new Sys(ctx, CORTENMM_REQUESTS * 4);
      return {
        run: () => ({ ops_per_s: perSecond(CORTENMM_REQUESTS, body(s, CORTENMM_REQUESTS)) }),
        finish: () => s.check(name),
      };
    },
  };
}

export const cortenmmMmap = cortenmm(
  'cortenmm-mmap',
  'CortenMM "mmap": anonymous private mmap of 4 pages, the kernel choosing the address',
  (s, n) => {
    const addrs = new Float64Array(n);
    const ms = timeMs(() => {
      for (let i = 0; i < n; i++) addrs[i] = s.mmap(0, 4 * PAGE);
    });
    for (let i = 0; i < n; i++) s.munmap(addrs[i], 4 * PAGE);
    return ms;
  },
  cortenmmOnWorkers('mmap'),
);

export const cortenmmMmapPf = cortenmm(
  'cortenmm-mmap-pf',
  'CortenMM "mmap-PF": mmap of 1 page then a one-byte write to it (one fault)',
  (s, n) => {
    const addrs = new Float64Array(n);
    const ms = timeMs(() => {
      for (let i = 0; i < n; i++) {
        const a = s.mmap(0, PAGE);
        if (s.sys.writeMemory(s.pid, a, ONE_BYTE) !== 0) throw new Error('write faulted');
        addrs[i] = a;
      }
    });
    for (let i = 0; i < n; i++) s.munmap(addrs[i], PAGE);
    return ms;
  },
  cortenmmOnWorkers('mmap-pf'),
);

export const cortenmmPf = cortenmm(
  'cortenmm-pf',
  'CortenMM "PF": a one-byte write to a never-touched page of one big pre-mapped anonymous mapping',
  (s, n) => {
    const a = s.mmap(FIXED_BASE, n * PAGE, ANON | MAP_FIXED);
    const ms = timeMs(() => {
      for (let i = 0; i < n; i++)
        if (s.sys.writeMemory(s.pid, a + i * PAGE, ONE_BYTE) !== 0) throw new Error('write faulted');
    });
    s.munmap(a, n * PAGE);
    return ms;
  },
  cortenmmOnWorkers('pf'),
);

function unmapPages(s: Sys, n: number, touched: boolean): number {
  const a = s.mmap(FIXED_BASE, n * PAGE, ANON | MAP_FIXED);
  if (touched) s.populate(a, n * PAGE);
  return timeMs(() => {
    for (let i = 0; i < n; i++) s.munmap(a + i * PAGE, PAGE);
  });
}

export const cortenmmUnmapVirt = cortenmm(
  'cortenmm-unmap-virt',
  'CortenMM "unmap-virt": munmap of one page of a pre-mapped, never-touched mapping',
  (s, n) => unmapPages(s, n, false),
  cortenmmOnWorkers('unmap-virt'),
);

export const cortenmmUnmap = cortenmm(
  'cortenmm-unmap',
  'CortenMM "unmap": munmap of one page that was faulted in before',
  (s, n) => unmapPages(s, n, true),
  cortenmmOnWorkers('unmap'),
);
