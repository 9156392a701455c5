import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  type Thread,
  type ThreadOp,
  type ThreadProgram,
} from '@mmkit/core';
import type { ThreadedRun } from '../threads.ts';
import { check, seededRandom, type Workload, type WorkloadContext } from './workload.ts';

const PAGE = 4096;
/** Pages of address space reserved for each arena (a glibc heap reserves 64 MiB; smaller here). */
export const ARENA_PAGES = 256;
/** Pages of the shared table each arena owns (and alone writes). */
export const SLOT_PAGES = 4;

/** Where a run of the arenas workload put its memory, for comparing final states. */
export interface ArenasLayout {
  pid: number;
  /** The reservation holding every arena, `arenas × ARENA_PAGES` pages. */
  heap: number;
  /** The shared table, `arenas × SLOT_PAGES` pages. */
  table: number;
  arenas: number;
}

/** Throws if a load or store took a signal. */
function noSignal(signal: number, what: string): void {
  if (signal !== 0) throw new Error(`${what} got signal ${signal}`);
}

/**
 * The program of arena `a` as thread `t` runs it: glibc's per-thread heap, in a reservation
 * mapped `PROT_NONE`. The heap grows by making pages writable (`mprotect`, `grow_heap`),
 * shrinks by mapping `PROT_NONE` over its top (`MAP_FIXED`, `shrink_heap`) or by dropping
 * pages (`MADV_DONTNEED`); the thread stores to and loads from its heap, stores to its own
 * slots of the shared table and loads from any slot. Every choice comes from the arena's
 * own generator, so an arena's operations do not depend on how threads interleave, and
 * neither does the final memory: arenas and slots are disjoint.
 */
function* arenaProgram(
  run: ThreadedRun,
  t: Thread,
  layout: ArenasLayout,
  a: number,
  steps: number,
  seed: number,
  done: () => void,
): Generator<ThreadOp, void, number> {
  const ops = run.ops;
  const random = seededRandom((seed ^ Math.imul(a + 1, 0x9e3779b1)) >>> 0);
  const base = layout.heap + a * ARENA_PAGES * PAGE;
  const slots = layout.table + a * SLOT_PAGES * PAGE;
  const tablePages = layout.arenas * SLOT_PAGES;
  const data = new Uint8Array(16);
  const out = new Uint8Array(16);
  let top = 0;
  for (let step = 0; step < steps; step++) {
    const r = random();
    const at = (pages: number) => Math.floor(random() * pages) * PAGE + Math.floor(random() * (PAGE - 16));
    if (top < 8 || (r < 0.12 && top < ARENA_PAGES)) {
      const grow = Math.min(ARENA_PAGES - top, 1 + Math.floor(random() * 16));
      check(yield ops.mprotect(t, base + top * PAGE, grow * PAGE, PROT_READ | PROT_WRITE), 'mprotect');
      top += grow;
    } else if (r < 0.52) {
      data.fill((a * 31 + step) & 0xff);
      noSignal(yield ops.store(t, base + at(top), data), 'store');
    } else if (r < 0.67) {
      noSignal(yield ops.load(t, base + at(top), out), 'load');
    } else if (r < 0.73) {
      const keep = Math.max(8, Math.floor(top * (0.5 + 0.4 * random())));
      if (keep < top) {
        const flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE;
        check(yield ops.mmap(t, base + keep * PAGE, (top - keep) * PAGE, PROT_NONE, flags), 'mmap');
        top = keep;
      }
    } else if (r < 0.8) {
      const first = Math.floor(random() * top);
      const n = Math.min(top - first, 1 + Math.floor(random() * 8));
      check(yield ops.madvise(t, base + first * PAGE, n * PAGE, MADV_DONTNEED), 'madvise');
    } else if (r < 0.9) {
      data.fill((a * 17 + step) & 0xff);
      noSignal(yield ops.store(t, slots + at(SLOT_PAGES), data), 'store');
    } else {
      noSignal(yield ops.load(t, layout.table + at(tablePages), out), 'load');
    }
    done();
  }
}

/**
 * Sets up the arenas workload in a fresh process and runs it: the first thread reserves the
 * heaps and maps the shared table, then (`serial` false) starts one thread per further arena
 * and runs arena 0 itself; the other threads exit when their arena's program ends. With
 * `serial`, the first thread runs every arena's program, one after the other: the same
 * operations on one thread. Returns where the memory is.
 */
export function runArenas(
  ctx: WorkloadContext,
  run: ThreadedRun,
  arenas: number,
  serial: boolean,
): ArenasLayout {
  const { sys } = ctx;
  const steps = Math.max(50, Math.round(4000 * ctx.scale));
  const total = arenas * steps;
  let finished = 0;
  const done = () => {
    finished++;
    if ((finished & 255) === 0) ctx.progress(finished, total);
  };
  const main = sys.procs.spawn();
  const first = main.threads.get(main.pid) as Thread;
  const layout: ArenasLayout = { pid: main.pid, heap: 0, table: 0, arenas };
  const ops = run.ops;
  const worker =
    (a: number) =>
    (t: Thread): ThreadProgram =>
      (function* () {
        yield* arenaProgram(run, t, layout, a, steps, ctx.seed, done);
        yield ops.exit(t);
      })();
  run.add(
    first,
    (function* () {
      const reserve = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
      layout.heap = check(yield ops.mmap(first, 0, arenas * ARENA_PAGES * PAGE, PROT_NONE, reserve), 'mmap');
      const tableLen = arenas * SLOT_PAGES * PAGE;
      layout.table = check(
        yield ops.mmap(first, 0, tableLen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS),
        'mmap',
      );
      if (serial) {
        for (let a = 0; a < arenas; a++) yield* arenaProgram(run, first, layout, a, steps, ctx.seed, done);
        return;
      }
      for (let a = 1; a < arenas; a++) check(yield ops.clone(first, worker(a), run), 'clone');
      yield* arenaProgram(run, first, layout, 0, steps, ctx.seed, done);
    })(),
  );
  run.run();
  ctx.progress(total, total);
  return layout;
}

/** Threads of one process, each with its own heap arena, sharing a table: `--threads N`. */
export const arenas: Workload = {
  name: 'arenas',
  description: 'threads of one process, each growing and shrinking its malloc arena, sharing a table',
  requires: [],
  threaded: true,
  run(ctx: WorkloadContext): void {
    if (ctx.threaded === undefined) throw new Error('the arenas workload runs through a ThreadedRun');
    runArenas(ctx, ctx.threaded, ctx.threads, false);
  },
};
