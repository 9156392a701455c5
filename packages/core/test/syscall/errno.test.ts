import {
  createKernel,
  errnoName,
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
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

const P = 0x1000;
/** A user address valid on every architecture (Sv39's user half is 256 GiB). */
const W = 0x10_0000_0000;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;
const FIXED = ANON | MAP_FIXED;
const HUGE = 0x7ffffffffffff000n;
const MOVE = MREMAP_MAYMOVE | MREMAP_FIXED;

function sys(arch: (typeof ARCHS)[number]['arch']): LinuxSyscalls {
  const s = new LinuxSyscalls(createKernel({ arch, memory: 16 << 20 }));
  s.spawn();
  return s;
}

const res = (ret: number): string | number => (ret < 0 ? errnoName(ret) : ret);

/** Page-level view: `[startPage, endPage, 'rw-p']` relative to W. */
function maps(s: LinuxSyscalls): [number, number, string][] {
  const out: [number, number, string][] = [];
  for (const m of s.procs.require(0).vmar.views()) {
    const perms = `${m.perms & 1 ? 'r' : '-'}${m.perms & 2 ? 'w' : '-'}${m.perms & 4 ? 'x' : '-'}${m.shared ? 's' : 'p'}`;
    const last = out[out.length - 1];
    if (last && last[1] === (m.start - W) / P && last[2] === perms) last[1] = (m.end - W) / P;
    else out.push([(m.start - W) / P, (m.end - W) / P, perms]);
  }
  return out;
}

function byte(s: LinuxSyscalls, va: number): number | string {
  const out = new Uint8Array(1);
  const sig = s.readMemory(0, va, out);
  return sig === 0 ? out[0] : `sig${sig}`;
}

describe.each(ARCHS)('Linux errno choices and side effects on $name', ({ arch }) => {
  it('mmap', () => {
    const s = sys(arch);
    expect(res(s.mmap(0, W, 0, RW, FIXED))).toBe('EINVAL');
    expect(res(s.mmap(0, W + 1, P, RW, FIXED))).toBe('EINVAL');
    expect(res(s.mmap(0, W + 1, P, RW, ANON | MAP_FIXED_NOREPLACE))).toBe('EINVAL');
    expect(res(s.mmap(0, W, P, RW, FIXED, 0x10))).toBe('EINVAL');
    expect(res(s.mmap(0, W, HUGE, RW, ANON))).toBe('ENOMEM');
    expect(res(s.mmap(0, W, 0xfffffffffffff001n, RW, ANON))).toBe('ENOMEM');
    expect(res(s.mmap(0, 0xfffffffffffff000n, P, RW, FIXED))).toBe('ENOMEM');
    expect(res(s.mmap(0, 0, P, RW, FIXED))).toBe('EPERM'); // below mmap_min_addr
    expect(res(s.mmap(0, W, P, RW, MAP_FIXED))).toBe('EBADF');
    expect(res(s.mmap(0, W, P, RW, MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED))).toBe('EINVAL');
    expect(s.mmap(0, W, 0x1001, RW, FIXED)).toBe(W);
    expect(maps(s)).toEqual([[0, 2, 'rw-p']]);
    expect(res(s.mmap(0, W + P, 4 * P, RW, ANON | MAP_FIXED_NOREPLACE))).toBe('EEXIST');
    expect(s.mmap(0, W + P, P, PROT_READ, FIXED)).toBe(W + P);
    expect(maps(s)).toEqual([
      [0, 1, 'rw-p'],
      [1, 2, 'r--p'],
    ]);
    expect(s.mmap(0, W + 0x10abc, P, RW, ANON)).toBe(W + 0x10000); // a free hint, rounded down
  });

  it('munmap', () => {
    const s = sys(arch);
    s.mmap(0, W, 4 * P, RW, FIXED);
    expect(res(s.munmap(0, W, 0))).toBe('EINVAL');
    expect(res(s.munmap(0, W + 1, P))).toBe('EINVAL');
    expect(res(s.munmap(0, W, HUGE))).toBe('EINVAL');
    expect(s.munmap(0, W, 1)).toBe(0); // rounded up to a page
    expect(s.munmap(0, W + 2 * P, 64 * P)).toBe(0); // over a hole
    expect(maps(s)).toEqual([[1, 2, 'rw-p']]);
  });

  it('mprotect changes the pages before the first hole, then fails', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, FIXED);
    s.mmap(0, W + 3 * P, 2 * P, RW, FIXED);
    expect(s.mprotect(0, W, 0, PROT_READ)).toBe(0);
    expect(res(s.mprotect(0, W + 1, P, PROT_READ))).toBe('EINVAL');
    expect(res(s.mprotect(0, W, 0xfffffffffffff000n, PROT_READ))).toBe('ENOMEM');
    expect(res(s.mprotect(0, W, P, 0x100))).toBe('EINVAL');
    expect(res(s.mprotect(0, W + 2 * P, 2 * P, PROT_READ))).toBe('ENOMEM');
    expect(maps(s)).toEqual([
      [0, 2, 'rw-p'],
      [3, 5, 'rw-p'],
    ]);
    expect(res(s.mprotect(0, W + P, 3 * P, PROT_READ))).toBe('ENOMEM');
    expect(maps(s)).toEqual([
      [0, 1, 'rw-p'],
      [1, 2, 'r--p'],
      [3, 5, 'rw-p'],
    ]);
    expect(s.mprotect(0, W + 3 * P, 1, PROT_READ | PROT_EXEC)).toBe(0);
    expect(maps(s)[2]).toEqual([3, 4, 'r-xp']);
  });

  it('madvise(DONTNEED) zaps every mapped page of the range even when it fails', () => {
    const s = sys(arch);
    s.mmap(0, W, P, RW, FIXED);
    s.mmap(0, W + 2 * P, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    s.writeMemory(0, W, Uint8Array.of(0x2a));
    s.writeMemory(0, W + 2 * P, Uint8Array.of(0x2b));
    expect(s.madvise(0, W, 0, MADV_DONTNEED)).toBe(0);
    expect(res(s.madvise(0, W + 1, P, MADV_DONTNEED))).toBe('EINVAL');
    expect(res(s.madvise(0, W, 0xfffffffffffff000n, MADV_DONTNEED))).toBe('EINVAL');
    expect(res(s.madvise(0, W, 3 * P, MADV_DONTNEED))).toBe('ENOMEM');
    expect(byte(s, W)).toBe(0);
    expect(byte(s, W + 2 * P)).toBe(0x2b);
  });

  it('msync', () => {
    const s = sys(arch);
    s.mmap(0, W, P, RW, FIXED);
    expect(s.msync(0, W, 0, MS_SYNC)).toBe(0);
    expect(s.msync(0, W, P, MS_SYNC)).toBe(0);
    expect(res(s.msync(0, W + 1, P, MS_SYNC))).toBe('EINVAL');
    expect(res(s.msync(0, W, 2 * P, MS_SYNC))).toBe('ENOMEM');
    expect(res(s.msync(0, W, 0xfffffffffffff000n, MS_SYNC))).toBe('ENOMEM');
    expect(s.msync(0, W, 0xfffffffffffff001n, MS_SYNC)).toBe(0); // page-aligns to 0
  });

  it('mremap parameter checks, in order', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, FIXED);
    s.mmap(0, W + 2 * P, 2 * P, PROT_READ, FIXED);
    expect(res(s.mremap(0, W, P, 0, 0))).toBe('EINVAL');
    expect(res(s.mremap(0, W + 1, P, P, 0))).toBe('EINVAL');
    expect(res(s.mremap(0, W, P, P, MREMAP_FIXED, W + 16 * P))).toBe('EINVAL');
    expect(res(s.mremap(0, W, P, P, MOVE, W + 16 * P + 1))).toBe('EINVAL');
    expect(res(s.mremap(0, W, 2 * P, 2 * P, MOVE, W + P))).toBe('EINVAL');
    expect(res(s.mremap(0, W, P, HUGE, 0))).toBe('EINVAL');
    expect(res(s.mremap(0, W, P, P, MOVE, HUGE))).toBe('EINVAL');
    expect(res(s.mremap(0, W + 8 * P, P, 2 * P, 0))).toBe('EFAULT');
    expect(res(s.mremap(0, W + 8 * P, P, P, MOVE, W + 16 * P))).toBe('EFAULT');
    expect(res(s.mremap(0, W, P, 2 * P, 0))).toBe('ENOMEM'); // ends inside the mapping
    expect(res(s.mremap(0, W, 2 * P, 3 * P, 0))).toBe('ENOMEM'); // next page mapped
    expect(res(s.mremap(0, W, 3 * P, 5 * P, 0))).toBe('EFAULT'); // spans two mappings
    expect(res(s.mremap(0, W, 0, P, 0))).toBe('EINVAL'); // old_len 0, private
    expect(s.mremap(0, W, 4 * P, 4 * P, 0)).toBe(W); // same size, no flags
    expect(maps(s)).toEqual([
      [0, 2, 'rw-p'],
      [2, 4, 'r--p'],
    ]);
  });

  it('mremap: shrink across mappings, grow in place, fixed moves', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, FIXED);
    s.mmap(0, W + 2 * P, 2 * P, PROT_READ, FIXED);
    expect(s.mremap(0, W, 8 * P, P, 0)).toBe(W); // shrink: the tail may cross anything
    expect(maps(s)).toEqual([[0, 1, 'rw-p']]);
    expect(s.mremap(0, W, 0xfff, 0x3001, 0)).toBe(W); // lengths rounded up, grows in place
    expect(maps(s)).toEqual([[0, 4, 'rw-p']]);
    s.writeMemory(0, W + 3 * P, Uint8Array.of(5));
    s.mmap(0, W + 0x11000, 3 * P, PROT_READ | PROT_EXEC, FIXED);
    expect(s.mremap(0, W, 4 * P, 4 * P, MOVE, W + 0x10000)).toBe(W + 0x10000); // over an occupied destination
    expect(maps(s)).toEqual([[16, 20, 'rw-p']]);
    expect(byte(s, W + 0x13000)).toBe(5);
    expect(res(s.mremap(0, W + 0x10000, 2 * P, 3 * P, MOVE, W))).toBe(W);
    expect(res(s.mremap(0, W, 4 * P, P, MOVE, W + 0x20000))).toBe(W + 0x20000); // prefix in one mapping
    expect(maps(s)).toEqual([
      [18, 20, 'rw-p'],
      [32, 33, 'rw-p'],
    ]);
  });

  it('mremap: a same-size fixed move takes several mappings and holes along (Linux >= 6.17)', () => {
    const s = sys(arch);
    s.mmap(0, W, 2 * P, RW, FIXED);
    s.mmap(0, W + 2 * P, P, PROT_READ | PROT_EXEC, FIXED);
    s.mmap(0, W + 4 * P, 2 * P, RW, FIXED);
    s.mmap(0, W + 0x17000, P, PROT_READ, FIXED); // faces the hole at page 3 of the source after the move
    s.writeMemory(0, W + 5 * P, Uint8Array.of(9));
    expect(s.mremap(0, W, 8 * P, 8 * P, MOVE, W + 0x14000)).toBe(W + 0x14000);
    expect(maps(s)).toEqual([
      [20, 22, 'rw-p'],
      [22, 23, 'r-xp'],
      [23, 24, 'r--p'],
      [24, 26, 'rw-p'],
    ]);
    expect(byte(s, W + 25 * P)).toBe(9);
    expect(res(s.mremap(0, W + 19 * P, 4 * P, 4 * P, MOVE, W + 64 * P))).toBe('EFAULT'); // starts in a hole
  });

  it('mremap: old_len 0 duplicates a shared mapping, needs a move, and removes itself onto itself', () => {
    const s = sys(arch);
    s.mmap(0, W, P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    s.writeMemory(0, W, Uint8Array.of(0x2a));
    expect(res(s.mremap(0, W, 0, P, 0))).toBe('ENOMEM');
    expect(s.mremap(0, W, 0, P, MOVE, W + 8 * P)).toBe(W + 8 * P);
    expect(maps(s)).toEqual([
      [0, 1, 'rw-s'],
      [8, 9, 'rw-s'],
    ]);
    expect(byte(s, W + 8 * P)).toBe(0x2a);
    expect(res(s.mremap(0, W, 0, P, MOVE, W))).toBe('EFAULT');
    expect(maps(s)).toEqual([[8, 9, 'rw-s']]);
    expect(s.mremap(0, W + 8 * P, P, 2 * P, 0)).toBe(W + 8 * P); // grows past the object
    expect(byte(s, W + 9 * P)).toBe('sig7');
  });

  it('loads and stores fault like the hardware', () => {
    const s = sys(arch);
    s.mmap(0, W, P, PROT_READ, FIXED);
    s.mmap(0, W + P, P, PROT_WRITE, FIXED);
    s.mmap(0, W + 2 * P, P, 0, FIXED);
    expect(byte(s, W + 5 * P)).toBe('sig11');
    expect(byte(s, W + 2 * P)).toBe('sig11');
    expect(byte(s, W + P)).toBe(0);
    expect(s.writeMemory(0, W, Uint8Array.of(1))).toBe(11);
    expect(s.writeMemory(0, 2 ** 60, Uint8Array.of(1))).toBe(11);
  });
});
