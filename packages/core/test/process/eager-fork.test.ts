import {
  createKernel,
  eagerFork,
  LinuxSyscalls,
  MADV_WIPEONFORK,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_READ,
  PROT_WRITE,
  QUERY_MAPPED,
  QUERY_NOT_MAPPED,
  RSS_ANON,
  type Vmar,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';
import { readByte } from '../support/syscalls.ts';

const P = 0x1000;
/** Starts 100 pages into a leaf node so the mapping covers partial and whole nodes. */
const BASE = 0x10_0000_0000 + 100 * P;
const NR_PAGES = 3 * 512;
const RW = PROT_READ | PROT_WRITE;

/** [va, pfn, prop] of every mapped page of `[start, end)`, slot by slot. */
function pages(vmar: Vmar, start: number, end: number): [number, number, number][] {
  const c = vmar.space.cursor(start, end);
  const out: [number, number, number][] = [];
  for (let k = c.query(); k !== 0; k = c.query()) {
    if (k === QUERY_NOT_MAPPED) continue;
    expect(k).toBe(QUERY_MAPPED);
    out.push([c.qVa, c.qPfn, c.qProp]);
  }
  c.drop();
  return out;
}

describe.each(ARCHS)('eager fork of leaf nodes on $name', ({ arch }) => {
  it('gives the child its own copy of every present private page, with the same rights and contents', () => {
    const kernel = createKernel({ arch, memory: 64 << 20 });
    const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
    s.spawn();
    const end = BASE + NR_PAGES * P;
    expect(s.mmap(0, BASE, NR_PAGES * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(BASE);
    // Pages present by a write (distinct contents) or a read, holes, and a read-only stretch.
    for (let i = 0; i < NR_PAGES; i++) {
      if (i % 5 === 4) continue;
      if (i % 3 === 0) expect(s.writeMemory(0, BASE + i * P, Uint8Array.of((i % 250) + 1))).toBe(0);
      else readByte(s, 0, BASE + i * P);
    }
    expect(s.mprotect(0, BASE + 600 * P, 200 * P, PROT_READ)).toBe(0);
    const parent = s.procs.require(0).vmar;
    const before = pages(parent, BASE, end);
    expect(before.length).toBeGreaterThan(NR_PAGES / 2);

    const pid = s.fork(0);
    const child = s.procs.require(pid).vmar;
    const after = pages(child, BASE, end);
    // The parent is unchanged; the child maps the same pages with the same rights, its own
    // frames for pages the parent wrote.
    expect(pages(parent, BASE, end)).toEqual(before);
    expect(after.map(([va, , prop]) => [va, prop])).toEqual(before.map(([va, , prop]) => [va, prop]));
    after.forEach(([va, pfn], j) => {
      const i = (va - BASE) / P;
      if (i % 3 === 0) expect(pfn).not.toBe(before[j][1]);
      expect(readByte(s, pid, va)).toBe(readByte(s, 0, va));
    });
    expect(child.rss[RSS_ANON]).toBe(after.length);
    expect(kernel.check().map((v) => v.message)).toEqual([]);
    // Writes in one process are not seen by the other.
    expect(s.writeMemory(pid, BASE, Uint8Array.of(200))).toBe(0);
    expect(readByte(s, 0, BASE)).toBe(1);
    s.exit(pid);
    s.exit(0);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
    expect(kernel.check()).toEqual([]);
  });

  it('copies no PTE of a shared or wipe-on-fork mapping: the child faults shared pages in again, wiped ones read zero', () => {
    for (const strategy of [eagerFork, { name: 'eager, emptied after', fork: eagerFork.fork }]) {
      const kernel = createKernel({ arch, memory: 64 << 20 });
      const s = new LinuxSyscalls(kernel, { forkStrategy: strategy });
      s.spawn();
      const shared = BASE;
      const wiped = BASE + 1024 * P;
      expect(s.mmap(0, shared, 8 * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)).toBe(shared);
      expect(s.mmap(0, wiped, 8 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(wiped);
      expect(s.madvise(0, wiped, 8 * P, MADV_WIPEONFORK)).toBe(0);
      for (let i = 0; i < 8; i++) {
        expect(s.writeMemory(0, shared + i * P, Uint8Array.of(i + 1))).toBe(0);
        expect(s.writeMemory(0, wiped + i * P, Uint8Array.of(i + 11))).toBe(0);
      }
      const pid = s.fork(0);
      const child = s.procs.require(pid).vmar;
      expect(pages(child, shared, shared + 8 * P)).toEqual([]);
      expect(pages(child, wiped, wiped + 8 * P)).toEqual([]);
      expect(child.rss.reduce((a, b) => a + b, 0)).toBe(0);
      expect(kernel.check().map((v) => v.message)).toEqual([]);
      for (let i = 0; i < 8; i++) {
        expect(readByte(s, pid, shared + i * P)).toBe(i + 1);
        expect(readByte(s, pid, wiped + i * P)).toBe(0);
        expect(readByte(s, 0, wiped + i * P)).toBe(i + 11);
      }
      // A store in the child reaches the parent through the shared object.
      expect(s.writeMemory(pid, shared, Uint8Array.of(99))).toBe(0);
      expect(readByte(s, 0, shared)).toBe(99);
      expect(kernel.check().map((v) => v.message)).toEqual([]);
      s.exit(0);
      s.exit(pid);
      expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
      expect(kernel.check()).toEqual([]);
    }
  });
});
