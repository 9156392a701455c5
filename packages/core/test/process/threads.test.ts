import {
  type Kernel,
  LinuxSyscalls,
  MADV_DODUMP,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MmapLock,
  madviseLock,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type Thread,
  type ThreadOp,
  ThreadOps,
  type ThreadProgram,
  ThreadScheduler,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS, expectClean, testKernel } from '../support/configs.ts';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function world(cpus = 2): { k: Kernel; sys: LinuxSyscalls } {
  const k = testKernel({ arch: ARCHS[0].arch }, { tlb: { cpus } });
  return { k, sys: new LinuxSyscalls(k) };
}

/** A hand-made operation holding the lock `steps` steps; `seen` records what it saw when it ran. */
function op(
  kind: string,
  lock: 'read' | 'write',
  steps: number,
  seen: string[],
  downgradeAfter?: number,
): ThreadOp {
  return {
    kind,
    lock,
    steps,
    downgradeAfter,
    run: () => {
      seen.push(kind);
      return 0;
    },
  };
}

function* program(...ops: ThreadOp[]): ThreadProgram {
  for (const o of ops) yield o;
}

describe('MmapLock (the rw-semaphore model)', () => {
  it('queues readers behind a waiting writer and wakes every waiting reader at once', () => {
    const lock = new MmapLock();
    expect(lock.acquire(1, 'read', 0)).toBe(true);
    expect(lock.acquire(2, 'write', 1)).toBe(false);
    expect(lock.acquire(3, 'read', 2)).toBe(false); // a writer waits: no new reader gets in
    expect(lock.release(1, 5)).toEqual([2]);
    expect(lock.writeHolder).toBe(2);
    expect(lock.acquire(4, 'write', 6)).toBe(false);
    expect(lock.acquire(5, 'read', 7)).toBe(false);
    expect(lock.release(2, 9)).toEqual([3, 5]); // readers 3 and 5 pass writer 4
    expect(lock.nrReaders).toBe(2);
    expect(lock.nrWaiters).toBe(1);
    expect(lock.release(3, 10)).toEqual([]);
    expect(lock.release(5, 11)).toEqual([4]);
    expect(lock.check('test')).toEqual([]);
    expect(lock.reads).toEqual({ acquired: 3, waited: 2, waitSteps: 7 + 2, maxWaitSteps: 7 });
    expect(lock.writes).toEqual({ acquired: 2, waited: 2, waitSteps: 4 + 5, maxWaitSteps: 5 });
  });

  it('refuses to release or downgrade a lock the thread does not hold', () => {
    const lock = new MmapLock();
    expect(() => lock.release(1, 0)).toThrow(/does not hold/);
    lock.acquire(1, 'read', 0);
    expect(() => lock.downgrade(1, 0)).toThrow(/for write/);
    expect(() => lock.acquire(1, 'read', 0)).toThrow(/already holds/);
  });

  it('takes madvise for read only for advice that does not change mappings', () => {
    expect(madviseLock(MADV_DONTNEED)).toBe('read');
    expect(madviseLock(MADV_DODUMP)).toBe('write');
  });
});

describe('ThreadScheduler: exact lock counts on hand-built schedules', () => {
  it('makes readers wait behind a writer for the steps it holds the lock', () => {
    const { k, sys } = world();
    const p = sys.procs.spawn();
    const t0 = p.threads.get(p.pid) as Thread;
    const t1 = sys.procs.clone(p.pid);
    const t2 = sys.procs.clone(p.pid);
    const seen: string[] = [];
    const s = new ThreadScheduler(sys.procs, { schedule: [t0.tid, t1.tid, t2.tid, t0.tid, t0.tid, t0.tid] });
    s.add(t0, program(op('w', 'write', 3, seen)));
    s.add(t1, program(op('r1', 'read', 2, seen)));
    s.add(t2, program(op('r2', 'read', 1, seen)));
    s.run();
    // step 0: t0 writes (3 steps: 0, 3, 4); steps 1, 2: t1 and t2 queue; step 4 releases and
    // wakes both readers (waits 3 and 2); t0 ends at 5; t1 runs at 6-7, t2 at 9; each ends once.
    expect(seen).toEqual(['w', 'r1', 'r2']);
    expect(s.nrSteps).toBe(11);
    expect(p.mmapLock.writes).toEqual({ acquired: 1, waited: 0, waitSteps: 0, maxWaitSteps: 0 });
    expect(p.mmapLock.reads).toEqual({ acquired: 2, waited: 2, waitSteps: 5, maxWaitSteps: 3 });
    expect([t0.nrOps, t1.nrOps, t2.nrOps]).toEqual([1, 1, 1]);
    expectClean(k);
  });

  it('keeps a late reader out while a writer waits for the readers to leave', () => {
    const { sys } = world();
    const p = sys.procs.spawn();
    const [t0, t1, t2] = [p.threads.get(p.pid) as Thread, sys.procs.clone(p.pid), sys.procs.clone(p.pid)];
    const seen: string[] = [];
    const s = new ThreadScheduler(sys.procs, {
      schedule: [t0.tid, t1.tid, t2.tid, t0.tid, t0.tid, t1.tid, t2.tid],
    });
    s.add(t0, program(op('r0', 'read', 3, seen)));
    s.add(t1, program(op('w1', 'write', 1, seen)));
    s.add(t2, program(op('r2', 'read', 1, seen)));
    s.run();
    expect(seen).toEqual(['r0', 'w1', 'r2']);
    expect(p.mmapLock.writes).toEqual({ acquired: 1, waited: 1, waitSteps: 3, maxWaitSteps: 3 });
    expect(p.mmapLock.reads).toEqual({ acquired: 2, waited: 1, waitSteps: 3, maxWaitSteps: 3 });
    expect(s.nrSteps).toBe(10);
  });

  it('lets waiting readers in when a writer downgrades', () => {
    const { sys } = world();
    const p = sys.procs.spawn();
    const [t0, t1] = [p.threads.get(p.pid) as Thread, sys.procs.clone(p.pid)];
    let readersWhenRun = -1;
    const s = new ThreadScheduler(sys.procs, { schedule: [t0.tid, t1.tid, t0.tid, t1.tid] });
    s.add(t0, program({ kind: 'unmap', lock: 'write', steps: 4, downgradeAfter: 2, run: () => 0 }));
    s.add(
      t1,
      program({
        kind: 'fault',
        lock: 'read',
        steps: 1,
        run: () => {
          readersWhenRun = p.mmapLock.nrReaders;
          return 0;
        },
      }),
    );
    s.run();
    expect(readersWhenRun).toBe(2); // t1 ran while t0 still held the lock, for read
    expect(p.mmapLock.nrDowngrades).toBe(1);
    expect(p.mmapLock.reads).toEqual({ acquired: 1, waited: 1, waitSteps: 1, maxWaitSteps: 1 });
  });

  it('refuses a schedule naming a thread that waits', () => {
    const { sys } = world();
    const p = sys.procs.spawn();
    const [t0, t1] = [p.threads.get(p.pid) as Thread, sys.procs.clone(p.pid)];
    const s = new ThreadScheduler(sys.procs, { schedule: [t0.tid, t1.tid, t1.tid] });
    s.add(t0, program(op('w', 'write', 3, [])));
    s.add(t1, program(op('r', 'read', 1, [])));
    expect(() => s.run()).toThrow(/step 2: thread 1 is not runnable/);
  });
});

describe('per-VMA locks', () => {
  /**
   * Thread 0 mprotects the head of mapping A (4 steps under the write lock) while thread 1
   * faults in mapping B and thread 2 in the tail of A; a guard page lies between A and B.
   */
  function contend(perVmaLocks: boolean) {
    const { k, sys } = world();
    const ops = new ThreadOps(sys, { perVmaLocks });
    const p = sys.procs.spawn();
    // B (8 pages, read-only), a PROT_NONE guard page, A (8 pages, read-write).
    const b = sys.mmap(p.pid, 0, 17 * PAGE, PROT_NONE, ANON);
    const a = b + 9 * PAGE;
    expect(sys.mprotect(p.pid, b, 8 * PAGE, PROT_READ)).toBe(0);
    expect(sys.mprotect(p.pid, a, 8 * PAGE, RW)).toBe(0);
    const [t0, t1, t2] = [p.threads.get(p.pid) as Thread, sys.procs.clone(p.pid), sys.procs.clone(p.pid)];
    const s = new ThreadScheduler(sys.procs, { schedule: [t0.tid, t1.tid, t2.tid, t0.tid, t0.tid, t0.tid] });
    s.add(t0, program(ops.mprotect(t0, a, 4 * PAGE, PROT_READ)));
    s.add(t1, program(ops.load(t1, b, new Uint8Array(1))));
    s.add(t2, program(ops.store(t2, a + 6 * PAGE, Uint8Array.of(1))));
    s.run();
    expect(k.check()).toEqual([]);
    return { lock: p.mmapLock, t1, t2, steps: s.nrSteps };
  }

  it('lets a fault in a mapping the writer did not lock run at once', () => {
    const { lock, t1, t2, steps } = contend(true);
    expect(t1.opsByKind).toEqual(new Map([['load-fault-vma', 1]]));
    expect(t2.opsByKind).toEqual(new Map([['store-fault', 1]])); // its mapping is write-locked
    expect(lock.reads).toEqual({ acquired: 1, waited: 1, waitSteps: 3, maxWaitSteps: 3 });
    expect(steps).toBe(10);
  });

  it('makes both faults wait for the mmap_lock without them', () => {
    const { lock, t1, t2 } = contend(false);
    expect(t1.opsByKind).toEqual(new Map([['load-fault', 1]]));
    expect(t2.opsByKind).toEqual(new Map([['store-fault', 1]]));
    expect(lock.reads).toEqual({ acquired: 2, waited: 2, waitSteps: 7, maxWaitSteps: 4 });
  });

  it('unlocks the mappings when the writer releases or downgrades', () => {
    const lock = new MmapLock();
    lock.acquire(1, 'write', 0);
    lock.lockVmas(1, 0, 100);
    expect(lock.vmaWriteLocked(50, 150)).toBe(true);
    expect(lock.vmaWriteLocked(100, 150)).toBe(false);
    lock.downgrade(1, 1);
    expect(lock.vmaWriteLocked(50, 150)).toBe(false);
    expect(() => lock.lockVmas(1, 0, 100)).toThrow(/without holding the mmap_lock for write/);
    expect(lock.check('test')).toEqual([]);
  });
});

describe('bad input to the thread model', () => {
  it('names the unknown process or thread, and refuses a bad program', () => {
    const { k, sys } = world();
    expect(() => sys.clone(42)).toThrow(/no live process 42/);
    expect(() => sys.exitThread(42)).toThrow(/no live thread 42/);
    const p = sys.procs.spawn();
    const t = p.threads.get(p.pid) as Thread;
    const s = new ThreadScheduler(sys.procs);
    s.add(t, program({ kind: 'nothing', lock: 'read', steps: 0, run: () => 0 }));
    expect(() => s.add(t, program())).toThrow(/already has a program/);
    expect(() => s.run()).toThrow(/nothing: steps must be a positive integer/);
    expect(() => k.tlb.switchTo(p.vmar.space.tlbSpace, 2)).toThrow(/no CPU 2/);
    const other = world().sys;
    expect(() => new ThreadScheduler(other.procs).add(t, program())).toThrow(/not a live thread/);
  });
});

describe('threads of one address space', () => {
  it('sends a flush to every CPU a thread ran on, and leaves no stale TLB entry', () => {
    const { k, sys } = world(4);
    const ops = new ThreadOps(sys);
    const p = sys.procs.spawn();
    const main = p.threads.get(p.pid) as Thread;
    const addr = sys.mmap(p.pid, 0, 8 * PAGE, RW, ANON);
    const workers = [main, sys.procs.clone(p.pid), sys.procs.clone(p.pid), sys.procs.clone(p.pid)];
    expect(workers.map((t) => t.cpu)).toEqual([0, 1, 2, 3]);
    const touch = new ThreadScheduler(sys.procs, { seed: 7 });
    for (const [i, t] of workers.entries()) {
      touch.add(
        t,
        (function* () {
          expect(yield ops.store(t, addr + i * PAGE, Uint8Array.of(i + 1))).toBe(0);
          expect(yield ops.load(t, addr + i * PAGE, new Uint8Array(1))).toBe(0);
        })(),
      );
    }
    touch.run();
    const space = p.vmar.space.tlbSpace;
    for (const [i, t] of workers.entries()) {
      expect(k.tlb.l1[t.cpu].find(space.asid, addr / PAGE + i)).toBeGreaterThanOrEqual(0);
      expect(t.opsByKind).toEqual(
        new Map([
          ['store-fault', 1],
          ['load', 1],
        ]),
      );
    }
    expect(space.cpuMask).toBe(0b1111);
    const before = [...k.tlb.nrShootdownsTo];
    const unmap = new ThreadScheduler(sys.procs, { seed: 1 });
    unmap.add(
      workers[2],
      (function* () {
        expect(yield ops.munmap(workers[2], addr, 8 * PAGE)).toBe(0);
      })(),
    );
    unmap.run();
    // An 8-page flush from CPU 2: an IPI to each other CPU a thread ran on.
    expect(k.tlb.nrShootdownsTo.map((n, cpu) => n - before[cpu])).toEqual([1, 1, 0, 1]);
    expect(k.check()).toEqual([]);
    for (const [i, t] of workers.entries()) {
      expect(k.tlb.l1[t.cpu].find(space.asid, addr / PAGE + i)).toBe(-1);
      expect(k.tlb.l2[t.cpu].find(space.asid, addr / PAGE + i)).toBe(-1);
    }
  });

  it('sends no shootdown for a single-threaded process', () => {
    const { k, sys } = world(4);
    const ops = new ThreadOps(sys);
    const p = sys.procs.spawn();
    const main = p.threads.get(p.pid) as Thread;
    const addr = sys.mmap(p.pid, 0, 8 * PAGE, RW, ANON);
    const s = new ThreadScheduler(sys.procs);
    s.add(
      main,
      (function* () {
        for (let i = 0; i < 8; i++) yield ops.store(main, addr + i * PAGE, Uint8Array.of(1));
        yield ops.munmap(main, addr, 8 * PAGE);
      })(),
    );
    s.run();
    expect(k.tlb.nrShootdowns).toBe(0);
    expectClean(k);
  });

  it('forks only the calling thread, and frees everything when the last thread exits', () => {
    const { k, sys } = world();
    const ops = new ThreadOps(sys);
    const inUse = k.frames.nrInUse;
    const p = sys.procs.spawn();
    const main = p.threads.get(p.pid) as Thread;
    const addr = sys.mmap(p.pid, 0, 4 * PAGE, RW, ANON);
    let childPid = -1;
    const s = new ThreadScheduler(sys.procs, { seed: 3 });
    const worker = (t: Thread): ThreadProgram =>
      (function* () {
        yield ops.store(t, addr + (t.tid % 4) * PAGE, Uint8Array.of(t.tid));
        yield ops.exit(t);
      })();
    s.add(
      main,
      (function* () {
        yield ops.clone(main, worker, s);
        yield ops.clone(main, worker, s);
        childPid = yield ops.fork(main);
        yield ops.store(main, addr, Uint8Array.of(9));
      })(),
    );
    s.run();
    expect(p.threads.size).toBe(1); // the workers exited; the process lives on
    const child = sys.procs.require(childPid);
    expect([...child.threads.keys()]).toEqual([childPid]);
    expect(p.mmapLock.writes.acquired).toBe(1); // the fork
    // Two first-touch store faults and two exits of the workers, main's store fault.
    expect(p.mmapLock.reads.acquired).toBe(5);
    expectClean(k);
    sys.exitThread(main.tid);
    expect(sys.procs.get(p.pid)).toBeUndefined();
    sys.exit(childPid);
    expect(k.frames.nrInUse).toBe(inUse);
    expectClean(k);
  });

  it('keeps every invariant after every step, and gives the same lock figures for the same seed', () => {
    const figures = (seed: number) => {
      const { k, sys } = world();
      const ops = new ThreadOps(sys);
      const p = sys.procs.spawn();
      const addr = sys.mmap(p.pid, 0, 64 * PAGE, RW, ANON);
      const threads = [p.threads.get(p.pid) as Thread, sys.procs.clone(p.pid), sys.procs.clone(p.pid)];
      const violations: string[] = [];
      const afterStep = (step: number) => {
        for (const v of k.check()) violations.push(`step ${step}: ${v.message}`);
      };
      const s = new ThreadScheduler(sys.procs, { seed, afterStep });
      for (const t of threads)
        s.add(
          t,
          (function* () {
            for (let i = 0; i < 16; i++) {
              const va = addr + ((t.tid * 5 + i) % 64) * PAGE; // overlapping: threads change pages others cached
              yield ops.store(t, va, Uint8Array.of(i));
              yield ops.load(t, addr + ((t.tid * 5 + i + 3) % 64) * PAGE, new Uint8Array(1));
              if (i % 4 === 3) yield ops.mprotect(t, va, PAGE, PROT_READ);
              if (i % 8 === 7) yield ops.munmap(t, va, PAGE);
            }
          })(),
        );
      s.run();
      expect(violations).toEqual([]); // after every step, stale TLB entries included
      return { steps: s.nrSteps, reads: { ...p.mmapLock.reads }, writes: { ...p.mmapLock.writes } };
    };
    const a = figures(11);
    expect(figures(11)).toEqual(a);
    expect(a.writes.acquired).toBe(3 * (4 + 2));
    expect(a.reads.waited + a.writes.waited).toBeGreaterThan(0);
  });
});
