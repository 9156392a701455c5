import { workerData } from 'node:worker_threads';
import { PageTable } from '@mmkit/core';
import { plantedBugs, setSwitchProbe } from '@mmkit/core/internal';
import { newCounters, runOps } from '../parallel/ops.ts';
import { parallelKernel } from '../parallel/spec.ts';
import {
  CPU_DONE,
  CPU_FAILED,
  CPU_PAUSED,
  ExploreControl,
  GO,
  OP,
  OP_END,
  OP_START,
  PFN,
  POINT,
  POINT_GRACE,
  POINT_START,
  QUIT,
  READY,
  ROOT,
  SCHEDULER,
  SEED,
  STATE,
  VA,
} from './control.ts';
import type { CpuData, CpuReport } from './cpu-protocol.ts';
import { cpuProgram } from './program.ts';

/**
 * A simulated CPU of the explorer: a worker thread with a kernel view attached to the
 * scheduler's shared memory. For each schedule it runs its program of cursor operations
 * (`runOps`, the code the parallel workers run) on the schedule's page table; the real
 * cursor code calls the switch-point probe, which here pauses the thread until the
 * scheduler gives it the turn. So only one CPU runs at any time, and the order of their
 * steps is the scheduler's choice alone.
 */
const data = workerData as CpuData;
const control = new ExploreControl(data.nrCpus, data.control);
const me = data.cpu;
plantedBugs.skipStrayCheck = data.plant === 'no-stray-check';
plantedBugs.recycleWithoutStray = data.plant === 'recycle-no-stray';
plantedBugs.linkBeforeLock = data.plant === 'link-before-lock';
plantedBugs.freeAtOnce = data.plant === 'free-at-once';
const kernel = parallelKernel(data.spec, data.state);
const page = kernel.consts.basePageSize;

/** Pauses before step `point` (a `SWITCH_*` or `POINT_GRACE`) until the scheduler picks this CPU. */
function pause(point: number, pfn: number, va: number): void {
  control.setCpuWord(me, POINT, point);
  control.setCpuWord(me, PFN, pfn);
  control.setCpuF64(me, VA, va);
  control.handTurn(SCHEDULER);
  control.waitTurn(me);
}
setSwitchProbe(pause);

/**
 * The end of a CPU's program, as a worker that stops: the nodes it retired are freed once
 * every other CPU's walker that started before the retire has gone (it pauses at
 * `POINT_GRACE` until then), and its cache of free frames goes back to the shared
 * allocator. So the scheduler's end-of-schedule checks see every frame, and the next
 * schedule (after the snapshot is restored) starts with nothing held in this view.
 */
function finishProgram(): void {
  const reclaim = kernel.ctx.reclaim;
  while (reclaim.reclaim() !== 0) pause(POINT_GRACE, 0, 0);
  kernel.frames.flushCaches();
}

control.bump(READY);
let go = 0;
for (;;) {
  go = control.waitChange(GO, go);
  if (control.load(QUIT) !== 0) break;
  const seed = control.load(SEED) >>> 0;
  const table = PageTable.attach(kernel.ctx, control.load(ROOT), false);
  // Owner ids from the start of the block each schedule, so that a replay is identical.
  kernel.ctx.setOwnerBlock(me + 1);
  const ops = cpuProgram(seed, me, data.nrOps);
  const counters = newCounters();
  control.setCpuWord(me, STATE, CPU_PAUSED);
  control.setCpuWord(me, POINT, POINT_START);
  control.setCpuWord(me, PFN, 0);
  control.setCpuF64(me, VA, 0);
  control.setCpuWord(me, OP, 0);
  control.setCpuF64(me, OP_START, 0);
  control.setCpuF64(me, OP_END, 0);
  control.bump(READY);
  control.waitTurn(me);
  let report: CpuReport;
  try {
    for (let i = 0; i < ops.length; i++) {
      control.setCpuWord(me, OP, i);
      control.setCpuF64(me, OP_START, ops[i].va);
      control.setCpuF64(me, OP_END, ops[i].va + ops[i].pages * page);
      runOps(kernel, table, [ops[i]], counters);
      control.setCpuF64(me, OP_END, ops[i].va);
    }
    finishProgram();
    report = { counters };
  } catch (e) {
    report = { counters, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  data.port.postMessage(report);
  control.setCpuWord(me, STATE, report.error === undefined ? CPU_DONE : CPU_FAILED);
  control.handTurn(SCHEDULER);
}
data.port.close();
