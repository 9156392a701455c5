import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  RENDEZVOUS_STRIDE,
  RENDEZVOUS_TIMEOUT_MS,
  rendezvous,
  rendezvousBytes,
} from '../src/bench/workers/rendezvous.ts';
import { bundleOf } from '../src/bundle.ts';

const words = (n: number) => new Int32Array(new SharedArrayBuffer(rendezvousBytes(n)));
const stateOf = (w: Int32Array, i: number) => w[i * RENDEZVOUS_STRIDE + 1];

/** Runs worker `index` of a round on a thread of its own. */
function onThread(w: Int32Array, index: number, nrWorkers: number, round: number): Promise<boolean> {
  const thread = new Worker(bundleOf(new URL('./support/rendezvous-thread.ts', import.meta.url)), {
    workerData: { words: w.buffer, index, nrWorkers, round },
  });
  return new Promise((resolve, reject) => {
    thread.once('message', (m: boolean) => {
      resolve(m);
      void thread.terminate();
    });
    thread.once('error', reject);
  });
}

describe('the co-running check before a timed phase', () => {
  it('lets a single worker start at once', () => {
    const w = words(1);
    expect(rendezvous(w, 0, 1, 1)).toBe(true);
    expect(w[0]).toBe(0);
  });

  it('gives up after its timeout when another worker never runs, and says so to the others', () => {
    const w = words(2);
    const start = performance.now();
    expect(rendezvous(w, 0, 2, 5)).toBe(false);
    expect(performance.now() - start).toBeGreaterThanOrEqual(RENDEZVOUS_TIMEOUT_MS);
    expect(stateOf(w, 0)).toBe(-5);
    expect(w[0]).toBeGreaterThan(0);
  });

  it('stops waiting as soon as another worker gave up on the same round, not an older one', () => {
    const w = words(3);
    w[2 * RENDEZVOUS_STRIDE + 1] = -6;
    const first = performance.now();
    expect(rendezvous(w, 0, 3, 6)).toBe(false);
    expect(performance.now() - first).toBeLessThan(RENDEZVOUS_TIMEOUT_MS);
    expect(stateOf(w, 0)).toBe(-6);
    // A give-up left from round 6 does not end round 7: that one runs into its timeout.
    const start = performance.now();
    expect(rendezvous(w, 1, 3, 7)).toBe(false);
    expect(performance.now() - start).toBeGreaterThanOrEqual(RENDEZVOUS_TIMEOUT_MS);
  });

  it('ends for two threads together, both with the same answer and state', async () => {
    const w = words(2);
    const [a, b] = await Promise.all([onThread(w, 0, 2, 3), onThread(w, 1, 2, 3)]);
    // On an idle machine with two cores both are true; on a loaded one both may give up.
    expect(a).toBe(b);
    expect(stateOf(w, 0)).toBe(a ? 3 : -3);
    expect(stateOf(w, 1)).toBe(a ? 3 : -3);
    expect(w[0]).toBeGreaterThan(0);
    expect(w[RENDEZVOUS_STRIDE]).toBeGreaterThan(0);
  });
});
