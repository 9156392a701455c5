import {
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  mappingTableOf,
  PROT_READ,
  PROT_WRITE,
  rssByProcess,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, KERNEL_CONFIGS, testKernel } from '../support/configs.ts';

const PAGE = 4096;
const RW = PROT_READ | PROT_WRITE;

describe.each(KERNEL_CONFIGS)('control plane entities ($name)', (config) => {
  it('makes a process entity on spawn and fork, finds it by pid and removes it on exit', () => {
    const k = testKernel(config);
    const sys = new LinuxSyscalls(k);
    const c = k.control;
    const parent = sys.spawn();
    const child = sys.fork(parent);
    const pe = c.processEntity(parent);
    const ce = c.processEntity(child);
    expect(pe).not.toBe(ce);
    expect(c.Process.pid[pe]).toBe(parent);
    expect(c.Process.pid[ce]).toBe(child);
    expect([...c.processes()].sort()).toEqual([pe, ce].sort());
    expectClean(k);
    expect(sys.exit(child)).toBe(0);
    expect(c.processEntityOrNull(child)).toBe(-1);
    expect([...c.processes()]).toEqual([pe]);
    expect(sys.exit(parent)).toBe(0);
    expect(c.processes().length).toBe(0);
    expectClean(k);
  });

  it('tags a process Threaded exactly while it has more than one thread', () => {
    const k = testKernel(config);
    const sys = new LinuxSyscalls(k);
    const c = k.control;
    const pid = sys.spawn();
    const eid = c.processEntity(pid);
    expect(c.hasTag(eid, c.Threaded)).toBe(false);
    const t1 = sys.clone(pid);
    const t2 = sys.clone(pid);
    expect(c.hasTag(eid, c.Threaded)).toBe(true);
    expect([...c.threadedProcesses()]).toEqual([eid]);
    expect(sys.exitThread(t1)).toBe(0);
    expect(c.hasTag(eid, c.Threaded)).toBe(true);
    expect(sys.exitThread(pid)).toBe(0); // the first thread may leave first
    expect(c.hasTag(eid, c.Threaded)).toBe(false);
    expect(c.threadedProcesses().length).toBe(0);
    expectClean(k);
    expect(sys.exitThread(t2)).toBe(0);
    expect(c.processes().length).toBe(0);
    expectClean(k);
  });

  it('makes a VMO entity while mappings use it, found by its VMO id', () => {
    const k = testKernel(config);
    const sys = new LinuxSyscalls(k);
    const c = k.control;
    const maps = mappingTableOf(k);
    const pid = sys.spawn();
    const a = sys.mmap(pid, 0, 4 * PAGE, RW, MAP_SHARED | MAP_ANONYMOUS);
    expect(a).toBeGreaterThan(0);
    expect(sys.mmap(pid, 0, PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS)).toBeGreaterThan(0);
    expect(c.vmos().length).toBe(1); // private anonymous memory has no VMO
    const [eid] = c.vmos();
    const id = c.Vmo.id[eid];
    expect(maps.vmos.get(id)).not.toBeNull();
    expect(c.vmoEntity(id)).toBe(eid);
    const child = sys.fork(pid); // the child's mapping uses the same VMO: still one entity
    expect(c.vmos().length).toBe(1);
    expectClean(k);
    expect(sys.munmap(pid, a, 4 * PAGE)).toBe(0);
    expect(c.vmoEntity(id)).toBe(eid);
    expect(sys.exit(child)).toBe(0);
    expect(c.vmoEntityOrNull(id)).toBe(-1);
    expect(c.vmos().length).toBe(0);
    expect(sys.exit(pid)).toBe(0);
    expectClean(k);
  });

  it('check() reports a Threaded tag that drifted from the thread count and a lost entity', () => {
    const k = testKernel(config);
    const sys = new LinuxSyscalls(k);
    const c = k.control;
    const pid = sys.spawn();
    const eid = c.processEntity(pid);
    c.setTag(eid, c.Threaded, true);
    expect(k.check().map((v) => v.message)).toEqual([`pid ${pid} has 1 threads but is tagged Threaded`]);
    c.setTag(eid, c.Threaded, false);
    expectClean(k);
    sys.clone(pid);
    c.setTag(eid, c.Threaded, false);
    expect(k.check().map((v) => v.message)).toEqual([`pid ${pid} has 2 threads but is not tagged Threaded`]);
    c.setTag(eid, c.Threaded, true);
    c.Process.pid[eid] = pid + 100;
    expect(k.check().some((v) => v.kind === 'entity' && v.message.includes(`pid ${pid}`))).toBe(true);
    c.Process.pid[eid] = pid;
    expectClean(k);
    expect(sys.exit(pid)).toBe(0);
    expectClean(k);
  });
});

describe('rssByProcess (a system over the process entities)', () => {
  it('gives each live process its RSS, in pid order, and misses a process whose entity is gone', () => {
    const k = testKernel(KERNEL_CONFIGS[0]);
    const sys = new LinuxSyscalls(k);
    const a = sys.spawn();
    const va = sys.mmap(a, 0, 3 * PAGE, RW, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(sys.writeMemory(a, va, new Uint8Array(3 * PAGE).fill(1))).toBe(0);
    const b = sys.fork(a);
    expect(sys.writeMemory(b, va, new Uint8Array([2]))).toBe(0);
    expect(rssByProcess(sys.procs)).toEqual([
      { pid: a, anon: 3, file: 0 },
      { pid: b, anon: 3, file: 0 },
    ]);
    k.control.removeProcess(b);
    expect(rssByProcess(sys.procs).map((r) => r.pid)).toEqual([a]);
    expect(k.check().map((v) => v.message)).toContain(`pid ${b} has no entity`);
    k.control.addProcess(b);
    expectClean(k);
    expect(sys.exit(a)).toBe(0);
    expect(sys.exit(b)).toBe(0);
    expectClean(k);
  });
});
