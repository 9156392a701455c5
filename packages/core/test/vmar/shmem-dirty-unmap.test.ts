import {
  AnonVmo,
  createKernel,
  eagerFork,
  LinuxSyscalls,
  MADV_DONTNEED,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MS_SYNC,
  PROP_DIRTY,
  PROT_READ,
  PROT_WRITE,
  QUERY_MAPPED,
  type Vmar,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';
import { readByte } from '../support/syscalls.ts';

/**
 * Shared anonymous memory keeps the dirty bit of every PTE that goes while the object lives
 * on: munmap, MADV_DONTNEED and a cleared VMAR gather them in the unmap's own pass over the
 * PTEs (`Vmo.pageDirtied`), exit in a walk before the page table goes. Either way the object
 * must end up with exactly the pages whose PTEs were dirty, as a walk of the PTEs just
 * before the unmap finds them.
 */

const P = 0x1000;
const W = 0x10_0000_0000;
const RW = PROT_READ | PROT_WRITE;
const PAGES = 8;

function setup(arch: (typeof ARCHS)[number]['arch']): { s: LinuxSyscalls; child: number; vmo: AnonVmo } {
  const kernel = createKernel({ arch, memory: 16 << 20 });
  const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
  s.spawn();
  expect(s.mmap(0, W, PAGES * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)).toBe(W);
  const child = s.fork(0);
  const vmar = s.procs.require(0).vmar;
  const vmo = vmar.maps.vmo(vmar.findMapping(W));
  if (!(vmo instanceof AnonVmo)) throw new Error('a shared anonymous mapping without its AnonVmo');
  return { s, child, vmo };
}

/** The pages of the object at `[va, va + len)` of `vmar` whose PTE is present and dirty. */
function dirtyPtes(vmar: Vmar, va: number, len: number): number[] {
  const out: number[] = [];
  const m = vmar.findMapping(va);
  const c = vmar.space.cursor(va, va + len);
  try {
    for (let at = va; at < va + len; at += P) {
      c.jump(at);
      if (c.query() === QUERY_MAPPED && (c.qProp & PROP_DIRTY) !== 0) out.push(vmar.maps.vmoIndex(m, at));
    }
  } finally {
    c.drop();
  }
  return out;
}

/** The object's pages recorded dirty (a present PTE's own bit not counted). */
function recordedDirty(vmo: AnonVmo): number[] {
  const out: number[] = [];
  for (let i = 0; i < vmo.nrPages; i++) if (vmo.isDirty(i, false)) out.push(i);
  return out;
}

function clean(s: LinuxSyscalls): void {
  expect(s.kernel.check().map((v) => v.message)).toEqual([]);
}

/** The parent writes pages 1, 4 and 6 and reads 0, 2 and 5; the child reads every page. */
function touch(s: LinuxSyscalls, child: number): void {
  for (const i of [1, 4, 6]) expect(s.writeMemory(0, W + i * P, Uint8Array.of(0x40 + i))).toBe(0);
  for (const i of [0, 2, 5]) readByte(s, 0, W + i * P);
  for (let i = 0; i < PAGES; i++) readByte(s, child, W + i * P);
}

describe.each(ARCHS)('dirty bits of shared anonymous memory on $name', ({ arch }) => {
  const removals: [string, (s: LinuxSyscalls) => void, number, number][] = [
    ['munmap of the whole mapping', (s) => expect(s.munmap(0, W, PAGES * P)).toBe(0), 0, PAGES],
    ['munmap of a middle part (a split)', (s) => expect(s.munmap(0, W + 2 * P, 3 * P)).toBe(0), 2, 5],
    ['MADV_DONTNEED of a part', (s) => expect(s.madvise(0, W + P, 4 * P, MADV_DONTNEED)).toBe(0), 1, 5],
    ['exit', (s) => expect(s.exit(0)).toBe(0), 0, PAGES],
  ];

  it.each(removals)('%s records exactly the pages whose PTEs were dirty', (_name, remove, first, last) => {
    const { s, child, vmo } = setup(arch);
    touch(s, child);
    const vmar = s.procs.require(0).vmar;
    const expected = dirtyPtes(vmar, W + first * P, (last - first) * P);
    expect(expected).toEqual([1, 4, 6].filter((i) => i >= first && i < last));
    expect(recordedDirty(vmo)).toEqual([]);
    remove(s);
    expect(recordedDirty(vmo)).toEqual(expected);
    clean(s);
    // The other process still maps every page, with what was written.
    for (const i of [1, 4, 6]) expect(readByte(s, child, W + i * P)).toBe(0x40 + i);
    expect(s.msync(child, W, PAGES * P, MS_SYNC)).toBe(0);
    expect(recordedDirty(vmo)).toEqual(expected);
    // Paged out from the child, whose PTE is now the only one: written pages stay, clean ones go.
    if (s.procs.get(0) !== undefined) expect(s.munmap(0, W, PAGES * P)).toBe(0);
    const before = vmo.nrCommitted;
    expect(s.madvise(child, W, PAGES * P, MADV_PAGEOUT)).toBe(0);
    expect(vmo.nrCommitted).toBe(before - (PAGES - 3));
    for (const i of [1, 4, 6]) expect(readByte(s, child, W + i * P)).toBe(0x40 + i);
    clean(s);
    expect(s.exit(child)).toBe(0);
    if (s.procs.get(0) !== undefined) expect(s.exit(0)).toBe(0);
    clean(s);
    expect(s.kernel.frames.nrInUse).toBe(s.kernel.nrBootFrames);
  });

  it('a cleared VMAR gathers the dirty bits of every mapping while it unmaps', () => {
    const { s, child, vmo } = setup(arch);
    touch(s, child);
    const vmar = s.procs.require(0).vmar;
    const expected = dirtyPtes(vmar, W, PAGES * P);
    vmar.clear();
    expect(recordedDirty(vmo)).toEqual(expected);
    expect(vmar.mappings.size).toBe(0);
    clean(s);
    expect(s.exit(child)).toBe(0);
    expect(s.exit(0)).toBe(0);
    clean(s);
    expect(s.kernel.frames.nrInUse).toBe(s.kernel.nrBootFrames);
  });
  it('exit walks every mapping of objects that outlive it, pieces of one object included', () => {
    const { s, child, vmo } = setup(arch);
    const B = W + 16 * P;
    expect(s.mmap(0, W + 10 * P, 2 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(W + 10 * P);
    expect(s.mmap(0, B, 4 * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)).toBe(B);
    const vmar = s.procs.require(0).vmar;
    const other = vmar.maps.vmo(vmar.findMapping(B));
    if (!(other instanceof AnonVmo)) throw new Error('a shared anonymous mapping without its AnonVmo');
    const second = s.fork(0); // maps the second object too (the first child does not)
    touch(s, child);
    for (const i of [0, 3]) expect(s.writeMemory(0, B + i * P, Uint8Array.of(0x60 + i))).toBe(0);
    expect(s.writeMemory(0, W + 10 * P, Uint8Array.of(1))).toBe(0);
    // Three pieces of the first object; the middle one keeps its dirty PTE read-only.
    expect(s.mprotect(0, W + 4 * P, P, PROT_READ)).toBe(0);
    expect(vmar.mappings.size).toBe(5);
    const expected = dirtyPtes(vmar, W, PAGES * P);
    const expectedOther = dirtyPtes(vmar, B, 4 * P);
    expect([expected, expectedOther]).toEqual([
      [1, 4, 6],
      [0, 3],
    ]);
    expect(s.exit(0)).toBe(0);
    expect([recordedDirty(vmo), recordedDirty(other)]).toEqual([expected, expectedOther]);
    clean(s);
    for (const i of [1, 4, 6]) expect(readByte(s, child, W + i * P)).toBe(0x40 + i);
    for (const i of [0, 3]) expect(readByte(s, second, B + i * P)).toBe(0x60 + i);
    expect(s.exit(child)).toBe(0);
    expect(s.exit(second)).toBe(0);
    clean(s);
    expect(s.kernel.frames.nrInUse).toBe(s.kernel.nrBootFrames);
  });

  it('exit of the last process mapping an object in pieces frees its pages', () => {
    const kernel = createKernel({ arch, memory: 16 << 20 });
    const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
    s.spawn();
    expect(s.mmap(0, W, PAGES * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)).toBe(W);
    for (let i = 0; i < PAGES; i++) expect(s.writeMemory(0, W + i * P, Uint8Array.of(i))).toBe(0);
    expect(s.mprotect(0, W + 2 * P, P, PROT_READ)).toBe(0);
    const vmar = s.procs.require(0).vmar;
    const vmo = vmar.maps.vmo(vmar.findMapping(W));
    expect(vmo?.nrRefs).toBe(3);
    expect(s.exit(0)).toBe(0);
    expect(vmo?.nrRefs).toBe(0);
    clean(s);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
  });
});
