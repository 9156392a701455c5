import { x86_64 } from '@mmkit/arch-x86_64';
import {
  createKernel,
  eagerFork,
  type ForkStrategy,
  LinuxSyscalls,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MmError,
  PROT_READ,
  PROT_WRITE,
  QUERY_MAPPED,
  RSS_ANON,
  RSS_FILE,
  type Vmar,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';
import { readByte } from '../support/syscalls.ts';

const P = 0x1000;
const W = 0x10_0000_0000;
const RW = PROT_READ | PROT_WRITE;

function poke(s: LinuxSyscalls, pid: number, va: number, v: number): void {
  expect(s.writeMemory(pid, va, Uint8Array.of(v))).toBe(0);
}

function pfnAt(vmar: Vmar, va: number): number {
  const c = vmar.space.cursor(va, va + P);
  try {
    return c.query() === QUERY_MAPPED ? c.qPfn : -1;
  } finally {
    c.drop();
  }
}

function clean(s: LinuxSyscalls): void {
  expect(s.kernel.check().map((v) => v.message)).toEqual([]);
}

describe.each(ARCHS)('fork and exit on $name', ({ arch }) => {
  it('keeps what an exiting process wrote to shared memory that another process still maps', () => {
    const kernel = createKernel({ arch, memory: 16 << 20 });
    const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
    s.spawn();
    s.mmap(0, W, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    const child = s.fork(0); // the child's mapping has no PTE (Linux copies none of shared memory)
    poke(s, 0, W, 7); // dirty in the parent's PTE only
    expect(s.exit(0)).toBe(0); // the object lives on in the child: the dirty bit is recorded
    expect(readByte(s, child, W)).toBe(7); // maps the page clean in the child
    // Paged out with no swap: a page written since it was committed stays, a clean one goes.
    expect(s.madvise(child, W, P, MADV_PAGEOUT)).toBe(0);
    expect(readByte(s, child, W)).toBe(7);
    clean(s);
    expect(s.exit(child)).toBe(0);
    clean(s);
  });

  it('copies private pages and shares shared ones; exit returns every frame', () => {
    const kernel = createKernel({ arch, memory: 16 << 20 });
    const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
    s.spawn();
    s.mmap(0, W, 2 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    s.mmap(0, W + 4 * P, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    poke(s, 0, W, 1);
    poke(s, 0, W + 4 * P, 2);
    const child = s.fork(0);
    expect(child).toBe(1);
    const parentVmar = s.procs.require(0).vmar;
    const childVmar = s.procs.require(1).vmar;
    expect(pfnAt(childVmar, W)).not.toBe(pfnAt(parentVmar, W)); // the eager copy
    // Linux copies no PTE of a shared mapping: the child's first access finds the same page.
    expect(pfnAt(childVmar, W + 4 * P)).toBe(-1);
    expect([childVmar.rss[RSS_ANON], childVmar.rss[RSS_FILE]]).toEqual([1, 0]);
    expect(readByte(s, 1, W + 4 * P)).toBe(2);
    expect(pfnAt(childVmar, W + 4 * P)).toBe(pfnAt(parentVmar, W + 4 * P));
    expect(readByte(s, 1, W)).toBe(1);
    poke(s, 1, W, 10);
    poke(s, 1, W + 4 * P, 20);
    expect(readByte(s, 0, W)).toBe(1);
    expect(readByte(s, 0, W + 4 * P)).toBe(20);
    poke(s, 0, W + 5 * P, 30); // a page the child never touched
    expect(readByte(s, 1, W + 5 * P)).toBe(30);
    clean(s);
    s.exit(0);
    expect(readByte(s, 1, W + 4 * P)).toBe(20); // the shared object outlives the parent
    clean(s);
    s.exit(1);
    expect(s.procs.live).toEqual([]);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
    expect(kernel.check()).toEqual([]);
  });

  it.each([
    { what: 'with one TLB flush', listening: false },
    { what: 'mapping by mapping for an unmap listener', listening: true },
  ])('tears the address space down at exit $what; shared pages live on', ({ listening }) => {
    const kernel = createKernel({ arch, memory: 16 << 20 });
    const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
    s.spawn();
    s.mmap(0, W, 40 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    s.mmap(0, W + 64 * P, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    s.mmap(0, W + 80 * P, 3 * P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    // The last PTEs of the leaf node: its teardown must reach them.
    s.mmap(0, W + 510 * P, 2 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    poke(s, 0, W + 511 * P, 5);
    for (let i = 0; i < 40; i++) poke(s, 0, W + i * P, i);
    poke(s, 0, W + 64 * P, 7);
    const child = s.fork(0);
    const events: number[][] = [];
    if (listening) kernel.events.on('unmap', (pid, va, len, n) => events.push([pid, va - W, len, n]));
    const flushes = kernel.tlb.nrFlushes;
    s.exit(0);
    if (listening)
      expect(events).toEqual([
        [0, 0, 40 * P, 40],
        [0, 64 * P, 2 * P, 1],
        [0, 80 * P, 3 * P, 0],
        [0, 510 * P, 2 * P, 1],
      ]);
    else expect(kernel.tlb.nrFlushes - flushes).toBe(1);
    clean(s);
    expect(readByte(s, child, W + 64 * P)).toBe(7);
    expect(readByte(s, child, W + 39 * P)).toBe(39);
    s.exit(child);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
    clean(s);
  });

  it('runs the configured fork strategy and rejects dead pids', () => {
    const calls: number[] = [];
    const counting: ForkStrategy = {
      name: 'counting',
      fork(parent, child) {
        calls.push(parent.mappings.size);
        eagerFork.fork(parent, child);
      },
    };
    const s = new LinuxSyscalls(createKernel({ arch: x86_64, memory: 16 << 20 }), { forkStrategy: counting });
    s.spawn();
    s.mmap(0, W, P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    expect(s.fork(0)).toBe(1);
    expect(calls).toEqual([1]);
    s.exit(1);
    expect(() => s.fork(1)).toThrow(MmError);
    expect(() => s.mmap(1, W, P, RW, MAP_PRIVATE | MAP_ANONYMOUS)).toThrow(MmError);
    expect(s.fork(0)).toBe(2); // pids are never reused
  });
});
