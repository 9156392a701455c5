import { x86_64 } from '@mmkit/arch-x86_64';
import {
  FrameType,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  PROP_RW,
  PROP_USER,
  PROT_READ,
  PROT_WRITE,
  RSS_ANON,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { testKernel } from '../support/configs.ts';

const PAGE = 4096;
const VA = 0x4000_0000;

function kernelWithOnePage() {
  const k = testKernel({ arch: x86_64 });
  const pt = k.newUserPageTable();
  const f = k.frames.alloc();
  const c = pt.cursorMut(VA, VA + PAGE);
  c.map(f, PROP_RW | PROP_USER);
  c.drop();
  k.frames.put(f);
  return { k, pt, f };
}

/** The level-1 node holding the PTE of VA. */
function leafNode(k: ReturnType<typeof testKernel>): number {
  for (let pfn = 0; pfn < k.meta.capacity; pfn++) {
    if (k.meta.type(pfn) === FrameType.PageTable && k.meta.level(pfn) === 1 && k.meta.nrChildren(pfn) === 1)
      return pfn;
  }
  throw new Error('no level-1 node');
}

describe('kernel.check()', () => {
  it('is clean on a consistent kernel', () => {
    expect(kernelWithOnePage().k.check()).toEqual([]);
  });

  it('finds a reference count that disagrees with handles and PTEs', () => {
    const { k, f } = kernelWithOnePage();
    k.meta.setRefCount(f, 5);
    const v = k.check();
    expect(v.map((x) => x.kind)).toEqual(['ref-count']);
    expect(v[0].pfn).toBe(f);
    expect(v[0].message).toMatch(/count 5, but 0 handles \+ 1 PTEs/);
  });

  it('finds a node whose child count disagrees with its PTEs', () => {
    const { k } = kernelWithOnePage();
    const node = leafNode(k);
    k.meta.setNrChildren(node, 3);
    expect(k.check().map((x) => x.kind)).toEqual(['node-children']);
  });

  it('finds a node at the wrong level and a stray node still reachable', () => {
    const { k } = kernelWithOnePage();
    const node = leafNode(k);
    k.meta.setLevel(node, 2);
    k.meta.setStray(node, true);
    expect(
      k
        .check()
        .map((x) => x.kind)
        .sort(),
    ).toEqual(['node-level', 'node-stray']);
  });

  it('finds a freed frame still mapped', () => {
    const { k, f } = kernelWithOnePage();
    // Free the frame behind the page table's back.
    k.meta.setRefCount(f, 0xffff_ffff);
    k.frames.allocator.dealloc(f);
    expect(k.check().map((x) => x.kind)).toContain('free-referenced');
  });

  it('finds frames the allocator and the metadata disagree on', () => {
    const { k } = kernelWithOnePage();
    const pfn = k.frames.allocator.alloc();
    expect(k.check().map((x) => x.kind)).toEqual(['allocator']);
    expect(k.check()[0].pfn).toBe(pfn);
  });

  it('finds a user PTE planted to a frame user space may not map', () => {
    const { k, f } = kernelWithOnePage();
    const node = leafNode(k);
    const words = k.memory.wordsOf(k.memory.slot(node));
    const at = k.memory.wordBase(k.memory.slot(node)) + 2 * ((VA / PAGE) % 512);
    // Point the PTE at a metadata page, moving the reference with it; keep f alive by a handle.
    const planted = k.metaPagesStart;
    words[at] = x86_64.codec.leafLo(planted, PROP_RW | PROP_USER, 1);
    words[at + 1] = x86_64.codec.leafHi(planted, PROP_RW | PROP_USER, 1);
    k.meta.setRefCount(planted, k.meta.refCount(planted) + 1);
    k.meta.setHandles(f, 1);
    const v = k.check();
    expect(v.map((x) => x.kind)).toEqual(['user-frame-type']);
    expect(v[0].pfn).toBe(planted);
    expect(v[0].message).toMatch(/maps meta-page frame \d+ as a user page/);
    // The kernel root is caught the same way.
    k.meta.setRefCount(planted, k.meta.refCount(planted) - 1);
    const root = k.kernelPageTable.rootPfn;
    words[at] = x86_64.codec.leafLo(root, PROP_RW | PROP_USER, 1);
    words[at + 1] = x86_64.codec.leafHi(root, PROP_RW | PROP_USER, 1);
    k.meta.setRefCount(root, k.meta.refCount(root) + 1);
    expect(k.check().map((x) => `${x.kind} ${x.pfn}`)).toEqual([`user-frame-type ${root}`]);
  });

  it('finds a leaked frame (in use, referenced by nothing)', () => {
    const { k } = kernelWithOnePage();
    const pfn = k.frames.alloc();
    k.meta.setHandles(pfn, 0);
    expect(k.check().map((x) => x.kind)).toEqual(['ref-count']);
  });
});

describe('kernel.check() over address spaces', () => {
  it('includes the process table and plugin checks', () => {
    const k = testKernel({ arch: x86_64 });
    const sys = new LinuxSyscalls(k);
    const pid = sys.spawn();
    const addr = sys.mmap(pid, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    sys.writeMemory(pid, addr, Uint8Array.of(1));
    expect(k.check()).toEqual([]);
    sys.procs.require(pid).vmar.rss[RSS_ANON] += 1;
    expect(
      k
        .check()
        .map((v) => v.message)
        .join('\n'),
    ).toMatch(/rss|RSS/);
    sys.procs.require(pid).vmar.rss[RSS_ANON] -= 1;
    expect(k.check()).toEqual([]);
  });
});

describe('kernel.check() of a process', () => {
  it('names a page mapped outside every mapping, before and after a clean check', () => {
    const k = testKernel({ arch: x86_64 });
    const sys = new LinuxSyscalls(k);
    const pid = sys.spawn();
    const addr = sys.mmap(pid, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    sys.writeMemory(pid, addr, Uint8Array.of(1));
    expect(k.check()).toEqual([]);
    const pt = sys.procs.require(pid).vmar.space.pt;
    for (const va of [addr + 2 * PAGE, addr + 700 * PAGE, 0x10_0000_0000]) {
      const f = k.frames.alloc();
      const c = pt.cursorMut(va, va + PAGE);
      c.map(f, PROP_RW | PROP_USER);
      c.drop();
      k.frames.put(f);
      const v = k.check();
      expect(v.map((x) => x.kind)).toEqual(['pte-outside']);
      expect(v[0].message).toContain(`0x${va.toString(16)} is mapped outside every mapping`);
      const u = pt.cursorMut(va, va + PAGE);
      u.unmap(PAGE);
      u.drop();
      expect(k.check()).toEqual([]);
    }
  });
});

describe('kernel.check() reusing the walk of the kernel page table', () => {
  /** The kernel node of level `nrLevels - 1` under the first kernel root entry (shared, never freed). */
  function sharedKernelNode(k: ReturnType<typeof testKernel>): number {
    const levels = k.consts.nrLevels;
    for (let pfn = 0; pfn < k.meta.capacity; pfn++) {
      if (k.meta.type(pfn) === FrameType.PageTable && k.meta.level(pfn) === levels - 1) return pfn;
    }
    throw new Error('no shared kernel node');
  }

  it('still finds a kernel node corrupted after the walk was cached', () => {
    const { k } = kernelWithOnePage();
    expect(k.check()).toEqual([]); // fills the cache
    expect(k.check()).toEqual([]); // reuses it
    const node = sharedKernelNode(k);
    k.meta.setNrChildren(node, k.meta.nrChildren(node) + 1);
    expect(k.check().map((x) => [x.kind, x.pfn])).toEqual([['node-children', node]]);
    k.meta.setNrChildren(node, k.meta.nrChildren(node) - 1);
    expect(k.check()).toEqual([]);
  });

  /** The words of node `pfn` and the index of its entry `i`'s first word. */
  function entryWords(k: ReturnType<typeof testKernel>, pfn: number, i: number) {
    const slot = k.memory.slot(pfn);
    return { words: k.memory.wordsOf(slot), at: k.memory.wordBase(slot) + 2 * i };
  }

  it('finds a kernel-half PTE written straight into memory after the walk was cached', () => {
    const { k } = kernelWithOnePage();
    expect(k.check()).toEqual([]);
    expect(k.check()).toEqual([]);
    const node = sharedKernelNode(k);
    const f = k.frames.alloc(); // one handle, count 1
    const { words, at } = entryWords(k, node, 7);
    expect([words[at], words[at + 1]]).toEqual([0, 0]);
    // A table entry to a data frame, no cursor, no counter bumped.
    words[at] = x86_64.codec.tableLo(f);
    words[at + 1] = x86_64.codec.tableHi(f);
    expect(
      k
        .check()
        .map((x) => `${x.kind} ${x.pfn}`)
        .sort(),
    ).toEqual([`node-children ${node}`, `node-type ${f}`, `ref-count ${f}`]);
    words[at] = 0;
    words[at + 1] = 0;
    expect(k.check()).toEqual([]);
    k.frames.put(f);
    expect(k.check()).toEqual([]);
  });

  it('finds a kernel node whose reference count changed after the walk was cached', () => {
    const { k } = kernelWithOnePage();
    expect(k.check()).toEqual([]);
    expect(k.check()).toEqual([]);
    const node = sharedKernelNode(k);
    k.meta.setRefCount(node, k.meta.refCount(node) + 1);
    expect(k.check().map((x) => [x.kind, x.pfn])).toEqual([['ref-count', node]]);
    k.meta.setRefCount(node, k.meta.refCount(node) - 1);
    expect(k.check()).toEqual([]);
  });

  it('finds a user node and a frame corrupted after the walk was cached', () => {
    const { k, f } = kernelWithOnePage();
    expect(k.check()).toEqual([]);
    expect(k.check()).toEqual([]);
    const node = leafNode(k);
    const { words, at } = entryWords(k, node, (VA / PAGE) % 512);
    const saved = [words[at], words[at + 1]];
    words[at] = 0;
    words[at + 1] = 0;
    expect(
      k
        .check()
        .map((x) => `${x.kind} ${x.pfn}`)
        .sort(),
    ).toEqual([`node-children ${node}`, `ref-count ${f}`]);
    [words[at], words[at + 1]] = saved;
    expect(k.check()).toEqual([]);
    k.meta.setRefCount(f, 2);
    expect(k.check().map((x) => [x.kind, x.pfn])).toEqual([['ref-count', f]]);
  });

  it('walks again after a kernel cursor changed the kernel half, counting the new references', () => {
    const { k } = kernelWithOnePage();
    expect(k.check()).toEqual([]);
    const va = k.kernelPageTable.lower + (1 << 30) * 64; // far from the linear mapping
    const f = k.frames.alloc();
    const c = k.kernelPageTable.cursorMut(va, va + PAGE);
    c.map(f, PROP_RW);
    c.drop();
    k.frames.put(f);
    // With the old walk reused, the new PTE's reference would be missing (a ref-count violation).
    expect(k.check()).toEqual([]);
    k.meta.setRefCount(f, 7);
    expect(k.check().map((x) => [x.kind, x.pfn])).toEqual([['ref-count', f]]);
    k.meta.setRefCount(f, 1);
    const u = k.kernelPageTable.cursorMut(va, va + PAGE);
    u.unmap(PAGE);
    u.drop();
    expect(k.check()).toEqual([]);
    expect(k.meta.refCount(f)).toBe(0xffff_ffff); // freed: its only reference was the PTE
  });

  it('walks again when a cursor that was live at the last check maps a page (same generation)', () => {
    const { k } = kernelWithOnePage();
    const va = k.kernelPageTable.lower + (1 << 30) * 64;
    const c = k.kernelPageTable.cursorMut(va, va + PAGE);
    expect(k.check()).toEqual([]); // taken with the cursor's lock held
    const f = k.frames.alloc();
    c.map(f, PROP_RW);
    k.frames.put(f);
    expect(k.check()).toEqual([]);
    c.drop();
    expect(k.check()).toEqual([]);
  });
});
