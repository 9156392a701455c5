import {
  createKernel,
  dirtyFileNames,
  type Kernel,
  ProcessTable,
  VM_READ,
  VM_WRITE,
  writeUser,
} from '@mmkit/core';
import { type PageCachePlugin, pageCache, YIELD_IO } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { expectClean, KERNEL_CONFIGS } from '../../core/test/support/configs.ts';

const PAGE = 4096;
const BASE = 0x10_0000_0000;

function world(config: (typeof KERNEL_CONFIGS)[number]): {
  k: Kernel;
  pc: PageCachePlugin;
  procs: ProcessTable;
} {
  const k = createKernel({
    arch: config.arch,
    layout: config.layout,
    memory: 64 << 20,
    debug: true,
    plugins: [pageCache()],
  });
  return { k, pc: k.plugins.get<PageCachePlugin>('pagecache')!, procs: new ProcessTable(k) };
}

function names(k: Kernel, eids: ArrayLike<number>): string[] {
  return Array.from(eids, (eid) => k.control.File.name[eid]).sort();
}

describe.each(KERNEL_CONFIGS)('page-cache files as entities ($name)', (config) => {
  it('a file is an entity from creation until its pages are dropped', () => {
    const { k, pc, procs } = world(config);
    pc.createFile('a', 2 * PAGE);
    const b = pc.createFile('b', PAGE);
    expect(names(k, k.control.files())).toEqual(['a', 'b']);
    const p = procs.spawn();
    p.vmar.map({ size: PAGE, perms: VM_READ, placement: 'fixed', addr: BASE, shared: true, vmo: b });
    pc.unlink('b'); // still mapped: the file lives on
    expect(names(k, k.control.files())).toEqual(['a', 'b']);
    procs.exit(p.pid);
    expect(names(k, k.control.files())).toEqual(['a']);
    expect(b.pm.entity).toBe(-1);
    pc.unlinkAll();
    expect(k.control.files().length).toBe(0);
    expectClean(k);
  });

  it('Dirty tags exactly the files with pages marked dirty, through writes, munmap, msync and removal', () => {
    const { k, pc, procs } = world(config);
    const a = pc.createFile('a', 4 * PAGE);
    const b = pc.createFile('b', 4 * PAGE);
    const dirty = () => dirtyFileNames(k.control);
    expect(dirty()).toEqual([]);
    a.pwrite(PAGE, new Uint8Array([1, 2, 3]));
    a.pwrite(3 * PAGE, new Uint8Array([4]));
    expect(dirty()).toEqual(['a']);
    expect(a.pm.nrDirtyPages).toBe(2);
    // A write through a shared mapping dirties the PTE only; munmap moves it to the page.
    const p = procs.spawn();
    p.vmar.map({
      size: 4 * PAGE,
      perms: VM_READ | VM_WRITE,
      placement: 'fixed',
      addr: BASE,
      shared: true,
      vmo: b,
    });
    expect(writeUser(p.vmar, BASE + 2 * PAGE, new Uint8Array([7]))).toBe(0);
    expect(dirty()).toEqual(['a']);
    p.vmar.unmap(BASE, 4 * PAGE);
    expect(dirty()).toEqual(['a', 'b']);
    expectClean(k);
    expect(a.sync(0, 2 * PAGE)).toBe(1); // page 3 stays dirty
    expect(dirty()).toEqual(['a', 'b']);
    expect(a.sync()).toBe(1);
    expect(dirty()).toEqual(['b']);
    const cached = b.pm.nrPages;
    expect(b.evict(0, 4 * PAGE)).toBe(cached); // removal writes the dirty page back
    expect(dirty()).toEqual([]);
    expectClean(k);
    procs.exit(p.pid);
    pc.unlinkAll();
    expectClean(k);
  });

  it('UnderRemoval tags a file while a removal runs', () => {
    const { k, pc } = world(config);
    const a = pc.createFile('a', 2 * PAGE);
    a.pwrite(0, new Uint8Array([1]));
    const task = a.pm.removeContigTask(0, 2);
    expect(task.next()).toEqual({ done: false, value: YIELD_IO }); // writing the dirty page back
    const { control } = k;
    expect(control.hasTag(a.pm.entity, control.UnderRemoval)).toBe(true);
    expectClean(k);
    let r = task.next();
    while (r.done !== true) r = task.next();
    expect(control.hasTag(a.pm.entity, control.UnderRemoval)).toBe(false);
    expectClean(k);
    pc.unlinkAll();
  });

  it('check() reports a Dirty or UnderRemoval tag that drifted from the slots', () => {
    const { k, pc } = world(config);
    const a = pc.createFile('a', 2 * PAGE);
    const { control } = k;
    a.pwrite(0, new Uint8Array([1]));
    control.setTag(a.pm.entity, control.Dirty, false);
    expect(dirtyFileNames(control)).toEqual([]); // the system follows the tag
    expect(k.check().map((v) => v.message)).toEqual(['a has 1 dirty pages but is not tagged Dirty']);
    control.setTag(a.pm.entity, control.Dirty, true);
    expectClean(k);
    a.sync();
    control.setTag(a.pm.entity, control.Dirty, true);
    expect(k.check().map((v) => v.message)).toEqual(['a has 0 dirty pages but is tagged Dirty']);
    control.setTag(a.pm.entity, control.Dirty, false);
    control.setTag(a.pm.entity, control.UnderRemoval, true);
    expect(k.check().map((v) => v.message)).toEqual(['a is not being removed but is tagged UnderRemoval']);
    control.setTag(a.pm.entity, control.UnderRemoval, false);
    expectClean(k);
    pc.unlinkAll();
    expectClean(k);
  });
});
