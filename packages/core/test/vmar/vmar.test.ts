import {
  AnonVmo,
  MmError,
  RSS_ANON,
  RSS_FILE,
  readUser,
  VM_EXEC,
  VM_MAY_READ,
  VM_READ,
  VM_WRITE,
  type Vmar,
  writeUser,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { at, BASE, expectSound, layout, P, pfnAt, setup } from './support.ts';

const RW = VM_READ | VM_WRITE;
const R = VM_READ;

function mapFixed(vmar: Vmar, page: number, pages: number, perms = RW, extra: object = {}): number {
  return vmar.map({ size: pages * P, perms, placement: 'fixed', addr: at(page), ...extra });
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof MmError) return e.code;
    throw e;
  }
  return 'no error';
}

function write(vmar: Vmar, page: number, byte: number): void {
  expect(writeUser(vmar, at(page) + 7, Uint8Array.of(byte))).toBe(0);
}

function read(vmar: Vmar, page: number): number {
  const out = new Uint8Array(1);
  expect(readUser(vmar, at(page) + 7, out)).toBe(0);
  return out[0];
}

describe('merge on insert', () => {
  it('merges adjacent anonymous mappings with equal rights, not others', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 4);
    mapFixed(vmar, 4, 4);
    expect(layout(vmar)).toEqual([[0, 8, 'rw-p']]);
    mapFixed(vmar, 8, 2, R);
    mapFixed(vmar, 10, 2, RW, { shared: true });
    expect(layout(vmar)).toEqual([
      [0, 8, 'rw-p'],
      [8, 10, 'r--p'],
      [10, 12, 'rw-s'],
    ]);
    mapFixed(vmar, 12, 2, RW, { shared: true });
    expect(vmar.mappings.size).toBe(4); // two distinct VMOs never merge
    expectSound(k, vmar);
  });

  it('merges mappings of one VMO only at contiguous offsets', () => {
    const { k, vmar } = setup();
    const vmo = new AnonVmo(k.frames, 16);
    mapFixed(vmar, 0, 4, RW, { shared: true, vmo, vmoOffset: 0 });
    mapFixed(vmar, 4, 4, RW, { shared: true, vmo, vmoOffset: 4 * P });
    mapFixed(vmar, 8, 4, RW, { shared: true, vmo, vmoOffset: 12 * P });
    mapFixed(vmar, 12, 1, RW, { shared: true, vmo, vmoOffset: 13 * P, faultsAround: true });
    expect(layout(vmar)).toEqual([
      [0, 8, 'rw-s'],
      [8, 12, 'rw-s'],
      [12, 13, 'rw-s'],
    ]);
    expect(vmo.nrRefs).toBe(4); // ours + three mappings
    vmo.release();
    vmar.clear();
    expect(vmo.nrRefs).toBe(0);
    expectSound(k, vmar);
  });
});

describe('split, protect and merge back', () => {
  it('splits on a partial unmap and a partial protect, and merges when rights are restored', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 8);
    for (let i = 0; i < 8; i++) write(vmar, i, i + 1);
    vmar.protect(at(2), 3 * P, R);
    expect(layout(vmar)).toEqual([
      [0, 2, 'rw-p'],
      [2, 5, 'r--p'],
      [5, 8, 'rw-p'],
    ]);
    expect(writeUser(vmar, at(3), Uint8Array.of(9))).toBe(11); // SIGSEGV: read-only now
    expect(read(vmar, 3)).toBe(4);
    vmar.protect(at(2), 3 * P, RW);
    expect(layout(vmar)).toEqual([[0, 8, 'rw-p']]);
    write(vmar, 3, 42); // W is granted again by the write fault
    expect(read(vmar, 3)).toBe(42);
    vmar.unmap(at(6), P);
    expect(layout(vmar)).toEqual([
      [0, 6, 'rw-p'],
      [7, 8, 'rw-p'],
    ]);
    expect(vmar.rss[RSS_ANON]).toBe(7);
    expect(vmar.totalVm).toBe(7 * P);
    expectSound(k, vmar);
  });

  it('skips holes and refuses rights beyond the may-rights after changing the mappings before', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 2);
    mapFixed(vmar, 4, 2, R, { mayPerms: VM_MAY_READ });
    expect(codeOf(() => vmar.protect(at(0), 6 * P, VM_READ | VM_EXEC))).toBe('PermissionDenied');
    expect(layout(vmar)).toEqual([
      [0, 2, 'r-xp'],
      [4, 6, 'r--p'],
    ]);
    expect(codeOf(() => vmar.map({ size: P, perms: RW, mayPerms: VM_MAY_READ }))).toBe('PermissionDenied');
    expectSound(k, vmar);
  });
});

describe('free-region allocation', () => {
  it('takes the space above the highest mapping first, then the lowest fit', () => {
    const { k, vmar } = setup({ lowest: BASE, cap: at(16) });
    expect(vmar.map({ size: 4 * P, perms: RW })).toBe(at(0));
    expect(vmar.map({ size: 4 * P, perms: R })).toBe(at(4));
    expect(vmar.map({ size: 4 * P, perms: RW })).toBe(at(8));
    vmar.unmap(at(0), 4 * P);
    expect(vmar.map({ size: 4 * P, perms: R | VM_EXEC })).toBe(at(12)); // fast path, above the highest
    expect(vmar.map({ size: 2 * P, perms: R | VM_EXEC })).toBe(at(0)); // first fit from the bottom
    expect(codeOf(() => vmar.map({ size: 4 * P, perms: RW }))).toBe('NoFreeRegion');
    expect(vmar.map({ size: 2 * P, perms: RW, placement: 'hint', addr: at(14) })).toBe(at(2)); // hint occupied
    expect(codeOf(() => vmar.map({ size: P, perms: RW, placement: 'fixed-noreplace', addr: at(3) }))).toBe(
      'RangeOccupied',
    );
    expectSound(k, vmar);
  });

  it('honours alignment', () => {
    const { vmar } = setup({ lowest: BASE });
    vmar.map({ size: P, perms: RW });
    expect(vmar.map({ size: 8 * P, perms: R, align: 8 * P })).toBe(at(8));
    expect(codeOf(() => vmar.map({ size: P, perms: R, align: 3 * P }))).toBe('InvalidArgument');
  });
});

describe('resize', () => {
  it('grows in place into free pages, refuses when blocked, shrinks by unmapping the tail', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 4);
    mapFixed(vmar, 10, 2, R);
    write(vmar, 3, 5);
    vmar.resize(at(0), 4 * P, 8 * P);
    expect(layout(vmar)).toEqual([
      [0, 8, 'rw-p'],
      [10, 12, 'r--p'],
    ]);
    expect(read(vmar, 3)).toBe(5);
    expect(read(vmar, 7)).toBe(0);
    expect(codeOf(() => vmar.resize(at(0), 8 * P, 12 * P))).toBe('RangeOccupied');
    expect(codeOf(() => vmar.resize(at(0), 4 * P, 5 * P))).toBe('RangeOccupied'); // does not end the mapping
    expect(codeOf(() => vmar.resize(at(20), P, 2 * P))).toBe('NotMapped');
    expect(vmar.rss[RSS_ANON]).toBe(2);
    vmar.resize(at(0), 8 * P, 3 * P);
    expect(layout(vmar)[0]).toEqual([0, 3, 'rw-p']);
    expect(vmar.rss[RSS_ANON]).toBe(0); // page 3 and page 7 were cut off
    expect(vmar.totalVm).toBe(5 * P);
    expectSound(k, vmar);
  });
});

describe('remap', () => {
  it('moves populated pages by moving PTEs: same frames, no copy, data intact', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 4);
    write(vmar, 0, 11);
    write(vmar, 2, 13);
    const pfn0 = pfnAt(vmar, at(0));
    const pfn2 = pfnAt(vmar, at(2));
    const inUse = k.frames.nrInUse;
    expect(vmar.remap(at(0), 4 * P, at(100), 6 * P)).toBe(at(100));
    expect(layout(vmar)).toEqual([[100, 106, 'rw-p']]);
    expect(pfnAt(vmar, at(100))).toBe(pfn0);
    expect(pfnAt(vmar, at(102))).toBe(pfn2);
    expect(pfnAt(vmar, at(0))).toBe(-1);
    expect(k.frames.nrInUse).toBe(inUse);
    expect(read(vmar, 100)).toBe(11);
    expect(read(vmar, 102)).toBe(13);
    expect(read(vmar, 105)).toBe(0); // grown pages are fresh
    expect(vmar.rss[RSS_ANON]).toBe(3);
    expect(vmar.totalVm).toBe(6 * P);
    expectSound(k, vmar);
  });

  it('unmaps the destination first, shrinks the source, and can choose the destination', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 8);
    mapFixed(vmar, 20, 4, R);
    for (let i = 0; i < 8; i++) write(vmar, i, 0x10 + i);
    expect(vmar.remap(at(2), 4 * P, at(21), 2 * P)).toBe(at(21)); // keeps pages 2-3, drops 4-5
    expect(layout(vmar)).toEqual([
      [0, 2, 'rw-p'],
      [6, 8, 'rw-p'],
      [20, 21, 'r--p'],
      [21, 23, 'rw-p'],
      [23, 24, 'r--p'],
    ]);
    expect([read(vmar, 21), read(vmar, 22), read(vmar, 6)]).toEqual([0x12, 0x13, 0x16]);
    const moved = vmar.remap(at(6), 2 * P, null, 2 * P);
    expect(moved).toBeGreaterThanOrEqual(at(24));
    expect(read(vmar, (moved - BASE) / P + 1)).toBe(0x17);
    expectSound(k, vmar);
  });

  it('duplicates a shared mapping with old size 0, and the source vanishes if the destination covers it', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 2, RW, { shared: true });
    write(vmar, 1, 77);
    vmar.remap(at(1), 0, at(10), 2 * P);
    expect(read(vmar, 10)).toBe(77); // page 1 of the object is page 0 of the copy
    write(vmar, 10, 78);
    expect(read(vmar, 1)).toBe(78);
    expect(codeOf(() => vmar.remap(at(0), 0, at(0), P))).toBe('NotMapped');
    expect(layout(vmar)).toEqual([
      [1, 2, 'rw-s'],
      [10, 12, 'rw-s'],
    ]);
    expectSound(k, vmar);
  });
});

describe('RSS and the address-space limit', () => {
  it('counts anonymous and VMO pages exactly after each step', () => {
    const { k, vmar } = setup();
    mapFixed(vmar, 0, 4);
    mapFixed(vmar, 8, 4, RW, { shared: true });
    const rss = () => [vmar.rss[RSS_FILE], vmar.rss[RSS_ANON]];
    expect(rss()).toEqual([0, 0]);
    write(vmar, 0, 1);
    read(vmar, 1);
    expect(rss()).toEqual([0, 2]);
    write(vmar, 8, 1);
    read(vmar, 9);
    expect(rss()).toEqual([2, 2]);
    vmar.discard(at(0), 12 * P);
    expect(rss()).toEqual([0, 0]);
    expect(read(vmar, 8)).toBe(1); // shared pages live on in the VMO
    expect(read(vmar, 0)).toBe(0); // private pages are gone
    expect(rss()).toEqual([1, 1]);
    vmar.unmap(at(0), 9 * P);
    expect(rss()).toEqual([0, 0]);
    expectSound(k, vmar);
  });

  it('refuses growth beyond the limit, counting what a fixed mapping replaces', () => {
    const { k, vmar } = setup({ asLimit: 8 * P });
    mapFixed(vmar, 0, 4);
    mapFixed(vmar, 10, 4, R);
    expect(codeOf(() => mapFixed(vmar, 20, 1))).toBe('AddressSpaceLimit');
    expect(codeOf(() => mapFixed(vmar, 2, 4, R))).toBe('AddressSpaceLimit'); // replaces 2 pages, adds 2
    mapFixed(vmar, 2, 2, R); // replaces exactly what it adds
    expect(vmar.totalVm).toBe(8 * P);
    expect(codeOf(() => vmar.resize(at(10), 4 * P, 5 * P))).toBe('AddressSpaceLimit');
    expect(codeOf(() => vmar.remap(at(10), 4 * P, at(30), 5 * P))).toBe('AddressSpaceLimit');
    vmar.unmap(at(10), 4 * P);
    expect(vmar.remap(at(0), 2 * P, at(30), 6 * P)).toBe(at(30));
    expect(vmar.totalVm).toBe(8 * P);
    expectSound(k, vmar);
  });
});
