import { MmError } from '../errors.ts';
import type { LockMode } from './mmap-lock.ts';
import type { ProcessTable } from './process-table.ts';
import type { Thread } from './thread.ts';

/** The lock an operation takes: the `mmap_lock` of the thread's process in a mode, or none. */
export type OpLock = LockMode | 'none';

/**
 * One operation of a thread, as the scheduler runs it.
 *
 * `lock` is decided when the operation starts (a function is called then: a load takes the
 * lock only if it will fault). A locked operation runs `run` once it holds the lock, then
 * keeps the lock for `steps` steps in all (its cost, one step per page it works on);
 * `downgradeAfter` (write only) turns the hold into a read hold after that many steps, as
 * munmap does. An operation without a lock runs in one step.
 */
export interface ThreadOp {
  readonly kind: string;
  readonly lock: OpLock | (() => OpLock);
  readonly steps: number;
  readonly downgradeAfter?: number;
  /** Does the work; the result goes back to the thread's program. */
  run(): number;
}

/** A thread's program: yields operations and receives each one's result. */
export type ThreadProgram = Generator<ThreadOp, void, number>;

export interface ThreadSchedulerOptions {
  /** Seed of the random choice of the thread that runs at each step (default 1). */
  seed?: number;
  /**
   * A fixed schedule instead: the tid that runs at each step. Each must be runnable then
   * (else `InvalidArgument`); past its end, the runnable thread of lowest tid runs.
   */
  schedule?: readonly number[];
  /** Called after every step with the number of steps taken (e.g. to run `kernel.check()`). */
  afterStep?: (steps: number) => void;
}

const IDLE = 0;
const WAITING = 1;
const GRANTED = 2;
const HOLDING = 3;
const DONE = 4;

/** A thread's place in its program. */
interface Running {
  readonly thread: Thread;
  readonly program: ThreadProgram;
  phase: number;
  op: ThreadOp | null;
  mode: OpLock;
  /** Steps of the current hold still to go. */
  left: number;
  /** The result of the last operation, passed to the program when it asks for the next. */
  result: number;
}

/**
 * Interleaves the operations of threads, deterministically: at each step one runnable
 * thread (chosen by a seeded generator, or by a fixed schedule) does one step of work.
 *
 * A step of a thread: starting an operation (taking its process's `mmap_lock`, or queueing
 * on it; if taken, the operation runs and the first step of the hold is spent), one more
 * step of a hold (the last one releases the lock, which may grant it to waiting threads;
 * the downgrade point of a write hold downgrades it), or, for a thread just granted the
 * lock, running its operation. A waiting thread is not runnable. Wait times are counted in
 * steps by the lock (`MmapLock.reads` / `writes`).
 *
 * Before an operation runs, its thread's CPU becomes the CPU of the process's address space
 * in the TLB model (`Tlb.switchTo`): accesses fill that CPU's TLB, flushes start there and
 * reach every CPU where a thread of the process ran since the last full flush.
 *
 * A thread whose program ends stays alive (a program ends a thread with an exit operation).
 * Operations see the kernel between steps only, so `kernel.check()` may run after any step
 * (`afterStep`).
 */
export class ThreadScheduler {
  private readonly running: Running[] = [];
  private readonly byTid = new Map<number, Running>();
  private readonly random: () => number;
  private readonly schedule: readonly number[] | undefined;
  private readonly afterStep: ((steps: number) => void) | undefined;
  /** Steps taken so far. */
  nrSteps = 0;

  constructor(
    readonly procs: ProcessTable,
    options: ThreadSchedulerOptions = {},
  ) {
    this.random = mulberry32(options.seed ?? 1);
    this.schedule = options.schedule;
    this.afterStep = options.afterStep;
  }

  /** Adds `thread` (a live thread of `procs`) running `program`; allowed while `run` runs (from an operation). */
  add(thread: Thread, program: ThreadProgram): void {
    if (this.procs.thread(thread.tid) !== thread)
      throw new MmError('InvalidArgument', `thread ${thread.tid} is not a live thread`);
    if (this.byTid.has(thread.tid))
      throw new MmError('InvalidArgument', `thread ${thread.tid} already has a program`);
    const r: Running = { thread, program, phase: IDLE, op: null, mode: 'none', left: 0, result: 0 };
    this.running.push(r);
    this.byTid.set(thread.tid, r);
  }

  /** Runs every program to its end. */
  run(): void {
    for (;;) {
      const r = this.pick();
      if (r === null) return;
      this.step(r);
      this.nrSteps++;
      this.afterStep?.(this.nrSteps);
    }
  }

  /** The thread to run at this step, or null when every program is done. */
  private pick(): Running | null {
    for (const r of this.running) {
      // A thread that exited, or whose process ended (exit_group), has nothing left to run.
      if (r.phase !== DONE && r.phase !== HOLDING && this.procs.thread(r.thread.tid) !== r.thread)
        r.phase = DONE;
    }
    const runnable = this.running.filter((r) => r.phase !== WAITING && r.phase !== DONE);
    if (runnable.length === 0) {
      const stuck = this.running.filter((r) => r.phase === WAITING);
      if (stuck.length > 0)
        throw new MmError(
          'InvalidArgument',
          `threads ${stuck.map((r) => r.thread.tid).join(', ')} wait for an mmap_lock nobody will release`,
        );
      return null;
    }
    const fixed = this.schedule;
    if (fixed !== undefined && this.nrSteps < fixed.length) {
      const tid = fixed[this.nrSteps];
      const r = runnable.find((x) => x.thread.tid === tid);
      if (r === undefined)
        throw new MmError('InvalidArgument', `step ${this.nrSteps}: thread ${tid} is not runnable`);
      return r;
    }
    if (fixed !== undefined) return runnable.reduce((a, b) => (b.thread.tid < a.thread.tid ? b : a));
    return runnable[Math.floor(this.random() * runnable.length)];
  }

  private step(r: Running): void {
    switch (r.phase) {
      case IDLE:
        this.start(r);
        return;
      case GRANTED:
        this.runHeld(r);
        return;
      case HOLDING:
        this.holdStep(r);
        return;
    }
  }

  /** Fetches the thread's next operation and starts it. */
  private start(r: Running): void {
    const next = r.program.next(r.result);
    if (next.done) {
      r.phase = DONE;
      return;
    }
    const op = next.value;
    r.op = op;
    r.mode = typeof op.lock === 'function' ? op.lock() : op.lock;
    if (!(Number.isInteger(op.steps) && op.steps >= 1))
      throw new MmError('InvalidArgument', `operation ${op.kind}: steps must be a positive integer`);
    if (r.mode === 'none') {
      this.runOp(r);
      r.phase = IDLE;
      return;
    }
    const lock = this.procs.require(r.thread.pid).mmapLock;
    if (lock.acquire(r.thread.tid, r.mode, this.nrSteps)) this.runHeld(r);
    else r.phase = WAITING;
  }

  /** The thread holds the lock: runs its operation and spends the first step of the hold. */
  private runHeld(r: Running): void {
    this.runOp(r);
    r.left = (r.op as ThreadOp).steps;
    r.phase = HOLDING;
    // The operation may have ended the process (its last thread exited): the lock went with it.
    if (this.procs.get(r.thread.pid) === undefined) {
      r.phase = DONE;
      return;
    }
    this.holdStep(r);
  }

  /** One step of a hold: counts it down, downgrades at the downgrade point, releases at the end. */
  private holdStep(r: Running): void {
    const op = r.op as ThreadOp;
    const p = this.procs.get(r.thread.pid);
    if (p === undefined) {
      // Another thread ended the process (exit_group) and its lock with it.
      r.phase = DONE;
      return;
    }
    const lock = p.mmapLock;
    r.left--;
    const done = op.steps - r.left;
    let woken: number[] = [];
    if (r.left === 0) {
      woken = lock.release(r.thread.tid, this.nrSteps);
      r.phase = this.procs.thread(r.thread.tid) === undefined ? DONE : IDLE;
    } else if (r.mode === 'write' && done === op.downgradeAfter) {
      woken = lock.downgrade(r.thread.tid, this.nrSteps);
    }
    for (const tid of woken) {
      const w = this.byTid.get(tid);
      if (w === undefined)
        throw new MmError(
          'InvalidArgument',
          `thread ${tid} got an mmap_lock it waited for outside this scheduler`,
        );
      w.phase = GRANTED;
    }
  }

  /** Runs the current operation on the thread's CPU and counts it. */
  private runOp(r: Running): void {
    const op = r.op as ThreadOp;
    const t = r.thread;
    const p = this.procs.require(t.pid);
    this.procs.kernel.tlb.switchTo(p.vmar.space.tlbSpace, t.cpu);
    t.countOp(op.kind);
    r.result = op.run();
  }
}

/** A deterministic generator in [0, 1) (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
