import {
  AnonVmo,
  createKernel,
  errnoName,
  LinuxSyscalls,
  MADV_COLD,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_WIPEONFORK,
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_SYNC,
  MCL_CURRENT,
  MCL_FUTURE,
  MCL_ONFAULT,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VMA_LOCKED,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

const P = 0x1000;
/** A user address valid on every architecture (Sv39's user half is 256 GiB). */
const W = 0x10_0000_0000;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const SHARED_FIXED = MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED;
const DONTUNMAP = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;

function sys(arch: (typeof ARCHS)[number]['arch']): LinuxSyscalls {
  const s = new LinuxSyscalls(createKernel({ arch, memory: 16 << 20 }));
  s.spawn();
  return s;
}

const res = (ret: number): string | number => (ret < 0 ? errnoName(ret) : ret);

function vec(s: LinuxSyscalls, pid: number, va: number, pages: number): string | number {
  const v = s.mincore(pid, va, pages * P);
  return typeof v === 'number' ? res(v) : v.join('');
}

function byte(s: LinuxSyscalls, pid: number, va: number): number | string {
  const out = new Uint8Array(1);
  const sig = s.readMemory(pid, va, out);
  return sig === 0 ? out[0] : `sig${sig}`;
}

function poke(s: LinuxSyscalls, pid: number, va: number, v: number): void {
  expect(s.writeMemory(pid, va, Uint8Array.of(v))).toBe(0);
}

/** `[start, end)` page runs of `pid`'s mappings relative to W, merged as `maps` shows them. */
function runs(s: LinuxSyscalls, pid = 0): [number, number][] {
  const out: [number, number][] = [];
  for (const m of s.procs.require(pid).vmar.views()) {
    const last = out[out.length - 1];
    if (last && last[1] === (m.start - W) / P) last[1] = (m.end - W) / P;
    else out.push([(m.start - W) / P, (m.end - W) / P]);
  }
  return out;
}

function clean(s: LinuxSyscalls): void {
  expect(s.kernel.check().map((v) => v.message)).toEqual([]);
  for (const p of s.procs.live) s.exit(p.pid);
  expect(s.kernel.frames.nrInUse).toBe(s.kernel.nrBootFrames);
}

describe.each(ARCHS)('mmtrace v2 system calls: errno and side effects on $name', ({ name, arch }) => {
  it('mmap: sharing types, MAP_SYNC, MAP_GROWSDOWN', () => {
    const s = sys(arch);
    const file = new AnonVmo(s.kernel.frames, 4);
    const mapFile = (flags: number) => res(s.mmap(0, W, P, RW, flags | MAP_FIXED, 0, file));
    expect(res(s.mmap(0, W, P, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | MAP_FIXED))).toBe('EINVAL');
    expect(res(s.mmap(0, W, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED))).toBe('EINVAL');
    expect(mapFile(MAP_PRIVATE | MAP_GROWSDOWN)).toBe('EINVAL');
    expect(mapFile(MAP_SHARED_VALIDATE)).toBe(W);
    expect(s.procs.require(0).vmar.viewAt(W)?.shared).toBe(true);
    // Occupied: EEXIST first; free: fixed_noreplace is not a legacy flag.
    expect(res(s.mmap(0, W, P, RW, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE, 0, file))).toBe('EEXIST');
    expect(res(s.mmap(0, W + 8 * P, P, RW, MAP_SHARED_VALIDATE | MAP_FIXED_NOREPLACE, 0, file))).toBe(
      'EOPNOTSUPP',
    );
    // MAP_SYNC on a file that is not DAX: refused after the fixed destination was unmapped.
    expect(mapFile(MAP_SHARED_VALIDATE | MAP_SYNC)).toBe('EOPNOTSUPP');
    expect(runs(s)).toEqual([]);
    expect(mapFile(MAP_PRIVATE | MAP_SYNC)).toBe('EOPNOTSUPP');
    // Anonymous memory ignores MAP_SYNC, MAP_NORESERVE, MAP_STACK.
    expect(res(s.mmap(0, W, P, RW, FIXED | MAP_SYNC | MAP_NORESERVE | MAP_STACK))).toBe(W);
    file.release();
    clean(s);
  });

  it('mmap: MAP_32BIT picks an address below 2 GiB on x86_64 only; MAP_FIXED wins', () => {
    const s = sys(arch);
    const at = s.mmap(0, 0, 2 * P, RW, ANON | MAP_32BIT);
    expect(at).toBeGreaterThan(0);
    if (name === 'x86_64') {
      expect(at).toBeGreaterThanOrEqual(0x40000000);
      expect(at + 2 * P).toBeLessThanOrEqual(0x80000000);
      expect(s.mmap(0, 0, P, RW, ANON | MAP_32BIT)).toBe(at + 2 * P);
    }
    expect(s.mmap(0, W, P, RW, FIXED | MAP_32BIT)).toBe(W);
    clean(s);
  });

  it('mmap: MAP_LOCKED and MAP_POPULATE populate; PROT_NONE and lock-on-fault stay empty', () => {
    const s = sys(arch);
    expect(s.mmap(0, W, 2 * P, RW, FIXED | MAP_LOCKED)).toBe(W);
    expect(vec(s, 0, W, 2)).toBe('11');
    expect(s.rss(0, W, W + 64 * P)).toEqual({ anon: 2, file: 0, shmem: 0 });
    expect(s.mmap(0, W + 4 * P, 2 * P, PROT_NONE, FIXED | MAP_LOCKED)).toBe(W + 4 * P);
    expect(vec(s, 0, W + 4 * P, 2)).toBe('00');
    expect(s.mmap(0, W + 8 * P, 2 * P, PROT_READ, SHARED_FIXED | MAP_POPULATE)).toBe(W + 8 * P);
    expect(s.rss(0, W + 8 * P, W + 10 * P)).toEqual({ anon: 0, file: 0, shmem: 2 });
    expect(res(s.mlockall(0, MCL_FUTURE | MCL_ONFAULT))).toBe(0);
    expect(s.mmap(0, W + 12 * P, 2 * P, RW, FIXED | MAP_POPULATE)).toBe(W + 12 * P);
    expect(vec(s, 0, W + 12 * P, 2)).toBe('00');
    clean(s);
  });

  it('grows-down mappings grow on an access below, within the guard gap and the stack limit', () => {
    const s = sys(arch);
    const top = W + 0x400 * P;
    expect(s.mmap(0, top, P, RW, FIXED | MAP_GROWSDOWN)).toBe(top);
    expect(byte(s, 0, top - 5 * P)).toBe(0);
    expect(runs(s)).toEqual([[0x3fb, 0x401]]);
    expect(vec(s, 0, top - 5 * P, 6)).toBe('100000');
    // An accessible mapping less than 256 pages below: no growth.
    expect(s.mmap(0, top - 0x100 * P, P, RW, FIXED)).toBe(top - 0x100 * P);
    expect(byte(s, 0, top - 0x10 * P)).toBe('sig11');
    // PROT_NONE below needs no gap.
    expect(res(s.mprotect(0, top - 0x100 * P, P, PROT_NONE))).toBe(0);
    expect(byte(s, 0, top - 0xfe * P)).toBe(0);
    // More than 2048 pages (8 MiB): no growth.
    const high = W + 0x2000 * P;
    expect(s.mmap(0, high, P, PROT_READ, FIXED | MAP_GROWSDOWN)).toBe(high);
    expect(byte(s, 0, high - 2048 * P)).toBe('sig11');
    // A forbidden store still grows the mapping first.
    expect(s.writeMemory(0, high - P, Uint8Array.of(1))).toBe(11);
    expect(s.procs.require(0).vmar.viewAt(high - P)?.start).toBe(high - P);
    clean(s);
  });

  it('madvise: refusals end the walk at the refusing mapping, holes give ENOMEM at the end', () => {
    const s = sys(arch);
    expect(res(s.madvise(0, W, P, 99))).toBe('EINVAL');
    s.mmap(0, W, 2 * P, RW, FIXED);
    s.mmap(0, W + 2 * P, P, RW, SHARED_FIXED);
    s.mmap(0, W + 4 * P, P, RW, FIXED);
    poke(s, 0, W, 1);
    for (const a of [MADV_FREE, MADV_WIPEONFORK]) expect(res(s.madvise(0, W, 3 * P, a))).toBe('EINVAL');
    expect(res(s.madvise(0, W, 2 * P, MADV_REMOVE))).toBe('EINVAL');
    expect(res(s.madvise(0, W, 5 * P, MADV_RANDOM))).toBe('ENOMEM');
    // The flag split the first mapping's range off its neighbours only where the advice went.
    expect(res(s.madvise(0, W + P, P, MADV_DONTFORK))).toBe(0);
    expect(s.procs.require(0).vmar.mappings.size).toBe(4);
    expect(res(s.mlock(0, W, P))).toBe(0);
    for (const a of [MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT, MADV_REMOVE])
      expect(res(s.madvise(0, W, P, a))).toBe('EINVAL');
    expect(byte(s, 0, W)).toBe(1);
    clean(s);
  });

  it('madvise: remove and pageout of shared anonymous memory', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, SHARED_FIXED);
    poke(s, 0, W, 0x2a);
    expect(byte(s, 0, W + P)).toBe(0); // a clean page, mapped here only
    const child = s.fork(0);
    expect(vec(s, child, W, 2)).toBe('11');
    expect(s.rss(child, W, W + 2 * P)).toEqual({ anon: 0, file: 0, shmem: 0 });
    expect(byte(s, child, W)).toBe(0x2a); // maps W + P too (fault-around)
    expect(res(s.madvise(child, W + P, P, MADV_DONTNEED))).toBe(0);
    // pageout: the page the child also maps stays; the clean one only here leaves the object.
    expect(res(s.madvise(0, W, 2 * P, MADV_PAGEOUT))).toBe(0);
    expect(vec(s, 0, W, 2)).toBe('10');
    expect(s.rss(0, W, W + 2 * P)).toEqual({ anon: 0, file: 0, shmem: 1 });
    // remove: gone for every process, even one mapping it read-only.
    expect(res(s.mprotect(child, W, 2 * P, PROT_READ))).toBe(0);
    expect(res(s.madvise(child, W, 2 * P, MADV_REMOVE))).toBe(0);
    expect(byte(s, 0, W)).toBe(0);
    expect(vec(s, child, W, 2)).toBe('10');
    expect(res(s.madvise(0, W, P, MADV_FREE))).toBe('EINVAL');
    clean(s);
  });

  it('madvise: dontfork leaves a hole in the child, wipeonfork an empty mapping', () => {
    const s = sys(arch);
    s.mmap(0, W, 3 * P, RW, FIXED);
    for (let i = 0; i < 3; i++) poke(s, 0, W + i * P, i + 1);
    expect(res(s.madvise(0, W, P, MADV_DONTFORK))).toBe(0);
    expect(res(s.madvise(0, W + 2 * P, P, MADV_WIPEONFORK))).toBe(0);
    expect(res(s.mlock(0, W + P, P))).toBe(0);
    const child = s.fork(0);
    expect(runs(s, child)).toEqual([[1, 3]]);
    expect(byte(s, child, W)).toBe('sig11');
    expect(byte(s, child, W + P)).toBe(2);
    expect(byte(s, child, W + 2 * P)).toBe(0);
    expect(byte(s, 0, W + 2 * P)).toBe(3);
    // Locks are not inherited.
    for (const m of s.procs.require(child).vmar.views()) expect(m.flags & VMA_LOCKED).toBe(0);
    clean(s);
  });

  it('madvise: populate_read and populate_write stop at a hole, a missing right, the end of the object', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, FIXED);
    s.mmap(0, W + 3 * P, P, PROT_WRITE, FIXED);
    s.mmap(0, W + 5 * P, P, PROT_READ, FIXED);
    expect(res(s.madvise(0, W, 4 * P, MADV_POPULATE_WRITE))).toBe('ENOMEM');
    expect(vec(s, 0, W, 2)).toBe('11');
    expect(res(s.madvise(0, W + 3 * P, P, MADV_POPULATE_READ))).toBe('EINVAL');
    expect(res(s.madvise(0, W + 5 * P, P, MADV_POPULATE_WRITE))).toBe('EINVAL');
    // A shared mapping grown past its object: EFAULT there.
    s.mmap(0, W + 8 * P, P, RW, SHARED_FIXED);
    expect(s.mremap(0, W + 8 * P, P, 2 * P, 0)).toBe(W + 8 * P);
    expect(res(s.madvise(0, W + 8 * P, 2 * P, MADV_POPULATE_READ))).toBe('EFAULT');
    expect(vec(s, 0, W + 8 * P, 2)).toBe('10');
    clean(s);
  });

  it('mlock, munlock: rounding, wrap, holes, PROT_NONE, on fault', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, FIXED);
    expect(res(s.mlock(0, W + P + 0x10, 0x10))).toBe(0);
    expect(vec(s, 0, W, 2)).toBe('01');
    expect(res(s.mlock(0, W, 0))).toBe(0);
    expect(res(s.mlock(0, W, 0xfffffffffffff000n))).toBe('EINVAL');
    expect(res(s.mlock(0, W - P, 2 * P))).toBe('ENOMEM');
    s.mmap(0, W + 3 * P, P, RW, FIXED);
    // A hole: the part before it is locked, nothing is populated.
    expect(res(s.mlock(0, W, 4 * P))).toBe('ENOMEM');
    expect(vec(s, 0, W, 1)).toBe('0');
    expect(res(s.madvise(0, W, P, MADV_DONTNEED))).toBe('EINVAL');
    expect(res(s.munlock(0, W, 4 * P))).toBe('ENOMEM');
    expect(res(s.madvise(0, W, P, MADV_DONTNEED))).toBe(0);
    // rw- then --- then rw-: populated up to the PROT_NONE page, which is still locked.
    s.mmap(0, W + 8 * P, 3 * P, RW, FIXED);
    s.mprotect(0, W + 9 * P, P, PROT_NONE);
    expect(res(s.mlock(0, W + 8 * P, 3 * P))).toBe('ENOMEM');
    expect(vec(s, 0, W + 8 * P, 3)).toBe('100');
    expect(res(s.madvise(0, W + 9 * P, P, MADV_DONTNEED))).toBe('EINVAL');
    // On fault: locked as touched.
    s.mmap(0, W + 16 * P, 2 * P, RW, FIXED);
    expect(res(s.mlock(0, W + 16 * P, 2 * P, true))).toBe(0);
    expect(vec(s, 0, W + 16 * P, 2)).toBe('00');
    // mprotect of a locked r-- private mapping to rw-: populated with write faults.
    s.mmap(0, W + 20 * P, 2 * P, PROT_READ, FIXED | MAP_LOCKED);
    expect(s.rss(0, W + 20 * P, W + 22 * P).anon).toBe(2); // read faults (a real page here)
    expect(res(s.mprotect(0, W + 20 * P, 2 * P, RW))).toBe(0);
    expect(s.rss(0, W + 20 * P, W + 22 * P)).toEqual({ anon: 2, file: 0, shmem: 0 });
    clean(s);
  });

  it('mlockall and munlockall', () => {
    const s = sys(arch);
    expect(res(s.mlockall(0, 0))).toBe('EINVAL');
    expect(res(s.mlockall(0, MCL_ONFAULT))).toBe('EINVAL');
    s.mmap(0, W, P, RW, FIXED);
    s.mmap(0, W + 2 * P, P, PROT_NONE, FIXED);
    expect(res(s.mlockall(0, MCL_CURRENT))).toBe(0);
    expect(vec(s, 0, W, 1)).toBe('1');
    expect(res(s.madvise(0, W + 2 * P, P, MADV_DONTNEED))).toBe('EINVAL');
    expect(res(s.mlockall(0, MCL_FUTURE))).toBe(0);
    expect(s.mmap(0, W + 4 * P, 2 * P, RW, FIXED)).toBe(W + 4 * P);
    expect(vec(s, 0, W + 4 * P, 2)).toBe('11');
    const child = s.fork(0);
    expect(s.mmap(child, W + 8 * P, 2 * P, RW, FIXED)).toBe(W + 8 * P);
    expect(vec(s, child, W + 8 * P, 2)).toBe('00');
    expect(res(s.munlockall(0))).toBe(0);
    expect(res(s.madvise(0, W, P, MADV_DONTNEED))).toBe(0);
    clean(s);
  });

  it('mincore: alignment, absurd ends, empty ranges, holes, rounding', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, FIXED);
    poke(s, 0, W + P, 1);
    expect(vec(s, 0, W + 1, 1)).toBe('EINVAL');
    expect(res(s.mincore(0, W, 0x7ffffffffffff000n) as number)).toBe('ENOMEM');
    expect(vec(s, 0, W, 0)).toBe('');
    expect(vec(s, 0, W, 3)).toBe('ENOMEM');
    const v = s.mincore(0, W, P + 1);
    expect(typeof v === 'number' ? v : v.join('')).toBe('01');
    clean(s);
  });

  it('brk: query, set (unaligned kept), absurd, inherited by a child', () => {
    const s = sys(arch);
    expect(s.brk(0, null)).toBe(0);
    expect(s.brk(0, 0x1001)).toBe(0x1001);
    expect(s.brk(0, 1n << 47n)).toBe(0x1001);
    const child = s.fork(0);
    expect(s.brk(child, null)).toBe(0x1001);
    expect(s.brk(0, 0)).toBe(0);
    expect(s.brk(child, null)).toBe(0x1001);
    clean(s);
  });

  it('mremap with MREMAP_DONTUNMAP: checks in order, the source stays empty and unlocked', () => {
    const s = sys(arch);
    s.mmap(0, W, 4 * P, RW, FIXED | MAP_LOCKED);
    poke(s, 0, W, 0x2a);
    expect(res(s.mremap(0, W, P, P, MREMAP_DONTUNMAP, W + 8 * P))).toBe('EINVAL');
    expect(res(s.mremap(0, W, P, 2 * P, DONTUNMAP, W + 8 * P))).toBe('EINVAL');
    expect(res(s.mremap(0, W, P, P, DONTUNMAP, W + 8 * P + 1))).toBe('EINVAL');
    expect(res(s.mremap(0, W, 2 * P, 2 * P, DONTUNMAP, W + P))).toBe('EINVAL');
    expect(res(s.mremap(0, W + 16 * P, P, P, DONTUNMAP, W + 8 * P))).toBe('EFAULT');
    expect(res(s.mremap(0, W, P, P, DONTUNMAP, W + 8 * P))).toBe(W + 8 * P);
    expect(byte(s, 0, W)).toBe(0);
    expect(byte(s, 0, W + 8 * P)).toBe(0x2a);
    const vmar = s.procs.require(0).vmar;
    expect(vmar.viewAt(W + 3 * P)!.flags & VMA_LOCKED).toBe(0);
    expect(vmar.viewAt(W + 8 * P)!.flags & VMA_LOCKED).toBe(VMA_LOCKED);
    // With MREMAP_FIXED: the multi-mapping move, sources kept.
    s.mmap(0, W + 32 * P, P, RW, SHARED_FIXED);
    poke(s, 0, W + 32 * P, 7);
    expect(res(s.mremap(0, W + 32 * P, 2 * P, 2 * P, DONTUNMAP | MREMAP_FIXED, W + 40 * P))).toBe(W + 40 * P);
    expect(byte(s, 0, W + 32 * P)).toBe(7);
    expect(byte(s, 0, W + 40 * P)).toBe(7);
    expect(s.rss(0, W + 32 * P, W + 42 * P)).toEqual({ anon: 0, file: 0, shmem: 2 });
    clean(s);
  });

  it('rss counts shared anonymous memory as shmem, and only what this page table maps', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, SHARED_FIXED);
    s.mmap(0, W + 4 * P, P, RW, FIXED);
    poke(s, 0, W, 1);
    poke(s, 0, W + 4 * P, 1);
    expect(s.rss(0, W, W + 8 * P)).toEqual({ anon: 1, file: 0, shmem: 1 });
    expect(s.mmap(0, W + 8 * P, P, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED)).toBe(
      W + 8 * P,
    );
    clean(s);
  });
});
