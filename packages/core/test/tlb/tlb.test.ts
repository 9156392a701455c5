import {
  type Kernel,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROP_DIRTY,
  PROT_READ,
  PROT_WRITE,
  TlbArray,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS, expectClean, testKernel } from '../support/configs.ts';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;
const ANON = MAP_PRIVATE | MAP_ANONYMOUS;

function world(arch = ARCHS[0].arch, tlb = {}): { k: Kernel; sys: LinuxSyscalls } {
  const k = testKernel({ arch }, { tlb });
  return { k, sys: new LinuxSyscalls(k) };
}

const touch = (sys: LinuxSyscalls, pid: number, va: number): number =>
  sys.writeMemory(pid, va, Uint8Array.of(1));
const load = (sys: LinuxSyscalls, pid: number, va: number): number =>
  sys.readMemory(pid, va, new Uint8Array(1));

/** Violation kinds of `kernel.check()` that come from the TLB model. */
function tlbViolations(k: Kernel): string[] {
  return k
    .check()
    .filter((v) => v.kind.startsWith('tlb-'))
    .map((v) => v.kind);
}

describe('TlbArray (one set-associative array)', () => {
  it('replaces the least recently used way of a full set and counts the eviction', () => {
    const a = new TlbArray({ entries: 8, ways: 2 }); // 4 sets
    expect(a.insert(1, 0, 10, 1)).toBe(false);
    expect(a.insert(1, 4, 14, 1)).toBe(false); // same set as vpn 0
    expect(a.find(1, 0)).toBeGreaterThanOrEqual(0); // vpn 0 now most recent
    expect(a.insert(1, 8, 18, 1)).toBe(true); // evicts vpn 4
    expect(a.find(1, 4)).toBe(-1);
    expect(a.pfn[a.find(1, 0)]).toBe(10);
    expect(a.pfn[a.find(1, 8)]).toBe(18);
    expect(a.find(2, 0)).toBe(-1); // another ASID never hits
  });

  it('places a page in set vpn % sets, past 2^32 too, whether the set count is a power of two or not', () => {
    for (const [entries, ways] of [
      [64, 4], // 16 sets: the low bits
      [12, 4], // 3 sets: the modulo
    ]) {
      const a = new TlbArray({ entries, ways });
      const sets = entries / ways;
      for (const vpn of [5, 2 ** 31 + 7, 2 ** 32 + 5, 2 ** 45 + 11, 2 ** 52 - 3]) {
        a.insert(1, vpn, 1, 1);
        const at = a.find(1, vpn);
        expect(Math.floor(at / ways), `vpn ${vpn}, ${sets} sets`).toBe(vpn % sets);
        expect(a.invalidateRange(1, vpn, vpn + 1)).toBe(1);
      }
    }
  });

  it('invalidates a range of one ASID set by set and by a scan alike', () => {
    for (const [start, end] of [
      [2, 5],
      [0, 1000],
    ]) {
      const a = new TlbArray({ entries: 16, ways: 2 }); // 8 sets: [0, 1000) takes the scan
      for (let v = 0; v < 8; v++) {
        a.insert(1, v, v, 1);
        a.insert(2, v, v, 1);
      }
      const dropped = a.invalidateRange(1, start, end);
      expect(dropped).toBe(Math.min(end, 8) - start);
      for (let v = 0; v < 8; v++) {
        expect(a.find(1, v) >= 0).toBe(v < start || v >= end);
        expect(a.find(2, v)).toBeGreaterThanOrEqual(0);
      }
      expect(a.invalidateAsid(2)).toBe(8);
    }
  });
});

describe('TlbArray flush by ASID', () => {
  it('drops every entry of the ASID at once; a fill then takes their ways before evicting', () => {
    const a = new TlbArray({ entries: 8, ways: 2 }, 8); // 4 sets
    for (let v = 0; v < 4; v++) {
      a.insert(1, v, 10 + v, 1);
      a.insert(2, v, 20 + v, 1);
    }
    expect(a.invalidateAsid(1)).toBe(4);
    expect(a.invalidateAsid(1)).toBe(0);
    for (let v = 0; v < 4; v++) {
      expect(a.find(1, v)).toBe(-1);
      expect(a.holds(1, v)).toBe(false);
      expect(a.pfn[a.find(2, v)]).toBe(20 + v);
    }
    let valid = 0;
    for (let i = 0; i < a.nrEntries; i++) if (a.isValid(i)) valid++;
    expect(valid).toBe(4);
    // Every set is full, but ASID 1's old ways are free: no eviction, ASID 2 stays.
    for (let v = 0; v < 4; v++) expect(a.insert(3, v, 30 + v, 1)).toBe(false);
    for (let v = 0; v < 4; v++) expect(a.find(2, v)).toBeGreaterThanOrEqual(0);
    // The ASID caches again in its new generation; a range flush counts only that.
    a.invalidateAsid(3);
    expect(a.insert(1, 2, 12, 1)).toBe(false);
    expect(a.invalidateRange(1, 0, 4)).toBe(1);
    a.invalidateAll();
    for (let i = 0; i < a.nrEntries; i++) expect(a.isValid(i)).toBe(false);
    expect(a.invalidateAsid(2)).toBe(0);
  });
});

describe('TLB configuration', () => {
  it('defaults to x86_64-like geometry on 2 CPUs', () => {
    const { k } = world();
    expect(k.tlb.config).toEqual({
      enabled: true,
      cpus: 2,
      asids: 4096,
      l1: { entries: 64, ways: 4 },
      l2: { entries: 1536, ways: 12 },
    });
  });

  it.each([
    [{ cpus: 0 }, /tlb.cpus/],
    [{ cpus: 33 }, /tlb.cpus/],
    [{ l1: { entries: 10, ways: 4 } }, /tlb.l1.entries/],
    [{ l2: { entries: 16, ways: 0 } }, /tlb.l2.ways/],
    [{ asids: 1 }, /tlb.asids/],
    [{ enabled: 'yes' }, /tlb.enabled/],
  ])('rejects %j with InvalidConfig', (tlb, message) => {
    expect(() => testKernel({ arch: ARCHS[0].arch }, { tlb: tlb as never })).toThrow(message);
  });
});

describe.each(ARCHS)('the TLB model on $name', ({ arch }) => {
  it('misses on first touch, hits after, and spills from L1 to L2', () => {
    const { k, sys } = world(arch);
    const p = sys.spawn();
    const a = sys.mmap(p, 0, 128 * PAGE, RW, ANON);
    expect(touch(sys, p, a)).toBe(0);
    expect([k.tlb.nrMisses, k.tlb.nrHits]).toEqual([1, 0]);
    expect(load(sys, p, a)).toBe(0);
    expect(k.tlb.nrL1Hits).toBe(1);
    // 128 pages overflow the 64-entry L1 (16 sets × 4 ways): they come back from L2.
    for (let i = 0; i < 128; i++) touch(sys, p, a + i * PAGE);
    expect(k.tlb.nrL1Evictions).toBeGreaterThan(0);
    const l2 = k.tlb.nrL2Hits;
    for (let i = 0; i < 128; i++) load(sys, p, a + i * PAGE);
    expect(k.tlb.nrL2Hits - l2).toBeGreaterThan(0);
    expect(k.tlb.nrL2Evictions).toBe(0);
    expect(k.tlb.nrMisses).toBe(128);
    expectClean(k);
  });

  it('flushes by page on a small munmap and by ASID on a large one, so nothing stale remains', () => {
    const { k, sys } = world(arch);
    const p = sys.spawn();
    const a = sys.mmap(p, 0, 64 * PAGE, RW, ANON);
    for (let i = 0; i < 64; i++) touch(sys, p, a + i * PAGE);
    expect(sys.munmap(p, a, 2 * PAGE)).toBe(0);
    expect([k.tlb.nrPageFlushes, k.tlb.nrPagesFlushed, k.tlb.nrAsidFlushes]).toEqual([1, 2, 0]);
    expectClean(k);
    const misses = k.tlb.nrMisses;
    expect(load(sys, p, a + 2 * PAGE)).toBe(0); // untouched by the flush: still cached
    expect(k.tlb.nrMisses).toBe(misses);
    expect(sys.munmap(p, a + 2 * PAGE, 40 * PAGE)).toBe(0);
    expect(k.tlb.nrAsidFlushes).toBe(1);
    expect(load(sys, p, a + 50 * PAGE)).toBe(0); // the whole ASID went
    expect(k.tlb.nrMisses).toBe(misses + 1);
    expect(k.tlb.nrShootdowns).toBe(0); // one-CPU processes flush locally
    expectClean(k);
  });

  it('write-protection by mprotect is flushed; a later write faults instead of hitting', () => {
    const { k, sys } = world(arch);
    const p = sys.spawn();
    const a = sys.mmap(p, 0, 4 * PAGE, RW, ANON);
    touch(sys, p, a);
    expect(sys.mprotect(p, a, 4 * PAGE, PROT_READ)).toBe(0);
    expectClean(k);
    expect(touch(sys, p, a)).toBe(11);
    expect(k.tlb.nrStaleHits).toBe(0);
    expectClean(k);
  });

  it('gives each process its own ASID and CPU round-robin, and releases the ASID at exit', () => {
    const { k, sys } = world(arch);
    const p0 = sys.spawn();
    const a = sys.mmap(p0, 0, 4 * PAGE, RW, ANON);
    touch(sys, p0, a);
    const p1 = sys.fork(p0);
    const s0 = sys.procs.require(p0).vmar.space.tlbSpace;
    const s1 = sys.procs.require(p1).vmar.space.tlbSpace;
    expect(s0.asid).not.toBe(s1.asid);
    expect([s0.homeCpu, s1.homeCpu]).toEqual([0, 1]);
    touch(sys, p1, a);
    expect(s1.cpuMask).toBe(0b10);
    const flushes = k.tlb.nrAsidFlushes;
    sys.exit(p1);
    expect(k.tlb.nrAsidFlushes).toBeGreaterThan(flushes);
    expect(s1.live).toBe(false);
    expectClean(k);
  });

  it('renumbers live spaces and flushes every TLB when ASIDs run out', () => {
    const { k, sys } = world(arch, { asids: 4 });
    const p0 = sys.spawn();
    const a = sys.mmap(p0, 0, PAGE, RW, ANON);
    touch(sys, p0, a);
    for (let i = 0; i < 5; i++) sys.exit(sys.fork(p0));
    expect(k.tlb.nrFullFlushes).toBeGreaterThan(0);
    expect(k.tlb.config.asids).toBe(4);
    const misses = k.tlb.nrMisses;
    expect(load(sys, p0, a)).toBe(0); // the rollover emptied the TLBs
    expect(k.tlb.nrMisses).toBe(misses + 1);
    expectClean(k);
  });

  it('counts remote CPUs of a shootdown', () => {
    const { k, sys } = world(arch);
    const p0 = sys.spawn();
    const p1 = sys.spawn();
    const a = sys.mmap(p1, 0, PAGE, RW, ANON);
    touch(sys, p1, a);
    const space = sys.procs.require(p1).vmar.space.tlbSpace;
    expect(space.cpuMask).toBe(0b10);
    k.tlb.shootdown(space);
    expect(k.tlb.nrShootdowns).toBe(1);
    expect(space.cpuMask).toBe(0);
    expect(p0).toBe(0);
    expectClean(k);
  });

  it('with the model off, counts flush requests only', () => {
    const { k, sys } = world(arch, { enabled: false });
    const p = sys.spawn();
    const a = sys.mmap(p, 0, 4 * PAGE, RW, ANON);
    touch(sys, p, a);
    load(sys, p, a);
    expect(sys.munmap(p, a, PAGE)).toBe(0);
    expect([k.tlb.nrHits, k.tlb.nrMisses, k.tlb.nrPageFlushes]).toEqual([0, 0, 1]);
    expectClean(k);
  });
});

describe.each(ARCHS)('the stale-translation detector on $name', ({ arch }) => {
  /** A process with one written page, cached in its TLB. */
  function cachedPage(): { k: Kernel; sys: LinuxSyscalls; p: number; a: number } {
    const { k, sys } = world(arch);
    const p = sys.spawn();
    const a = sys.mmap(p, 0, 4 * PAGE, RW, ANON);
    expect(touch(sys, p, a)).toBe(0);
    expectClean(k);
    return { k, sys, p, a };
  }

  it('catches a PTE removed without a flush: as a cached entry, then as a stale hit', () => {
    const { k, sys, p, a } = cachedPage();
    const space = sys.procs.require(p).vmar.space;
    const c = space.cursorMut(a, a + PAGE);
    c.unmap(PAGE); // the broken path: no space.flushRange
    c.drop();
    sys.procs.require(p).vmar.addRss(0, -1);
    expect(tlbViolations(k)).toEqual(['tlb-stale-entry']);
    expect(load(sys, p, a)).toBe(0); // faults a fresh page in; the hit on the old entry is recorded
    expect(k.tlb.nrStaleHits).toBe(1);
    const v = k.check().filter((x) => x.kind.startsWith('tlb-'));
    expect(v.map((x) => x.kind)).toEqual(['tlb-stale-hit']);
    expect(v[0].message).toMatch(/no longer mapped: a flush is missing/);
  });

  it('catches W taken away without a flush on the write that would have gone through', () => {
    const { k, sys, p, a } = cachedPage();
    const space = sys.procs.require(p).vmar.space;
    const c = space.cursorMut(a, a + PAGE);
    c.protect(PAGE, (prop) => prop & ~2); // PROP_W, no flush
    c.drop();
    expect(k.tlb.nrStaleHits).toBe(0);
    touch(sys, p, a); // the write fault regains W in place (reuse)
    expect(k.tlb.nrStaleHits).toBe(1);
    expect(k.check().map((x) => x.message)).toEqual([expect.stringMatching(/grants rights 0x2/)]);
  });

  it('catches a dirty bit cleared without a flush', () => {
    const { k, sys, p, a } = cachedPage();
    const space = sys.procs.require(p).vmar.space;
    const c = space.cursorMut(a, a + PAGE);
    c.protect(PAGE, (prop) => prop & ~PROP_DIRTY);
    c.drop();
    expect(k.check().map((x) => x.message)).toEqual([expect.stringMatching(/dirty bit/)]);
    space.flushPage(a); // the fix: with the flush, all is well
    expectClean(k);
    touch(sys, p, a);
    expect(k.tlb.nrStaleHits).toBe(0);
    expectClean(k);
  });
});
