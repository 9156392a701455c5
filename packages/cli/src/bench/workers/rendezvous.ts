/**
 * The co-running check before a timed phase: CortenMM's harness pins one thread per core,
 * which Node cannot; what pinning guarantees, that every worker is on a core of its own when
 * the clock starts, is checked here instead. Each worker keeps bumping its heartbeat word
 * and watches the others': a worker running on a core of its own sees every other
 * heartbeat move many times within microseconds, while two workers that the host put on one
 * core (as it may when a single wake-up wakes them all) see each other move only once per
 * time slice, until the host's load balancer moves one of them (up to a scheduler tick, 4 ms
 * at 250 Hz: half of a two-worker run). A worker that has seen every other heartbeat move
 * `CO_RUN_CHANGES` times marks itself ready and keeps beating until all are ready; then all
 * start, within a cache-line transfer of each other. A worker that gives up (after
 * `RENDEZVOUS_TIMEOUT_MS`) marks itself given up, which ends the others' wait as well; the
 * phase then runs as it would have without the check.
 *
 * Layout of the buffer (`Int32Array`): one 128-byte line per worker, so that no two
 * workers' words share a line: at `RENDEZVOUS_STRIDE * i` the heartbeat of worker `i`, at
 * `+ 1` the last round it was ready for (`round`), or gave up on (`-round`).
 */
export const RENDEZVOUS_STRIDE = 32;
/** Moves of every other heartbeat a worker must see: each a line transfer (about 60 ns here, `line-transfer.ts`) when co-running. */
export const CO_RUN_CHANGES = 256;
/** How long a worker tries before it starts anyway (more workers than cores never co-run). */
export const RENDEZVOUS_TIMEOUT_MS = 100;
/** Loop turns between two clock readings. */
const CLOCK_EVERY = 1024;

/** Bytes of the rendezvous buffer for `nrWorkers` workers. */
export function rendezvousBytes(nrWorkers: number): number {
  return 4 * RENDEZVOUS_STRIDE * nrWorkers;
}

/**
 * Worker `index` of `nrWorkers` takes part in round `round` (distinct and non-zero for each
 * phase) on `words`; returns `true` once every worker was seen running at once, `false` when
 * one of them gave up first.
 */
export function rendezvous(words: Int32Array, index: number, nrWorkers: number, round: number): boolean {
  if (nrWorkers === 1) return true;
  const mine = index * RENDEZVOUS_STRIDE;
  const last = new Int32Array(nrWorkers);
  const seen = new Int32Array(nrWorkers);
  for (let j = 0; j < nrWorkers; j++) last[j] = Atomics.load(words, j * RENDEZVOUS_STRIDE);
  const deadline = performance.now() + RENDEZVOUS_TIMEOUT_MS;
  let ready = false;
  for (let turn = 1; ; turn++) {
    Atomics.add(words, mine, 1);
    let allSeen = true;
    let allDone = true;
    let gaveUp = false;
    for (let j = 0; j < nrWorkers; j++) {
      if (j === index) continue;
      const beat = Atomics.load(words, j * RENDEZVOUS_STRIDE);
      if (beat !== last[j]) {
        last[j] = beat;
        seen[j]++;
      }
      if (seen[j] < CO_RUN_CHANGES) allSeen = false;
      const state = Atomics.load(words, j * RENDEZVOUS_STRIDE + 1);
      if (state === -round) gaveUp = true;
      else if (state !== round) allDone = false;
    }
    if (gaveUp) {
      Atomics.store(words, mine + 1, -round);
      return false;
    }
    if (allSeen && !ready) {
      ready = true;
      Atomics.store(words, mine + 1, round);
    }
    if (ready && allDone) return true;
    if (turn % CLOCK_EVERY === 0 && performance.now() > deadline) {
      Atomics.store(words, mine + 1, -round);
      return false;
    }
  }
}
