/**
 * Single-thread cost of `sharedMemory: true`: the same loops on two kernels in one process,
 * one on private buffers and one on shared memory (pages, metadata, allocator and counts on
 * `SharedArrayBuffer`s), interleaved round by round; prints the median time of a round for
 * each and their ratio, per loop:
 * - `fresh`: allocates 4096 frames and maps each with `mapFresh` under one cursor (an
 *   anonymous fault's work per page), then unmaps them (munmap's): no atomic
 *   read-modify-write per page on shared memory;
 * - `held`: maps 4096 frames the script keeps a handle to with one `mapRun`, then unmaps
 *   them: one `Atomics.add` and one `Atomics.sub` per page on shared memory;
 * - `unmap`: the `unmap` bench workload's timed part, the unmap alone of 4096 held frames
 *   mapped with `map` (untimed);
 * - `fault`: the `fault` bench workload's, 4096 anonymous write faults (`handlePageFault`)
 *   over a fresh mapping (mmap and munmap untimed);
 * - `cow-break`: the `cow-break` bench workload's, a write fault on each of 4096 pages in
 *   a child forked with the copy-on-write plugin (fork and exit untimed).
 * The per-workload figures come from `mmkit bench --compare memory=private,shared`, each
 * choice in its own process; this script stays because its rounds alternate every half
 * millisecond or so, so it resolves a few percent on a loaded machine where the bench's runs
 * cannot. Usage: `node --import tsx scripts/shared-speed.ts [rounds] [protocol] [loop...]`
 * (protocol `hoh` by default, the kernel's default; every loop by default).
 */
import { x86_64 } from '@mmkit/arch-x86_64';
import {
  ACCESS_WRITE,
  createKernel,
  FAULT_HANDLED,
  FrameType,
  handlePageFault,
  LinuxSyscalls,
  lockProtocol,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  PROP_RW,
  PROP_USER,
  PROT_READ,
  PROT_WRITE,
} from '@mmkit/core';
import { cow } from '@mmkit/plugins';

const PAGES = 4096;
const START = 0x4000_0000;
const END = START + PAGES * 4096;
const LEN = END - START;
const rounds = Number(process.argv[2] ?? 40);
const protocol = process.argv[3] ?? 'hoh';
const only = process.argv.slice(4);
const kernels = [false, true].map((sharedMemory) =>
  createKernel({
    arch: x86_64,
    memory: 256 << 20,
    sharedMemory,
    linearMapping: false,
    services: { lockProtocol: lockProtocol(protocol) },
    plugins: [cow()],
  }),
);
const tables = kernels.map((k) => k.newUserPageTable());
/** Per kernel: `PAGES` consecutive frames the `held` and `unmap` loops map (their handles kept). */
const heldFirst = kernels.map((k) => k.frames.allocContiguous(PAGES));
/** Per kernel: a process for the fault loops. */
const procs = kernels.map((k) => {
  const sys = new LinuxSyscalls(k);
  return { sys, pid: sys.spawn() };
});

/** Unmaps the range under one cursor, checking that every page was mapped. */
function unmapAll(i: number): void {
  const u = tables[i].cursorMut(START, END);
  if (u.unmap(LEN) !== PAGES) throw new Error('a page was not mapped');
  u.drop();
}

/** mmaps the range anonymous, private and writable in kernel `i`'s process. */
function mmap(i: number): void {
  const { sys, pid } = procs[i];
  if (sys.mmap(pid, START, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED) !== START)
    throw new Error('mmap failed');
}

/** A write fault on every page of the range in process `pid`'s address space. */
function populate(i: number, pid: number): void {
  const vmar = procs[i].sys.procs.require(pid).vmar;
  for (let va = START; va < END; va += 4096)
    if (handlePageFault(vmar, va, ACCESS_WRITE) !== FAULT_HANDLED) throw new Error('fault failed');
}

const loops: Record<string, (i: number) => number> = {
  /** Maps `PAGES` fresh frames (each taking over its allocation's handle), then unmaps them. */
  fresh(i) {
    const k = kernels[i];
    const start = performance.now();
    const c = tables[i].cursorMut(START, END);
    for (let p = 0; p < PAGES; p++) c.mapFresh(k.frames.alloc(FrameType.Untyped), PROP_RW | PROP_USER);
    c.drop();
    unmapAll(i);
    return performance.now() - start;
  },
  /** Maps the held frames with one `mapRun` (a reference each), then unmaps them. */
  held(i) {
    const start = performance.now();
    const c = tables[i].cursorMut(START, END);
    c.mapRun(heldFirst[i], PAGES, PROP_RW | PROP_USER);
    c.drop();
    unmapAll(i);
    return performance.now() - start;
  },
  /** Maps the held frames one `map` each (untimed), then unmaps them. */
  unmap(i) {
    const c = tables[i].cursorMut(START, END);
    for (let p = 0; p < PAGES; p++) c.map(heldFirst[i] + p, PROP_RW | PROP_USER);
    c.drop();
    const start = performance.now();
    unmapAll(i);
    return performance.now() - start;
  },
  /** Write faults on every page of a fresh mapping. */
  fault(i) {
    const { sys, pid } = procs[i];
    mmap(i);
    const start = performance.now();
    populate(i, pid);
    const ms = performance.now() - start;
    sys.munmap(pid, START, LEN);
    return ms;
  },
  /** Write faults on every page of a copy-on-write child of a populated process. */
  'cow-break'(i) {
    const { sys, pid } = procs[i];
    const child = sys.fork(pid);
    const start = performance.now();
    populate(i, child);
    const ms = performance.now() - start;
    sys.exit(child);
    return ms;
  },
};

for (const i of [0, 1]) {
  mmap(i);
  populate(i, procs[i].pid);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const [name, round] of Object.entries(loops)) {
  if (only.length !== 0 && !only.includes(name)) continue;
  if (name === 'fault')
    for (const i of [0, 1]) procs[i].sys.munmap(procs[i].pid, START, LEN);
  const times: number[][] = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) times[i].push(round(i));
  }
  if (name === 'fault')
    for (const i of [0, 1]) {
      mmap(i);
      populate(i, procs[i].pid);
    }
  const [priv, shared] = times.map(median);
  console.log(
    `${protocol} ${name}: ${PAGES} pages, median of ${rounds} rounds: private ${priv.toFixed(3)} ms, shared ${shared.toFixed(3)} ms, shared/private ${(shared / priv).toFixed(3)}`,
  );
}
for (const [i, k] of kernels.entries()) {
  procs[i].sys.exit(procs[i].pid);
  for (let p = heldFirst[i]; p < heldFirst[i] + PAGES; p++) k.frames.put(p);
  if (k.check().length !== 0) throw new Error('check failed');
}
