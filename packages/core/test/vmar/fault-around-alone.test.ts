import {
  createKernel,
  eagerFork,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_SHARED,
  PROP_W,
  PROT_READ,
  PROT_WRITE,
  QUERY_MAPPED,
  RSS_FILE,
  type Vmar,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';
import { readByte } from '../support/syscalls.ts';

/**
 * A read fault on shared anonymous memory maps around the page only the pages the object
 * already has. Where it has none other in the window, the fault maps the page alone (in its
 * leaf node, without the window's cursor); where it has some, the window. Both give what
 * Linux's fault-around gives: the committed pages of the window mapped read-only.
 */

const P = 0x1000;
const W = 0x10_0000_0000;
const RW = PROT_READ | PROT_WRITE;

/** The mapped pages of `[W, W + n pages)` (page numbers) and whether each is writable. */
function mapped(vmar: Vmar, n: number): [number, boolean][] {
  const out: [number, boolean][] = [];
  const c = vmar.space.cursor(W, W + n * P);
  try {
    for (let i = 0; i < n; i++) {
      c.jump(W + i * P);
      if (c.query() === QUERY_MAPPED) out.push([i, (c.qProp & PROP_W) !== 0]);
    }
  } finally {
    c.drop();
  }
  return out;
}

describe.each(ARCHS)('faults-around of shared anonymous memory on $name', ({ arch }) => {
  it('maps the window only where the object has other pages in it', () => {
    const kernel = createKernel({ arch, memory: 16 << 20 });
    const s = new LinuxSyscalls(kernel, { forkStrategy: eagerFork });
    s.spawn();
    expect(s.mmap(0, W, 32 * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)).toBe(W);
    expect(s.writeMemory(0, W, Uint8Array.of(1))).toBe(0);
    const child = s.fork(0); // no PTE of shared memory in the child
    const vmar = s.procs.require(child).vmar;
    // No leaf node yet: the window [0, 16) maps page 0 too, which the object has.
    expect(readByte(s, child, W + 5 * P)).toBe(0);
    expect(mapped(vmar, 32)).toEqual([
      [0, false],
      [5, false],
    ]);
    // The leaf node exists, the object has no other page in [16, 32): page 20 alone.
    expect(readByte(s, child, W + 20 * P)).toBe(0);
    expect(mapped(vmar, 32)).toEqual([
      [0, false],
      [5, false],
      [20, false],
    ]);
    // The parent commits page 25: a read of page 18 maps it too (page 20 is mapped already).
    expect(s.writeMemory(0, W + 25 * P, Uint8Array.of(7))).toBe(0);
    expect(readByte(s, child, W + 18 * P)).toBe(0);
    expect(mapped(vmar, 32)).toEqual([
      [0, false],
      [5, false],
      [18, false],
      [20, false],
      [25, false],
    ]);
    expect(readByte(s, child, W + 25 * P)).toBe(7);
    expect(vmar.rss[RSS_FILE]).toBe(5);
    expect(kernel.check().map((v) => v.message)).toEqual([]);
    expect(s.exit(child)).toBe(0);
    expect(s.exit(0)).toBe(0);
    expect(kernel.check().map((v) => v.message)).toEqual([]);
    expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
  });
});
