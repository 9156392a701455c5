import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKernel,
  type Kernel,
  PROP_DIRTY,
  ProcessTable,
  QUERY_MAPPED,
  readUser,
  VM_READ,
  VM_WRITE,
  VMA_LOCKED,
  type Vmar,
  writeUser,
} from '@mmkit/core';
import {
  type FileVmo,
  FsStore,
  MemoryStore,
  type PageCachePlugin,
  PG_DIRTY,
  PG_UPTODATE,
  pageCache,
  YIELD_BLOCKED,
  YIELD_IO,
} from '@mmkit/plugins';
import { afterEach, describe, expect, it } from 'vitest';
import { ARCHS, expectClean } from '../../core/test/support/configs.ts';
import { PageIndex, SlotList } from '../src/page-cache/page-index.ts';

const PAGE = 4096;
const BASE = 0x10_0000_0000;

interface World {
  k: Kernel;
  pc: PageCachePlugin;
  procs: ProcessTable;
}

function world(arch = ARCHS[0].arch, stores: Map<string, MemoryStore> = new Map()): World {
  const k = createKernel({
    arch,
    memory: 64 << 20,
    debug: true,
    plugins: [
      pageCache({
        store: (name) => {
          const s = new MemoryStore();
          stores.set(name, s);
          return s;
        },
      }),
    ],
  });
  const pc = k.plugins.get<PageCachePlugin>('pagecache')!;
  return { k, pc, procs: new ProcessTable(k) };
}

function mapFile(
  vmar: Vmar,
  f: FileVmo,
  addr: number,
  nrPages: number,
  opts: { shared?: boolean; write?: boolean; page?: number } = {},
): void {
  vmar.map({
    size: nrPages * PAGE,
    perms: VM_READ | (opts.write === false ? 0 : VM_WRITE),
    placement: 'fixed',
    addr,
    shared: opts.shared ?? true,
    vmo: f,
    vmoOffset: (opts.page ?? 0) * PAGE,
  });
}

function write(vmar: Vmar, va: number, bytes: number[]): void {
  expect(writeUser(vmar, va, Uint8Array.from(bytes))).toBe(0);
}

function read(vmar: Vmar, va: number, len: number): number[] {
  const out = new Uint8Array(len);
  expect(readUser(vmar, va, out)).toBe(0);
  return [...out];
}

function storeBytes(s: MemoryStore, index: number, offset: number, len: number): number[] {
  const buf = new Uint8Array(PAGE);
  const before = s.nrReads;
  s.readPage(index, buf);
  s.nrReads = before;
  return [...buf.subarray(offset, offset + len)];
}

/** PTE property of `va` in `vmar`, or -1 if nothing is mapped there. */
function pteProp(vmar: Vmar, va: number): number {
  const c = vmar.space.cursor(va, va + PAGE);
  try {
    return c.query() === QUERY_MAPPED ? c.qProp : -1;
  } finally {
    c.drop();
  }
}

function clean(w: World): void {
  expectClean(w.k);
  expect(w.procs.check()).toEqual([]);
}

/** Every process exits and every file is deleted: only the boot frames remain. */
function expectNoLeak(w: World): void {
  for (const p of w.procs.live) w.procs.exit(p.pid);
  w.pc.unlinkAll();
  expect(w.k.frames.nrInUse).toBe(w.k.nrBootFrames);
  expectClean(w.k);
}

describe('page map: loads', () => {
  it('a miss reads the page through the store once; hits read nothing', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(undefined, stores);
    const f = w.pc.createFile('a', 3 * PAGE);
    f.pwrite(PAGE + 5, Uint8Array.of(7, 8));
    f.sync();
    f.evict(0, 3 * PAGE);
    expect(f.pm.nrPages).toBe(0);
    const s = stores.get('a')!;
    const reads = s.nrReads;
    const loads = f.pm.stats.nrLoads;
    expect([...f.pread(PAGE + 4, 4)]).toEqual([0, 7, 8, 0]);
    expect([...f.pread(PAGE + 5, 1)]).toEqual([7]);
    expect(s.nrReads).toBe(reads + 1);
    expect(f.pm.stats.nrLoads).toBe(loads + 1);
  });

  it('a hole is read (and counted) without copying zeros into the frame', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(undefined, stores);
    const f = w.pc.createFile('a', 2 * PAGE);
    f.pwrite(PAGE + 1, Uint8Array.of(5));
    f.sync();
    f.evict(0, 2 * PAGE);
    const s = stores.get('a')!;
    const reads = s.nrReads;
    expect([...f.pread(0, 2)]).toEqual([0, 0]);
    expect([...f.pread(PAGE, 2)]).toEqual([0, 5]);
    expect(s.nrReads).toBe(reads + 2);
    expect(w.k.memory.isBacked(f.pm.pfnAt(0))).toBe(false);
    expect(w.k.memory.isBacked(f.pm.pfnAt(1))).toBe(true);
    expectNoLeak(w);
  });

  it('concurrent loaders of one page cause one read and share the page', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(undefined, stores);
    const f = w.pc.createFile('a', PAGE);
    const store = stores.get('a')!;
    const reads = store.nrReads;
    const a = f.pm.loadTask(0);
    const b = f.pm.loadTask(0);
    // A inserts the page locked and starts the read.
    expect(a.next()).toEqual({ done: false, value: YIELD_IO });
    const slot = f.pm.slotAt(0);
    expect(f.pm.flagsOf(slot) & PG_UPTODATE).toBe(0);
    // B finds it locked, not up to date: it waits.
    expect(b.next()).toEqual({ done: false, value: YIELD_BLOCKED });
    expect(b.next()).toEqual({ done: false, value: YIELD_BLOCKED });
    // A's read completes; B re-checks and finds it up to date.
    expect(a.next()).toEqual({ done: true, value: slot });
    expect(b.next()).toEqual({ done: true, value: slot });
    expect(store.nrReads).toBe(reads + 1);
    expect(f.pm.refsOf(slot)).toBe(2);
    f.pm.putPage(slot);
    f.pm.putPage(slot);
    expectNoLeak(w);
  });

  it('a failed read leaves the page to the next loader, which reads it', () => {
    let fail = true;
    const inner = new MemoryStore();
    const k = createKernel({
      arch: ARCHS[0].arch,
      memory: 64 << 20,
      plugins: [
        pageCache({
          store: () => ({
            get size() {
              return inner.size;
            },
            readPage(i: number, dst: Uint8Array) {
              if (fail) {
                fail = false;
                throw new Error('disk error');
              }
              inner.readPage(i, dst);
            },
            writePage: (i: number, src: Uint8Array, len: number) => inner.writePage(i, src, len),
            setSize: (n: number) => inner.setSize(n),
            close: () => inner.close(),
          }),
        }),
      ],
    });
    const pc = k.plugins.get<PageCachePlugin>('pagecache')!;
    const f = pc.createFile('a', PAGE);
    inner.writePage(0, Uint8Array.of(42), 1);
    const a = f.pm.loadTask(0);
    const b = f.pm.loadTask(0);
    expect(a.next().value).toBe(YIELD_IO);
    expect(b.next().value).toBe(YIELD_BLOCKED);
    expect(() => a.next()).toThrow('disk error');
    expect(b.next().value).toBe(YIELD_IO);
    const r = b.next();
    expect(r.done).toBe(true);
    const slot = r.value as number;
    expect(f.pm.refsOf(slot)).toBe(1);
    expect(k.memory.read(f.pm.pfnOf(slot), 0, 1)[0]).toBe(42);
    f.pm.putPage(slot);
  });

  it('the sync loader refuses to wait for a page locked by a suspended task', () => {
    const w = world();
    const f = w.pc.createFile('a', PAGE);
    const a = f.pm.loadTask(0);
    a.next();
    expect(() => f.pm.loadPage(0)).toThrow(/locked by a suspended task/);
    a.next();
    f.pm.putPage(f.pm.slotAt(0));
  });
});

describe.each(ARCHS)('page map: removal on $name', ({ arch }) => {
  let tmp: string | null = null;
  afterEach(() => {
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true });
    tmp = null;
  });

  it('writes back a page dirtied through a shared mapping (PTE dirty bit), unmaps it, and a fault reloads it', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(arch, stores);
    const f = w.pc.createFile('a', 4 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 4);
    write(p.vmar, BASE + PAGE + 3, [1, 2, 3]);
    expect(read(p.vmar, BASE + 2 * PAGE, 1)).toEqual([0]);
    const slot = f.pm.slotAt(1);
    // The write set the PTE dirty bit; the page flag is still clean.
    expect(pteProp(p.vmar, BASE + PAGE) & PROP_DIRTY).not.toBe(0);
    expect(f.pm.flagsOf(slot) & PG_DIRTY).toBe(0);
    const order: string[] = [];
    w.k.events.on('pageCacheWriteback', (_n, i) => order.push(`wb${i}`));
    w.k.events.on('pageCacheRemove', (_n, i) => order.push(`rm${i}`));
    const rss = p.vmar.rss[0];
    expect(f.pm.removeContig(0, 4)).toBe(2);
    expect(order).toEqual(['wb1', 'rm1', 'rm2']);
    expect(storeBytes(stores.get('a')!, 1, 3, 3)).toEqual([1, 2, 3]);
    expect(pteProp(p.vmar, BASE + PAGE)).toBe(-1);
    expect(p.vmar.rss[0]).toBe(rss - 2);
    expect(f.pm.nrPages).toBe(0);
    clean(w);
    const loads = f.pm.stats.nrLoads;
    expect(read(p.vmar, BASE + PAGE + 3, 3)).toEqual([1, 2, 3]);
    expect(f.pm.stats.nrLoads).toBe(loads + 1);
    clean(w);
    expectNoLeak(w);
  });

  it('writes back a page dirtied by pwrite (page flag) before removing it; clean pages are not written', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(arch, stores);
    const f = w.pc.createFile('a', 3 * PAGE);
    f.pwrite(2 * PAGE + 10, Uint8Array.of(9, 9));
    f.pread(0, 1);
    const store = stores.get('a')!;
    const writes = store.nrWrites;
    expect(f.pm.removeContig(0, 3)).toBe(2);
    expect(store.nrWrites).toBe(writes + 1);
    expect(storeBytes(store, 2, 10, 2)).toEqual([9, 9]);
    expect([...f.pread(2 * PAGE + 9, 4)]).toEqual([0, 9, 9, 0]);
    expectNoLeak(w);
  });

  it('marks the file page dirty when a dirty PTE of it goes, but not for a dirty private copy', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 4 * PAGE);
    const p = w.procs.spawn();
    // Pages 0 and 2 private (a write makes a copy), pages 1 and 3 shared.
    mapFile(p.vmar, f, BASE, 1, { shared: false, page: 0 });
    mapFile(p.vmar, f, BASE + PAGE, 1, { page: 1 });
    mapFile(p.vmar, f, BASE + 8 * PAGE, 1, { shared: false, page: 2 });
    mapFile(p.vmar, f, BASE + 9 * PAGE, 1, { page: 3 });
    for (const va of [BASE, BASE + PAGE, BASE + 8 * PAGE, BASE + 9 * PAGE]) {
      expect(read(p.vmar, va, 1)).toEqual([0]);
      write(p.vmar, va, [7]);
      expect(pteProp(p.vmar, va) & PROP_DIRTY).not.toBe(0);
    }
    const dirty = (index: number) => (f.pm.flagsOf(f.pm.slotAt(index)) & PG_DIRTY) !== 0;
    expect([0, 1, 2, 3].map(dirty)).toEqual([false, false, false, false]);
    // munmap: the unmap's own pass hands the dirty bits over.
    p.vmar.unmap(BASE, 2 * PAGE);
    expect([0, 1, 2, 3].map(dirty)).toEqual([false, true, false, false]);
    // Exit: the walk before the page table goes.
    w.procs.exit(p.pid);
    expect([0, 1, 2, 3].map(dirty)).toEqual([false, true, false, true]);
    expect([...f.pread(0, 1)]).toEqual([0]);
    expect([...f.pread(PAGE, 1)]).toEqual([7]);
    expectNoLeak(w);
  });

  it('keeps data written before an mprotect to read-only, through removal and through munmap', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(arch, stores);
    const f = w.pc.createFile('a', 2 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 2);
    write(p.vmar, BASE + 1, [0xaa]);
    write(p.vmar, BASE + PAGE + 1, [0xbb]);
    p.vmar.protect(BASE, 2 * PAGE, VM_READ);
    // Page 0: removal takes the dirty bit of a mapping that is read-only now.
    expect(f.pm.removeContig(0, 1)).toBe(1);
    expect(storeBytes(stores.get('a')!, 0, 1, 1)).toEqual([0xaa]);
    // Page 1: munmap moves the dirty bit to the page, so a later removal writes it back.
    p.vmar.unmap(BASE, 2 * PAGE);
    expect(f.pm.flagsOf(f.pm.slotAt(1)) & PG_DIRTY).not.toBe(0);
    expect(f.pm.removeContig(0, 2)).toBe(1);
    expect(storeBytes(stores.get('a')!, 1, 1, 1)).toEqual([0xbb]);
    expect([...f.pread(1, 1)]).toEqual([0xaa]);
    expectNoLeak(w);
  });

  it('skips pages that have users', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 2 * PAGE);
    f.pread(0, 2 * PAGE);
    const held = f.pm.findPage(1);
    expect(f.pm.removeContig(0, 2)).toBe(1);
    expect(f.pm.indices()).toEqual([1]);
    f.pm.putPage(held);
    expect(f.pm.removeContig(0, 2)).toBe(1);
    expect(f.pm.nrPages).toBe(0);
    expectNoLeak(w);
  });

  it('skips every page a pinned (MAP_LOCKED) mapping covers, faulted in or not, and leaves its PTEs', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 8 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 8);
    mapFile(p.vmar, f, BASE + 16 * PAGE, 3, { page: 2 });
    f.pin(p.vmar, BASE + 16 * PAGE);
    f.pread(0, 8 * PAGE);
    write(p.vmar, BASE + 3 * PAGE, [5]);
    write(p.vmar, BASE + 6 * PAGE, [6]);
    // Pages 2..4 are covered by the pinned mapping (its page 2 and 4 were never touched through it).
    expect(f.pm.removeContig(0, 8)).toBe(5);
    expect(f.pm.indices()).toEqual([2, 3, 4]);
    expect(pteProp(p.vmar, BASE + 3 * PAGE)).not.toBe(-1);
    expect(pteProp(p.vmar, BASE + 6 * PAGE)).toBe(-1);
    expect(read(p.vmar, BASE + 6 * PAGE, 1)).toEqual([6]);
    expect(read(p.vmar, BASE + 17 * PAGE, 1)).toEqual([5]);
    clean(w);
    expectNoLeak(w);
  });

  it('keeps a locked mapping pinned through a split and a merge', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 8 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 8);
    f.pin(p.vmar, BASE);
    for (let i = 0; i < 8; i++) write(p.vmar, BASE + i * PAGE, [i + 1]);
    // A split (the middle loses W) and a merge back (W again): the lock is the mapping's flag.
    p.vmar.protect(BASE + 2 * PAGE, 2 * PAGE, VM_READ);
    expect(p.vmar.mappings.size).toBe(3);
    expect(f.pm.removeContig(0, 8)).toBe(0);
    p.vmar.protect(BASE + 2 * PAGE, 2 * PAGE, VM_READ | VM_WRITE);
    expect(p.vmar.mappings.size).toBe(1);
    expect(p.vmar.views()[0].locked).toBe(true);
    expect(f.pm.removeContig(0, 8)).toBe(0);
    expect(f.pm.nrPages).toBe(8);
    // Unlocked, the pages go (written back first).
    p.vmar.setFlags(BASE, BASE + 8 * PAGE, 0, VMA_LOCKED);
    expect(f.pm.removeContig(0, 8)).toBe(8);
    expect(read(p.vmar, BASE + 5 * PAGE, 1)).toEqual([6]);
    clean(w);
    expectNoLeak(w);
  });

  it('truncation drops the private copies of the truncated pages (even_cows)', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 4 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 4, { shared: false });
    f.pwrite(0, Uint8Array.of(7));
    write(p.vmar, BASE + PAGE, [9]); // a private copy of page 1
    expect(read(p.vmar, BASE, 1)).toEqual([7]);
    f.truncate(PAGE);
    f.truncate(4 * PAGE);
    // Page 0 was kept, page 1 (and its private copy) is gone: zeros, then the file's data.
    expect(read(p.vmar, BASE, 1)).toEqual([7]);
    expect(read(p.vmar, BASE + PAGE, 1)).toEqual([0]);
    f.pwrite(PAGE, Uint8Array.of(5));
    expect(read(p.vmar, BASE + PAGE, 1)).toEqual([5]);
    clean(w);
    expectNoLeak(w);
  });

  it('punching a hole zeroes the range through every mapping and the store, not private copies', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(arch, stores);
    const f = w.pc.createFile('a', 3 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 3);
    const q = w.procs.spawn();
    mapFile(q.vmar, f, BASE, 3, { shared: false });
    for (let i = 0; i < 3; i++) write(p.vmar, BASE + i * PAGE, [i + 1]);
    write(q.vmar, BASE + PAGE, [42]);
    expect(read(q.vmar, BASE + 2 * PAGE, 1)).toEqual([3]); // the cached page, mapped
    f.punchHole(1, 5);
    expect(read(p.vmar, BASE + PAGE, 1)).toEqual([0]);
    // q's own copy of page 1 is not the file's: Linux punches without `even_cows`.
    expect(read(q.vmar, BASE + PAGE, 1)).toEqual([42]);
    expect(read(q.vmar, BASE + 2 * PAGE, 1)).toEqual([0]);
    expect(read(p.vmar, BASE, 1)).toEqual([1]);
    expect(f.size).toBe(3 * PAGE);
    f.sync();
    expect(storeBytes(stores.get('a')!, 2, 0, 1)).toEqual([0]);
    clean(w);
    expectNoLeak(w);
  });

  it('a lookup during removal (while it writes back) aborts the removal of that page only', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 3 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 3);
    for (let i = 0; i < 3; i++) write(p.vmar, BASE + i * PAGE, [i + 1]);
    const task = f.pm.removeContigTask(0, 3);
    expect(task.next()).toEqual({ done: false, value: YIELD_IO });
    expect(f.pm.removalOf(f.pm.slotAt(0))).toBe(true);
    // Another path looks page 0 up (and lets it go again) while the remover sleeps.
    const s = f.pm.findPage(0);
    expect(f.pm.removalOf(s)).toBe(false);
    f.pm.putPage(s);
    // Meanwhile a second remover gives up at once.
    expect(f.pm.removeContig(0, 3)).toBe(0);
    let r = task.next();
    while (r.done !== true) r = task.next();
    expect(r.value).toBe(2);
    expect(f.pm.indices()).toEqual([0]);
    expect(read(p.vmar, BASE, 1)).toEqual([1]);
    expect(read(p.vmar, BASE + 2 * PAGE, 1)).toEqual([3]);
    clean(w);
    expectNoLeak(w);
  });

  it('a page fault during removal maps the page again and keeps it; no data is lost', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(arch, stores);
    const f = w.pc.createFile('a', 2 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 2);
    write(p.vmar, BASE, [1]);
    write(p.vmar, BASE + PAGE, [2]);
    const task = f.pm.removeContigTask(0, 2);
    expect(task.next().value).toBe(YIELD_IO);
    // The PTEs are gone: this write faults, finds page 1 through the page map and maps it.
    write(p.vmar, BASE + PAGE + 1, [3]);
    let r = task.next();
    while (r.done !== true) r = task.next();
    expect(r.value).toBe(1);
    expect(f.pm.indices()).toEqual([1]);
    clean(w);
    expect(read(p.vmar, BASE + PAGE, 2)).toEqual([2, 3]);
    expect(read(p.vmar, BASE, 1)).toEqual([1]);
    f.sync();
    expect(storeBytes(stores.get('a')!, 1, 0, 2)).toEqual([2, 3]);
    expectNoLeak(w);
  });

  it('batches TLB shootdowns, at most ten processes per batch', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 1);
    expect(read(p.vmar, BASE, 1)).toEqual([0]);
    for (let i = 0; i < 11; i++) w.procs.fork(p.pid);
    expect(w.procs.live.length).toBe(12);
    const spaces = w.k.tlb.nrAsidFlushes;
    const ipis = w.k.tlb.nrShootdowns;
    expect(f.pm.removeContig(0, 1)).toBe(1);
    expect(f.pm.stats.nrShootdownBatches).toBe(2);
    expect(w.k.tlb.nrAsidFlushes - spaces).toBe(12);
    // Only the parent touched the page, so only its CPU held an entry to shoot down.
    expect(w.k.tlb.nrShootdowns - ipis).toBe(1);
    clean(w);
    expectNoLeak(w);
  });

  it('a private mapping loses its unwritten file pages to removal but keeps its copies', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 2 * PAGE);
    f.pwrite(0, Uint8Array.of(1));
    f.pwrite(PAGE, Uint8Array.of(2));
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 2, { shared: false });
    expect(read(p.vmar, BASE, 1)).toEqual([1]);
    write(p.vmar, BASE + PAGE, [7]);
    expect(f.pm.removeContig(0, 2)).toBe(2);
    expect(pteProp(p.vmar, BASE)).toBe(-1);
    expect(pteProp(p.vmar, BASE + PAGE)).not.toBe(-1);
    f.pwrite(0, Uint8Array.of(4));
    f.pwrite(PAGE, Uint8Array.of(5));
    // The unwritten page sees the file; the copy never does, nor does the file see it.
    expect(read(p.vmar, BASE, 1)).toEqual([4]);
    expect(read(p.vmar, BASE + PAGE, 1)).toEqual([7]);
    expect([...f.pread(PAGE, 1)]).toEqual([5]);
    clean(w);
    expectNoLeak(w);
  });

  it('msync-style writeback harvests PTE dirty bits and writes each dirty page once', () => {
    const stores = new Map<string, MemoryStore>();
    const w = world(arch, stores);
    const f = w.pc.createFile('a', 2 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 2);
    write(p.vmar, BASE + 5, [8]);
    expect(read(p.vmar, BASE + PAGE, 1)).toEqual([0]);
    expect(f.sync()).toBe(1);
    expect(pteProp(p.vmar, BASE) & PROP_DIRTY).toBe(0);
    expect(storeBytes(stores.get('a')!, 0, 5, 1)).toEqual([8]);
    expect(f.sync()).toBe(0);
    write(p.vmar, BASE + 6, [9]);
    expect(f.sync(0, PAGE)).toBe(1);
    expect(storeBytes(stores.get('a')!, 0, 5, 2)).toEqual([8, 9]);
    expect(f.pm.nrPages).toBe(2);
    clean(w);
    expectNoLeak(w);
  });

  it('truncation unmaps pages past the new end (SIGBUS there) and zeroes the tail of the last page', () => {
    const w = world(arch);
    const f = w.pc.createFile('a', 3 * PAGE);
    const p = w.procs.spawn();
    mapFile(p.vmar, f, BASE, 3);
    write(p.vmar, BASE + 2 * PAGE, [1]);
    write(p.vmar, BASE + 100, [2, 3]);
    f.truncate(101);
    expect(writeUser(p.vmar, BASE + 2 * PAGE, Uint8Array.of(1))).toBe(7);
    expect(writeUser(p.vmar, BASE + PAGE, Uint8Array.of(1))).toBe(7);
    expect(read(p.vmar, BASE + 100, 2)).toEqual([2, 0]);
    clean(w);
    f.truncate(3 * PAGE);
    expect(read(p.vmar, BASE + 2 * PAGE, 1)).toEqual([0]);
    expect([...f.pread(99, 4)]).toEqual([0, 2, 0, 0]);
    clean(w);
    expectNoLeak(w);
  });

  it('the fs store writes real bytes to a file on disk', () => {
    tmp = mkdtempSync(join(tmpdir(), 'mmkit-pc-'));
    writeFileSync(join(tmp, 'data'), Buffer.from('hello, page cache'));
    const k = createKernel({ arch, memory: 64 << 20, plugins: [pageCache({ store: { dir: tmp } })] });
    const pc = k.plugins.get<PageCachePlugin>('pagecache')!;
    const f = pc.createFile('new', 2 * PAGE);
    f.pwrite(PAGE - 2, Uint8Array.from(Buffer.from('abcd')));
    expect(f.evict(0, 2 * PAGE)).toBe(2);
    const onDisk = readFileSync(join(tmp, 'new'));
    expect(onDisk.length).toBe(2 * PAGE);
    expect(onDisk.subarray(PAGE - 2, PAGE + 2).toString()).toBe('abcd');
    // An existing file keeps its contents when mapped through its own store.
    const store = new FsStore(join(tmp, 'data'));
    expect(store.size).toBe(17);
    const buf = new Uint8Array(PAGE);
    store.readPage(0, buf);
    expect(Buffer.from(buf.subarray(0, 17)).toString()).toBe('hello, page cache');
    store.close();
    const procs = new ProcessTable(k);
    const p = procs.spawn();
    mapFile(p.vmar, f, BASE, 2);
    write(p.vmar, BASE + 7, [0x41, 0x42]);
    expect(f.sync()).toBe(1);
    expect(readFileSync(join(tmp, 'new')).subarray(7, 9).toString()).toBe('AB');
    procs.exit(p.pid);
    pc.unlinkAll();
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });
});

describe('page index', () => {
  it('maps sparse and huge page indices to slots, in order, and drops empty chunks', () => {
    const t = new PageIndex();
    const idx = [0, 1023, 1024, 5000, 2 ** 40 + 7, 2 ** 52 - 1];
    for (let s = 0; s < idx.length; s++) t.set(idx[s], s);
    expect(t.size).toBe(idx.length);
    expect(idx.map((i) => t.get(i))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(t.get(1) + t.get(2 ** 40 + 8) + t.get(1.5) + t.get(-1)).toBe(-4);
    const l = new SlotList();
    t.collect(1000, 2 ** 41, l);
    expect([...l.buf.subarray(0, l.n)]).toEqual([1, 2, 3, 4]);
    const all = new SlotList();
    t.all(all);
    expect([...all.buf.subarray(0, all.n)]).toEqual([0, 1, 2, 3, 4, 5]);
    for (const i of idx) t.delete(i);
    expect(t.size).toBe(0);
    t.set(1024, 9);
    expect(t.get(1024)).toBe(9);
  });
});
