import {
  createKernel,
  LinuxSyscalls,
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  MS_SYNC,
} from '@mmkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

const P = 0x1000;
const W = 0x10_0000_0000;
const PAGES = 48;

const page = fc.integer({ min: 0, max: PAGES - 1 });
const len = fc.integer({ min: 1, max: 12 });
const prot = fc.integer({ min: 0, max: 7 }).filter((p) => p !== 4); // never execute-only
const who = fc.nat(7);

/** One random operation; `who` picks a live process. */
const op = fc.oneof(
  fc.record({
    kind: fc.constant('mmap' as const),
    who,
    page,
    len,
    prot,
    shared: fc.boolean(),
    place: fc.constantFrom(MAP_FIXED, MAP_FIXED_NOREPLACE, 0),
  }),
  fc.record({
    kind: fc.constantFrom('munmap' as const, 'madvise' as const, 'msync' as const),
    who,
    page,
    len,
  }),
  fc.record({ kind: fc.constant('mprotect' as const), who, page, len, prot }),
  fc.record({
    kind: fc.constant('mremap' as const),
    who,
    page,
    oldLen: fc.integer({ min: 0, max: 12 }),
    newLen: len,
    flags: fc.constantFrom(0, MREMAP_MAYMOVE, MREMAP_MAYMOVE | MREMAP_FIXED),
    to: page,
  }),
  fc.record({
    kind: fc.constantFrom('write' as const, 'read' as const),
    who,
    page,
    byte: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ kind: fc.constantFrom('fork' as const, 'exit' as const), who }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function apply(s: LinuxSyscalls, o: Op): void {
  const live = s.procs.live;
  if (live.length === 0) {
    s.spawn();
    return;
  }
  const pid = live[o.who % live.length].pid;
  switch (o.kind) {
    case 'mmap': {
      const flags = (o.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | o.place;
      s.mmap(pid, W + o.page * P, o.len * P, o.prot, flags);
      return;
    }
    case 'munmap':
      s.munmap(pid, W + o.page * P, o.len * P);
      return;
    case 'madvise':
      s.madvise(pid, W + o.page * P, o.len * P, MADV_DONTNEED);
      return;
    case 'msync':
      s.msync(pid, W + o.page * P, o.len * P, MS_SYNC);
      return;
    case 'mprotect':
      s.mprotect(pid, W + o.page * P, o.len * P, o.prot);
      return;
    case 'mremap':
      s.mremap(pid, W + o.page * P, o.oldLen * P, o.newLen * P, o.flags, W + (o.to + PAGES) * P);
      return;
    case 'write':
      s.writeMemory(pid, W + o.page * P + o.byte, Uint8Array.of(o.byte));
      return;
    case 'read':
      s.readMemory(pid, W + o.page * P + o.byte, new Uint8Array(4));
      return;
    case 'fork':
      if (live.length < 6) s.fork(pid);
      return;
    case 'exit':
      s.exit(pid);
      return;
  }
}

describe.each(ARCHS)('random system-call sequences on $name', ({ arch }) => {
  it('keep every invariant after every op, and leave only the kernel frames when all exit', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80, size: 'max' }), (ops) => {
        const kernel = createKernel({ arch, memory: 16 << 20 });
        const s = new LinuxSyscalls(kernel);
        s.spawn();
        for (const o of ops) {
          apply(s, o);
          const violations = kernel.check();
          expect(violations.map((v) => `${o.kind}: ${v.message}`)).toEqual([]);
        }
        for (const p of s.procs.live) s.exit(p.pid);
        expect(kernel.check()).toEqual([]);
        expect(kernel.frames.nrInUse).toBe(kernel.nrBootFrames);
      }),
      { numRuns: 20 },
    );
  });
});
