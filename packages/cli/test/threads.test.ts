import { createHash } from 'node:crypto';
import { x86_64 } from '@mmkit/arch-x86_64';
import { createKernel, type Kernel, LinuxSyscalls, QUERY_MAPPED } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/archs.ts';
import { applyFlags, DEFAULT_CONFIG, type RunConfig, validateConfig } from '../src/run/config.ts';
import { runWorkload } from '../src/run/run-workload.ts';
import { formatSummary } from '../src/run/summary.ts';
import { ThreadedRun } from '../src/run/threads.ts';
import { ARENA_PAGES, type ArenasLayout, runArenas, SLOT_PAGES } from '../src/run/workloads/arenas.ts';
import { seededRandom } from '../src/run/workloads/workload.ts';

const PAGE = 4096;

/** Runs the arenas workload (`arenas` arenas, workload seed 5) on a fresh kernel. */
function arenasRun(arenas: number, serial: boolean, schedulerSeed: number, cpus = 2) {
  const kernel = createKernel({ arch: x86_64, memory: 128 << 20, debug: true, tlb: { cpus } });
  const sys = new LinuxSyscalls(kernel);
  const bootInUse = kernel.frames.nrInUse;
  const run = new ThreadedRun(sys, schedulerSeed);
  const ctx = {
    kernel,
    sys,
    random: seededRandom(5),
    scale: 0.05,
    seed: 5,
    threads: arenas,
    threaded: run,
    op: () => {},
    progress: () => {},
  };
  const layout = runArenas(ctx, run, arenas, serial);
  return { kernel, sys, run, layout, bootInUse };
}

/**
 * The process's memory in the workload's ranges, page by page: the mapping's rights (or
 * none), whether a frame is mapped, and a digest of its contents.
 */
function memoryState(kernel: Kernel, sys: LinuxSyscalls, layout: ArenasLayout): string[] {
  const vmar = sys.procs.require(layout.pid).vmar;
  const out: string[] = [];
  const ranges: [number, number][] = [
    [layout.heap, layout.arenas * ARENA_PAGES],
    [layout.table, layout.arenas * SLOT_PAGES],
  ];
  for (const [start, pages] of ranges) {
    for (let i = 0; i < pages; i++) {
      const va = start + i * PAGE;
      const m = vmar.findMapping(va);
      const perms = m < 0 ? -1 : vmar.maps.perms(m);
      const c = vmar.space.cursor(va, va + PAGE);
      const pfn = c.query() === QUERY_MAPPED ? c.qPfn : -1;
      c.drop();
      const digest =
        pfn < 0
          ? 'absent'
          : createHash('sha1')
              .update(kernel.memory.read(pfn, 0, PAGE))
              .digest('hex');
      out.push(`${i}:${perms}:${digest}`);
    }
  }
  return out;
}

describe('threads in one address space (the arenas workload)', () => {
  it('ends in the same memory as the same operations on one thread, for any interleaving', () => {
    const serial = arenasRun(4, true, 1);
    const expected = memoryState(serial.kernel, serial.sys, serial.layout);
    expect(serial.run.summary().count).toBe(1);
    expect(expected.filter((s) => !s.endsWith('absent')).length).toBeGreaterThan(50);
    const interleavings = new Set<string>();
    for (const seed of [1, 2, 3]) {
      const threaded = arenasRun(4, false, seed);
      const summary = threaded.run.summary();
      expect(summary.count).toBe(4);
      expect(threaded.layout).toEqual(serial.layout);
      expect(memoryState(threaded.kernel, threaded.sys, threaded.layout)).toEqual(expected);
      expect(threaded.kernel.check()).toEqual([]);
      interleavings.add(JSON.stringify(summary.mmapLock));
      // The same operations per arena: only the thread running them differs.
      const ops = summary.perThread.reduce((n, t) => n + t.ops, 0);
      expect(ops).toBe(serial.run.summary().perThread[0].ops + 3 /* clones */ + 3 /* exits */);
    }
    expect(interleavings.size).toBe(3); // three seeds, three different schedules
  });

  it('sends shootdowns to every CPU a thread ran on, leaves no stale entry and leaks nothing', () => {
    const { kernel, sys, run, layout, bootInUse } = arenasRun(4, false, 9, 4);
    const cpus = new Set(run.summary().perThread.map((t) => t.cpu));
    expect([...cpus].sort()).toEqual([0, 1, 2, 3]);
    for (const cpu of cpus) expect(kernel.tlb.nrShootdownsTo[cpu]).toBeGreaterThan(0);
    expect(kernel.tlb.nrShootdownsTo.reduce((a, b) => a + b, 0)).toBe(kernel.tlb.nrShootdowns);
    expect(kernel.tlb.nrStaleHits).toBe(0);
    expect(kernel.check()).toEqual([]);
    sys.exit(layout.pid);
    expect(kernel.frames.nrInUse).toBe(bootInUse);
    expect(kernel.check()).toEqual([]);
  });

  it('sends no shootdown when one thread runs the same operations', () => {
    const { kernel } = arenasRun(4, true, 9, 4);
    expect(kernel.tlb.nrShootdowns).toBe(0);
    expect(kernel.check()).toEqual([]);
  });
});

describe('mmkit run with threads', () => {
  const small = (over: Partial<RunConfig>): RunConfig => ({
    ...DEFAULT_CONFIG,
    memory: 128 << 20,
    scale: 0.05,
    workload: 'arenas',
    ...over,
  });

  it('validates threads in a config file and on the command line', () => {
    expect(validateConfig({ threads: 8 }, 'k.json').threads).toBe(8);
    expect(validateConfig({}, 'k.json').threads).toBe(1);
    for (const bad of [0, 65, 2.5, '4', -1])
      expect(() => validateConfig({ threads: bad }, 'k.json')).toThrow(
        /k\.json: threads: expected a whole number of threads from 1 to 64/,
      );
    expect(validateConfig({ perVmaLocks: true }, 'k.json').perVmaLocks).toBe(true);
    expect(() => validateConfig({ perVmaLocks: 'yes' }, 'k.json')).toThrow(
      /k\.json: perVmaLocks: expected true or false/,
    );
    expect(applyFlags(DEFAULT_CONFIG, { threads: '3' }).threads).toBe(3);
    expect(() => applyFlags(DEFAULT_CONFIG, { threads: 'many' })).toThrow(/command line: threads: expected/);
  });

  it('refuses threads for a workload that runs single-threaded processes', () => {
    expect(() => runWorkload(small({ workload: 'server', threads: 2 }))).toThrow(UsageError);
    expect(() => runWorkload(small({ workload: 'server', threads: 2 }))).toThrow(
      /threads 2: workload 'server' runs single-threaded processes; this applies to the threaded workloads \(arenas\)/,
    );
    expect(() => runWorkload(small({ workload: 'allocator', perVmaLocks: true }))).toThrow(
      /perVmaLocks: workload 'allocator' runs single-threaded processes/,
    );
  });

  it('takes faults under per-VMA locks where no writer locked their mapping', () => {
    const s = runWorkload(small({ threads: 3, seed: 4, perVmaLocks: true }));
    expect(s.check.ok).toBe(true);
    expect(s.afterExit.leaked).toBe(0);
    const t = s.threads;
    expect(t?.perVmaLocks).toBe(true);
    const k = s.operations.byKind;
    const vmaFaults = (k['load-fault-vma'] ?? 0) + (k['store-fault-vma'] ?? 0);
    const mmapLockFaults = (k['load-fault'] ?? 0) + (k['store-fault'] ?? 0);
    expect(vmaFaults).toBeGreaterThan(0);
    // The same operations as without per-VMA locks (whether an access faults may differ: a
    // shared table page is faulted in by whichever thread touches it first).
    expect(s.operations.total).toBe(runWorkload(small({ threads: 3, seed: 4 })).operations.total);
    expect(t?.mmapLock.reads.acquired).toBe(mmapLockFaults + (k.madvise ?? 0) + (k.exit ?? 0));
    expect(formatSummary(s)).toMatch(/faults under per-VMA locks where possible/);
  });

  it('reports per-thread operations, mmap_lock contention and shootdowns per CPU', () => {
    const s = runWorkload(small({ threads: 3, seed: 4 }));
    expect(s.check.ok).toBe(true);
    expect(s.afterExit.leaked).toBe(0);
    expect(s.afterExit.check.ok).toBe(true);
    const t = s.threads;
    expect(t).not.toBeNull();
    if (t === null) return;
    expect(t.perThread.map((p) => p.tid)).toEqual([0, 1, 2]);
    expect(t.perThread.reduce((n, p) => n + p.ops, 0)).toBe(s.operations.total);
    expect(t.mmapLock.writes.acquired).toBe(
      (s.operations.byKind.mmap ?? 0) + (s.operations.byKind.mprotect ?? 0),
    );
    expect(t.mmapLock.reads.acquired).toBe(
      (s.operations.byKind['load-fault'] ?? 0) +
        (s.operations.byKind['store-fault'] ?? 0) +
        (s.operations.byKind.madvise ?? 0) +
        (s.operations.byKind.exit ?? 0),
    );
    expect(s.tlb.shootdownsByCpu.reduce((a, b) => a + b, 0)).toBe(s.tlb.shootdowns);
    const text = formatSummary(s);
    expect(text).toMatch(/threads\s+3, \d+ scheduler steps \(seed 4\)/);
    expect(text).toMatch(/tid 2\s+pid 0, CPU 0: \d+ ops/);
    expect(text).toMatch(/mmap_lock reads\s+\d+ \(\d+ waited, \d+ steps in all, longest \d+\)/);
    expect(text).toMatch(/shootdowns to\s+CPU 0 \d+, CPU 1 \d+/);
    expect(JSON.parse(JSON.stringify(s)).threads.mmapLock.reads.acquired).toBe(t.mmapLock.reads.acquired);
  });
});
