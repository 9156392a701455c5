import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { type Kernel, type LockProtocolName, MmError } from '@mmkit/core';
import {
  lockOwner,
  nodeBase,
  nodeWords,
  PROP_AVAIL1,
  PTE_LEAF,
  PTE_TABLE,
  SWITCH_LOCK,
  SWITCH_POINT_NAMES,
} from '@mmkit/core/internal';
import { bundleOf } from '../bundle.ts';
import type { ParallelOp } from '../parallel/ops.ts';
import { type ParallelKernelSpec, parallelKernel } from '../parallel/spec.ts';
import {
  CPU_FAILED,
  CPU_PAUSED,
  ExploreControl,
  GO,
  OP,
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
import type { CpuData, CpuReport, PlantedBug } from './cpu-protocol.ts';
import { cpuOfOwner, type ExploreViolation, SwitchChecker } from './invariants.ts';
import { cpuProgram, describeOp, scheduleSeed } from './program.ts';
import { describeStrategy, Picker, strategyOf } from './scheduler.ts';
import { SharedSnapshot } from './snapshot.ts';

export interface ExploreOptions {
  readonly protocol: LockProtocolName;
  readonly recycle: boolean;
  /** Simulated CPUs (worker threads), 2 to 8. */
  readonly cpus: number;
  /** Schedules to run (ignored with `replay`). */
  readonly schedules: number;
  /** Seed of the run: schedule `i` runs with `scheduleSeed(seed, i)`. */
  readonly seed: number;
  /** Run the one schedule of this seed instead (a failure's `scheduleSeed`). */
  readonly replay?: number;
  readonly plant?: PlantedBug | null;
  /** Cursor operations per CPU per schedule (default 4). */
  readonly ops?: number;
  /** Switches after which a schedule counts as stuck (default 20 000). */
  readonly maxSteps?: number;
  /** Called about once a second with the schedules done so far. */
  readonly onProgress?: (done: number, total: number, elapsedMs: number) => void;
}

/** One step a CPU took: the switch point it was paused at when the scheduler chose it. */
export interface TraceStep {
  readonly step: number;
  readonly cpu: number;
  /** `start` (its first step) or a switch point name (`lock`, `pte-read`, ...). */
  readonly point: string;
  readonly pfn: number;
  readonly va: number;
  /** The operation the CPU was in, e.g. `2: unmap 0x3fffc000+3`. */
  readonly op: string;
}

export interface ExploreFailure {
  /** Index of the schedule in the run (null for a replay). */
  readonly scheduleIndex: number | null;
  /** The seed that replays the schedule (`--replay`). */
  readonly scheduleSeed: number;
  readonly strategy: string;
  /** Switches taken before the violation was seen. */
  readonly steps: number;
  readonly violation: ExploreViolation;
  /** The last steps before the violation, oldest first. */
  readonly trace: readonly TraceStep[];
  /** Every node lock held when the violation was seen, with its owner. */
  readonly locks: readonly string[];
  /** Each CPU's program in the schedule. */
  readonly programs: readonly (readonly string[])[];
}

export interface ExploreResult {
  readonly schedulesRun: number;
  /** Switches over all schedules run. */
  readonly switches: number;
  readonly elapsedMs: number;
  readonly failure: ExploreFailure | null;
}

/** Steps of the trace kept for a failure report. */
const TRACE_KEPT = 40;
/** A CPU that runs this long without reaching a switch point fails the schedule. */
const STEP_TIMEOUT_MS = 10_000;
/** Physical memory of the explored kernel: the boot frames and a few dozen more are enough. */
const MEMORY = 4 << 20;

/**
 * Explores interleavings of `cpus` simulated CPUs running cursor operations on one page
 * table under `protocol`: each schedule restores the kernel's shared state, lets every
 * CPU run its program one step at a time in the order the schedule's strategy picks, and
 * checks the invariants (`SwitchChecker`) at every switch, then `kernel.check()` and the
 * frame count at its end. Stops at the first violation. Throws `MmError` for bad options.
 */
export async function explore(options: ExploreOptions): Promise<ExploreResult> {
  const nrCpus = options.cpus;
  const nrOps = options.ops ?? 4;
  const maxSteps = options.maxSteps ?? 20_000;
  if (!(Number.isInteger(nrCpus) && nrCpus >= 2 && nrCpus <= 8))
    throw new MmError('InvalidArgument', `explore: --cpus ${nrCpus} is not in 2..8`);
  if (!(Number.isInteger(nrOps) && nrOps >= 1 && nrOps <= 64))
    throw new MmError('InvalidArgument', `explore: --ops ${nrOps} is not in 1..64`);
  if (!(Number.isInteger(options.schedules) && options.schedules >= 1))
    throw new MmError(
      'InvalidArgument',
      `explore: --schedules ${options.schedules} is not a positive integer`,
    );
  const spec: ParallelKernelSpec = {
    arch: 'x86_64',
    memory: MEMORY,
    layout: 'soa',
    protocol: options.protocol,
    recycle: options.recycle,
    debug: true,
  };
  const kernel = parallelKernel(spec);
  const table = kernel.newUserPageTable();
  const baselineInUse = kernel.frames.nrInUse;
  const snapshot = new SharedSnapshot(kernel.sharedState(1));
  const control = new ExploreControl(nrCpus);
  const cpus = await startCpus(kernel, spec, control, nrCpus, nrOps, options.plant ?? null);
  const checker = new SwitchChecker(kernel, options.protocol, control);
  const started = Date.now();
  let lastProgress = started;
  let switches = 0;
  let schedulesRun = 0;
  let failure: ExploreFailure | null = null;
  try {
    const seeds =
      options.replay !== undefined
        ? [options.replay >>> 0]
        : Array.from({ length: options.schedules }, (_, i) => scheduleSeed(options.seed, i));
    for (let i = 0; i < seeds.length && failure === null; i++) {
      snapshot.restore();
      const run = runSchedule(kernel, table.rootPfn, control, cpus.ports, checker, seeds[i], nrOps, maxSteps);
      switches += run.steps;
      schedulesRun++;
      if (run.violation === null) {
        run.violation = endOfScheduleCheck(kernel, table.rootPfn, baselineInUse);
      }
      if (run.violation !== null) {
        failure = {
          scheduleIndex: options.replay !== undefined ? null : i,
          scheduleSeed: seeds[i],
          strategy: describeStrategy(strategyOf(seeds[i])),
          steps: run.steps,
          violation: run.violation,
          trace: run.trace.slice(-TRACE_KEPT),
          locks: describeLocks(kernel, control),
          programs: Array.from({ length: nrCpus }, (_, cpu) =>
            cpuProgram(seeds[i], cpu, nrOps).map(describeOp),
          ),
        };
      }
      const now = Date.now();
      if (options.onProgress !== undefined && now - lastProgress >= 1000) {
        lastProgress = now;
        options.onProgress(schedulesRun, seeds.length, now - started);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  } finally {
    await stopCpus(control, cpus.workers);
  }
  return { schedulesRun, switches, elapsedMs: Date.now() - started, failure };
}

interface Cpus {
  readonly workers: Worker[];
  readonly ports: MessagePort[];
}

/** Starts the CPUs' worker threads and waits until each has attached to the kernel. */
async function startCpus(
  kernel: Kernel,
  spec: ParallelKernelSpec,
  control: ExploreControl,
  nrCpus: number,
  nrOps: number,
  plant: PlantedBug | null,
): Promise<Cpus> {
  const entry = bundleOf(new URL('./cpu-main.ts', import.meta.url));
  const workers: Worker[] = [];
  const ports: MessagePort[] = [];
  let failed: Error | null = null;
  for (let cpu = 0; cpu < nrCpus; cpu++) {
    const channel = new MessageChannel();
    const data: CpuData = {
      spec,
      state: kernel.sharedState(cpu + 1),
      cpu,
      nrCpus,
      nrOps,
      plant,
      control: control.buffers,
      port: channel.port2,
    };
    const worker = new Worker(entry, {
      workerData: data,
      transferList: [channel.port2],
    });
    worker.on('error', (e) => {
      failed ??= new Error(`explore: CPU ${cpu} failed: ${e.stack ?? e.message}`);
    });
    workers.push(worker);
    ports.push(channel.port1);
  }
  while (control.load(READY) < nrCpus) {
    if (failed !== null) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw failed;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return { workers, ports };
}

async function stopCpus(control: ExploreControl, workers: Worker[]): Promise<void> {
  control.store(QUIT, 1);
  control.bump(GO);
  await Promise.all(workers.map((w) => w.terminate()));
}

interface ScheduleRun {
  steps: number;
  violation: ExploreViolation | null;
  trace: TraceStep[];
}

/** Runs one schedule to its end or to the first violation (CPUs are left paused then). */
function runSchedule(
  kernel: Kernel,
  root: number,
  control: ExploreControl,
  ports: readonly MessagePort[],
  checker: SwitchChecker,
  seed: number,
  nrOps: number,
  maxSteps: number,
): ScheduleRun {
  const nrCpus = control.nrCpus;
  const programs = Array.from({ length: nrCpus }, (_, cpu) => cpuProgram(seed, cpu, nrOps));
  control.store(SEED, seed | 0);
  control.store(ROOT, root);
  control.store(READY, 0);
  control.handTurn(SCHEDULER);
  control.bump(GO);
  const run: ScheduleRun = { steps: 0, violation: null, trace: [] };
  for (let ready = 0; ready < nrCpus; ) {
    const now = control.waitChange(READY, ready, STEP_TIMEOUT_MS);
    if (now === ready) {
      run.violation = { kind: 'stuck', message: `only ${ready} of ${nrCpus} CPUs started the schedule` };
      return run;
    }
    ready = now;
  }
  const strategy = strategyOf(seed);
  const picker = new Picker(strategy, seed, nrCpus, nrCpus * nrOps * 40);
  // Paused CPUs that can make progress; those in an operation (also the ones that would
  // fail a try-lock); all of them, grace waiters included.
  const eligible: number[] = [];
  const working: number[] = [];
  const waiting: number[] = [];
  for (;;) {
    run.violation = checker.check(root);
    if (run.violation !== null) return run;
    eligible.length = 0;
    working.length = 0;
    waiting.length = 0;
    for (let cpu = 0; cpu < nrCpus; cpu++) {
      const state = control.cpuWord(cpu, STATE);
      if (state === CPU_FAILED) {
        const report = receiveMessageOnPort(ports[cpu])?.message as CpuReport | undefined;
        // The error and the innermost frames: where in the cursor code it was thrown.
        const error = report?.error?.split('\n').slice(0, 4).join('\n') ?? '(no report)';
        run.violation = { kind: 'cpu-error', message: `CPU ${cpu} threw: ${error}` };
        return run;
      }
      if (state !== CPU_PAUSED) continue;
      waiting.push(cpu);
      if (control.cpuWord(cpu, POINT) === POINT_GRACE) continue;
      working.push(cpu);
      if (!aboutToFailTryLock(kernel, control, cpu)) eligible.push(cpu);
    }
    if (waiting.length === 0) break;
    if (run.steps >= maxSteps) {
      run.violation = { kind: 'stuck', message: `no end after ${maxSteps} switches (a livelock?)` };
      return run;
    }
    const cpu = picker.pick(eligible.length > 0 ? eligible : working.length > 0 ? working : waiting);
    run.trace.push(pendingStep(control, programs, cpu, run.steps));
    if (run.trace.length > 4 * TRACE_KEPT) run.trace.splice(0, run.trace.length - TRACE_KEPT);
    run.steps++;
    control.handTurn(cpu);
    if (!control.waitTurn(SCHEDULER, STEP_TIMEOUT_MS)) {
      run.violation = {
        kind: 'stuck',
        message: `CPU ${cpu} ran ${STEP_TIMEOUT_MS} ms without reaching a switch point`,
      };
      return run;
    }
  }
  for (let cpu = 0; cpu < nrCpus; cpu++) {
    const report = receiveMessageOnPort(ports[cpu])?.message as CpuReport | undefined;
    const problems = report?.counters.violations ?? [`CPU ${cpu} sent no report`];
    if (problems.length > 0) {
      run.violation = { kind: 'cpu-check', message: `CPU ${cpu}: ${problems.join('; ')}` };
      return run;
    }
  }
  return run;
}

/** Whether `cpu` is paused before a try-lock of a node another CPU holds (it would fail). */
function aboutToFailTryLock(kernel: Kernel, control: ExploreControl, cpu: number): boolean {
  if (control.cpuWord(cpu, POINT) !== SWITCH_LOCK) return false;
  const owner = lockOwner(kernel.meta, control.cpuWord(cpu, PFN));
  return owner !== 0 && cpuOfOwner(owner) !== cpu;
}

function pendingStep(
  control: ExploreControl,
  programs: readonly (readonly ParallelOp[])[],
  cpu: number,
  step: number,
): TraceStep {
  const point = control.cpuWord(cpu, POINT);
  const opIndex = control.cpuWord(cpu, OP);
  return {
    step,
    cpu,
    point: point === POINT_START ? 'start' : point === POINT_GRACE ? 'grace-wait' : SWITCH_POINT_NAMES[point],
    pfn: control.cpuWord(cpu, PFN),
    va: control.cpuF64(cpu, VA),
    op: `${opIndex}: ${describeOp(programs[cpu][opIndex])}`,
  };
}

/**
 * The checks at the end of a clean schedule: `kernel.check()`, and no leak: the frames in
 * use are the boot frames and the table's root, plus exactly the nodes and mapped frames
 * the table reaches.
 */
function endOfScheduleCheck(kernel: Kernel, root: number, baselineInUse: number): ExploreViolation | null {
  const violations = kernel.check();
  if (violations.length > 0)
    return {
      kind: 'check',
      message: `kernel.check(): ${violations.length} violation(s), first: ${violations[0].kind}: ${violations[0].message}`,
    };
  const reached = framesReachedFrom(kernel, root);
  const inUse = kernel.frames.nrInUse;
  if (inUse !== baselineInUse + reached)
    return {
      kind: 'leak',
      message: `${inUse - baselineInUse} frames in use besides the boot frames and the root, but the table reaches ${reached}`,
    };
  return null;
}

/** Nodes below `root` and distinct tracked frames mapped in the user half of its table. */
function framesReachedFrom(kernel: Kernel, root: number): number {
  const ctx = kernel.ctx;
  const codec = ctx.codec;
  const mapped = new Set<number>();
  let nodes = 0;
  const visit = (node: number, level: number, nrSlots: number): void => {
    const words = nodeWords(ctx, node);
    const base = nodeBase(ctx, node);
    for (let i = 0; i < nrSlots; i++) {
      const lo = words[base + 2 * i];
      const hi = words[base + 2 * i + 1];
      const kind = codec.kind(lo, hi, level);
      if (kind === PTE_TABLE && level > 1) {
        nodes++;
        visit(codec.pfn(lo, hi, level), level - 1, ctx.consts.nrEntries);
      } else if (kind === PTE_LEAF && (codec.prop(lo, hi, level) & PROP_AVAIL1) === 0) {
        mapped.add(codec.pfn(lo, hi, level));
      }
    }
  };
  visit(root, ctx.consts.nrLevels, ctx.consts.userRootEntries);
  return nodes + mapped.size;
}

/** Every locked node with its owner: CPU and the operation it is in. */
function describeLocks(kernel: Kernel, control: ExploreControl): string[] {
  const out: string[] = [];
  for (let pfn = 0; pfn < kernel.frames.nrFrames; pfn++) {
    const owner = lockOwner(kernel.meta, pfn);
    if (owner === 0) continue;
    const cpu = cpuOfOwner(owner);
    const who =
      cpu >= 0 && cpu < control.nrCpus ? `CPU ${cpu} (operation ${control.cpuWord(cpu, OP)})` : 'no CPU';
    out.push(
      `node ${pfn} (level ${kernel.meta.level(pfn)}, ${kernel.meta.stray(pfn) ? 'stray' : 'not stray'}) held by ${who}, owner id ${owner}`,
    );
  }
  return out;
}
