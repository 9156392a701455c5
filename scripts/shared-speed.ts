/**
 * Single-thread cost of `sharedMemory: true`: the same loops on three kernels in one
 * process, interleaved round by round: one on private buffers, one on shared memory (pages,
 * metadata, allocator and counts on `SharedArrayBuffer`s) that has never handed out its
 * state (`shared`: one view, plain accesses), and one on shared memory after
 * `sharedState()` (`smp`: the `Atomics` path every view takes once another may attach).
 * Prints the median time of a round for each and the ratios to private, per loop:
 * - `fresh`: allocates 4096 frames and maps each with `mapFresh` under one cursor (an
 *   anonymous fault's work per page), then unmaps them (munmap's): no atomic
 *   read-modify-write per page on shared memory;
 * - `held`: maps 4096 frames the script keeps a handle to with one `mapRun`, then unmaps
 *   them: one `Atomics.add` and one `Atomics.sub` per page on shared memory;
 * - `map`: the `map` bench workload's timed part, one `mapRun` of the 4096 held frames (the
 *   unmap untimed);
 * - `unmap`: the `unmap` bench workload's timed part, the unmap alone of 4096 held frames
 *   mapped with `map` (untimed);
 * - `protect`: the `protect` bench workload's, one cursor toggling W on the 4096 held
 *   frames' pages (mapped before the rounds);
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
  PROP_W,
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
/** Private, shared with one view, shared after `sharedState()` (the state is not used). */
const NAMES = ['private', 'shared', 'smp'] as const;
const KERNELS = [0, 1, 2];
const kernels = NAMES.map((name) => {
  const k = createKernel({
    arch: x86_64,
    memory: 256 << 20,
    sharedMemory: name !== 'private',
    linearMapping: false,
    services: { lockProtocol: lockProtocol(protocol) },
    plugins: [cow()],
  });
  if (name === 'smp') k.sharedState(1);
  return k;
});
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

const toggleW = (prop: number) => prop ^ PROP_W;

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
  /** Maps the held frames with one `mapRun`; the unmap is untimed. */
  map(i) {
    const start = performance.now();
    const c = tables[i].cursorMut(START, END);
    c.mapRun(heldFirst[i], PAGES, PROP_RW | PROP_USER);
    c.drop();
    const ms = performance.now() - start;
    unmapAll(i);
    return ms;
  },
  /** Toggles W on every page of the held frames' mapping (mapped before the rounds). */
  protect(i) {
    const start = performance.now();
    const c = tables[i].cursorMut(START, END);
    c.protect(LEN, toggleW);
    c.drop();
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

for (const i of KERNELS) {
  mmap(i);
  populate(i, procs[i].pid);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
/** Round `r`'s kernel order: every kernel first, second and last equally often. */
const orders = [
  [0, 1, 2],
  [1, 2, 0],
  [2, 0, 1],
  [0, 2, 1],
  [2, 1, 0],
  [1, 0, 2],
];
for (const [name, round] of Object.entries(loops)) {
  if (only.length !== 0 && !only.includes(name)) continue;
  if (name === 'fault') for (const i of KERNELS) procs[i].sys.munmap(procs[i].pid, START, LEN);
  if (name === 'protect')
    for (const i of KERNELS) {
      const c = tables[i].cursorMut(START, END);
      c.mapRun(heldFirst[i], PAGES, PROP_RW | PROP_USER);
      c.drop();
    }
  const times: number[][] = KERNELS.map(() => []);
  for (let r = 0; r < rounds; r++) for (const i of orders[r % orders.length]) times[i].push(round(i));
  if (name === 'fault')
    for (const i of KERNELS) {
      mmap(i);
      populate(i, procs[i].pid);
    }
  if (name === 'protect') for (const i of KERNELS) unmapAll(i);
  const [priv, shared, smp] = times.map(median);
  console.log(
    `${protocol} ${name}: ${PAGES} pages, median of ${rounds} rounds: private ${priv.toFixed(3)} ms, shared ${shared.toFixed(3)} ms, smp ${smp.toFixed(3)} ms; shared/private ${(shared / priv).toFixed(3)}, smp/private ${(smp / priv).toFixed(3)}`,
  );
}
for (const [i, k] of kernels.entries()) {
  procs[i].sys.exit(procs[i].pid);
  for (let p = heldFirst[i]; p < heldFirst[i] + PAGES; p++) k.frames.put(p);
  if (k.check().length !== 0) throw new Error(`${NAMES[i]}: check failed`);
}
