/**
 * The control block the explorer's scheduler and its CPUs (worker threads) share: a few
 * `Int32` words on a `SharedArrayBuffer` for the turn and each CPU's state, and `Float64`s for
 * addresses. Only the thread whose number is in `TURN` runs (the scheduler is `SCHEDULER`);
 * the others sleep in `Atomics.wait` on that word. A CPU reaching a switch point writes
 * the step it is about to take (`point`, `pfn`, `va`) and hands the turn back.
 */

/** Word indexes of the global part. */
export const TURN = 0;
/** Bumped by the scheduler to start a schedule (CPUs wait on it between schedules). */
export const GO = 1;
/** The schedule seed (as an `Int32`) and the root of the schedule's page table. */
export const SEED = 2;
export const ROOT = 3;
/** Set to 1 (with `GO` bumped) to make every CPU leave its loop. */
export const QUIT = 4;
/** CPUs that have set up the current schedule (or, at boot, attached to the kernel). */
export const READY = 5;

/** The value of `TURN` while the scheduler runs. */
export const SCHEDULER = -1;

/** A CPU's state (`cpuWord(cpu, STATE)`). */
export const CPU_IDLE = 0;
/** Paused at a switch point (or before its first step), waiting for its turn. */
export const CPU_PAUSED = 1;
export const CPU_DONE = 2;
/** An operation threw; the error text is on the CPU's message port. */
export const CPU_FAILED = 3;

/** Per-CPU words: state, pending switch point, its node, index of the operation running. */
export const STATE = 0;
export const POINT = 1;
export const PFN = 2;
export const OP = 3;
/** Pending switch point of a CPU that has not taken its first step. */
export const POINT_START = -1;
/**
 * Pending step of a CPU whose program is done and that waits for the grace period of the
 * nodes it retired (other CPUs' lock-free walkers are still alive). Such a CPU runs only
 * when no other CPU can.
 */
export const POINT_GRACE = -2;

/** Per-CPU `Float64`s: the pending step's address, the running operation's range. */
export const VA = 0;
export const OP_START = 1;
export const OP_END = 2;

const GLOBAL_WORDS = 8;
const CPU_WORDS = 4;
const CPU_F64S = 3;

/** The shared words, as both sides see them. */
export class ExploreControl {
  readonly words: Int32Array;
  readonly f64: Float64Array;

  constructor(
    readonly nrCpus: number,
    buffers?: { words: SharedArrayBuffer; f64: SharedArrayBuffer },
  ) {
    this.words = new Int32Array(
      buffers?.words ?? new SharedArrayBuffer(4 * (GLOBAL_WORDS + CPU_WORDS * nrCpus)),
    );
    this.f64 = new Float64Array(buffers?.f64 ?? new SharedArrayBuffer(8 * CPU_F64S * nrCpus));
  }

  get buffers(): { words: SharedArrayBuffer; f64: SharedArrayBuffer } {
    return { words: this.words.buffer as SharedArrayBuffer, f64: this.f64.buffer as SharedArrayBuffer };
  }

  load(index: number): number {
    return Atomics.load(this.words, index);
  }

  store(index: number, value: number): void {
    Atomics.store(this.words, index, value);
  }

  /** Index of word `field` of `cpu`. */
  cpuIndex(cpu: number, field: number): number {
    return GLOBAL_WORDS + CPU_WORDS * cpu + field;
  }

  cpuWord(cpu: number, field: number): number {
    return Atomics.load(this.words, this.cpuIndex(cpu, field));
  }

  setCpuWord(cpu: number, field: number, value: number): void {
    Atomics.store(this.words, this.cpuIndex(cpu, field), value);
  }

  cpuF64(cpu: number, field: number): number {
    return this.f64[CPU_F64S * cpu + field];
  }

  setCpuF64(cpu: number, field: number, value: number): void {
    this.f64[CPU_F64S * cpu + field] = value;
  }

  /** Gives the turn to `who` (a CPU or `SCHEDULER`) and wakes the sleepers. */
  handTurn(who: number): void {
    Atomics.store(this.words, TURN, who);
    Atomics.notify(this.words, TURN);
  }

  /**
   * Sleeps until the turn is `who`'s; false if `timeoutMs` passed first (the scheduler's
   * watchdog; CPUs wait without a bound).
   */
  waitTurn(who: number, timeoutMs = Number.POSITIVE_INFINITY): boolean {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const turn = Atomics.load(this.words, TURN);
      if (turn === who) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(this.words, TURN, turn, left);
    }
  }

  /**
   * Sleeps until word `index` differs from `seen`; returns its new value (`seen` if
   * `timeoutMs` passed first).
   */
  waitChange(index: number, seen: number, timeoutMs = Number.POSITIVE_INFINITY): number {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = Atomics.load(this.words, index);
      if (now !== seen) return now;
      const left = deadline - Date.now();
      if (left <= 0) return seen;
      Atomics.wait(this.words, index, seen, left);
    }
  }

  /** Adds one to word `index` and wakes its sleepers. */
  bump(index: number): void {
    Atomics.add(this.words, index, 1);
    Atomics.notify(this.words, index);
  }
}
