import {
  createKernel,
  eagerFork,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROT_READ,
  PROT_WRITE,
  VMA_LOCK_MASK,
  VMA_LOCKED,
  type Vmar,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

/** Linux's fork clears `VM_LOCKED` and `VM_LOCKONFAULT` in the child (`dup_mmap`); the parent keeps them. */

const P = 0x1000;
const W = 0x10_0000_0000;
const RW = PROT_READ | PROT_WRITE;

/** `[start, end, lock flags]` of every mapping. */
function layout(vmar: Vmar): [number, number, number][] {
  return vmar.views().map((v) => [v.start - W, v.end - W, v.flags & VMA_LOCK_MASK]);
}

describe.each(ARCHS)('fork and mlock on $name', ({ arch }) => {
  it('unlocks the child (its pieces merge again) and leaves the parent locked', () => {
    const kernel = createKernel({ arch, memory: 16 << 20 });
    const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
    s.spawn();
    expect(s.mmap(0, W, 8 * P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(W);
    expect(s.mlock(0, W + 2 * P, 3 * P)).toBe(0);
    const parentLayout: [number, number, number][] = [
      [0, 2 * P, 0],
      [2 * P, 5 * P, VMA_LOCKED],
      [5 * P, 8 * P, 0],
    ];
    expect(layout(s.procs.require(0).vmar)).toEqual(parentLayout);
    const child = s.fork(0);
    expect(layout(s.procs.require(child).vmar)).toEqual([[0, 8 * P, 0]]);
    expect(layout(s.procs.require(0).vmar)).toEqual(parentLayout);
    // A fork of a process with nothing locked keeps its mappings as they are.
    expect(s.mmap(child, W + 16 * P, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toBe(W + 16 * P);
    const grandchild = s.fork(child);
    expect(layout(s.procs.require(grandchild).vmar)).toEqual([
      [0, 8 * P, 0],
      [16 * P, 17 * P, 0],
    ]);
    expect(kernel.check().map((v) => v.message)).toEqual([]);
    for (const pid of [grandchild, child, 0]) expect(s.exit(pid)).toBe(0);
    expect(kernel.check().map((v) => v.message)).toEqual([]);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
  });
});
