/**
 * What a lock word written by two threads costs, for the model of `hoh` in
 * docs/PARALLELISM.md ("What to expect"). Two `worker_threads` each take and release a lock
 * `N` times the way a node lock is taken (`Atomics.compareExchange` 0 → owner, then
 * `Atomics.store` 0), with a little private work between (`WORK` multiply-adds, standing for
 * the rest of a request), in three set-ups:
 * - `alone`: one thread, its own word (the single-thread cost);
 * - `padded`: two threads, each its own word, 128 bytes apart (what `subtree` gives workers on
 *   disjoint ranges);
 * - `shared`: two threads, one word (what `hoh` gives them: every cursor locks the root).
 * A failed compare-exchange is retried at once, as a cursor retries on `CursorBusy`.
 * And `m`, the time to move one cache line from one core to the other, by ping-pong: the two
 * threads take turns on one word (each waits to read its turn, then writes the other's), so
 * that every turn is one transfer of the line; m = round trip / 2.
 * Prints ns per lock/unlock pair per thread and the throughput of two threads over one
 * (the best of `runs` runs each, so that other load inflates nothing: with two busy cores
 * the two threads share one, and `padded` then scales well below 2).
 * Usage: `node --import tsx packages/cli/src/bench/line-transfer.ts [runs] [work] [pairs]`.
 */
import { Worker } from 'node:worker_threads';

const runs = Number(process.argv[2] ?? 5);
const WORK = Number(process.argv[3] ?? 50);
/** Pairs per thread and run: fewer, with more runs, give the best run a better chance of two idle cores. */
const N = Number(process.argv[4] ?? 2_000_000);
/** Turns per thread and run of the ping-pong: short, so that some run gets two idle cores. */
const PING_PONG_TURNS = 20_000;
/** `Int32`s between the two threads' words in the padded set-up (128 bytes). */
const STRIDE = 32;

/**
 * The body each thread runs: lock/unlock `n` times with `work` private steps between, or
 * (`turn` ≥ 0) `n` ping-pong turns: wait until the word is `turn`, write the other turn.
 */
const BODY = `
const { parentPort, workerData } = require('node:worker_threads');
const { buffer, word, n, work, start, turn } = workerData;
// In functions, not at the top level of the script, so that V8 optimizes the loops.
function lockLoop(words, word, n, work) {
  let x = 1.5;
  for (let i = 0; i < n; i++) {
    while (Atomics.compareExchange(words, word, 0, 1) !== 0) {}
    Atomics.store(words, word, 0);
    for (let j = 0; j < work; j++) x = x * 1.000001 + 0.5;
  }
  return x;
}
// Gives up (Infinity) after a second, raising the abort flag in word 0 for the other thread:
// with the two threads on one core each turn would wait for a time slice, and the run would
// take minutes.
function pingPong(words, word, n, turn) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    while (Atomics.load(words, word) !== turn) if (Atomics.load(words, 0) !== 0) return Infinity;
    Atomics.store(words, word, 1 - turn);
    if ((i & 1023) === 0 && performance.now() - t0 > 1000) {
      Atomics.store(words, 0, 1);
      return Infinity;
    }
  }
  return turn;
}
const words = new Int32Array(buffer);
lockLoop(new Int32Array(4), 0, 20000, work);
const go = new Int32Array(start);
Atomics.add(go, 1, 1);
while (Atomics.load(go, 0) === 0) {}
const t0 = performance.now();
const x = turn >= 0 ? pingPong(words, word, n, turn) : lockLoop(words, word, n, work);
parentPort.postMessage({ ms: x === Infinity ? Infinity : performance.now() - t0, x });
`;

/**
 * Runs one thread per entry of `wordsOfThreads` (the word it locks), or with `pingPong` two
 * threads taking turns on word 0; ms of the slowest.
 */
async function run(wordsOfThreads: number[], pingPong = false): Promise<number> {
  const buffer = new SharedArrayBuffer(4 * STRIDE * 4);
  const start = new SharedArrayBuffer(8);
  const go = new Int32Array(start);
  const workers = wordsOfThreads.map(
    (word, i) =>
      new Worker(BODY, {
        eval: true,
        workerData: {
          buffer,
          word: STRIDE + word,
          n: pingPong ? PING_PONG_TURNS : N,
          work: WORK,
          start,
          turn: pingPong ? i : -1,
        },
      }),
  );
  const done = workers.map((w) => new Promise<number>((resolve) => w.once('message', (m) => resolve(m.ms))));
  while (Atomics.load(go, 1) < workers.length) await new Promise((r) => setTimeout(r, 1));
  Atomics.store(go, 0, 1);
  const ms = Math.max(...(await Promise.all(done)));
  await Promise.all(workers.map((w) => w.terminate()));
  return ms;
}

async function best(wordsOfThreads: number[], pingPong = false): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) min = Math.min(min, await run(wordsOfThreads, pingPong));
  return min;
}

const alone = await best([0]);
const padded = await best([0, STRIDE]);
const shared = await best([0, 0]);
const roundTrips = await best([0, 0], true);
const ns = (ms: number) => ((ms * 1e6) / N).toFixed(1);
console.log(
  `lock/unlock pairs with ${WORK} private steps between, best of ${runs} runs, ${N} pairs per thread`,
);
console.log(`alone:  ${ns(alone)} ns per pair`);
console.log(
  `padded: ${ns(padded)} ns per pair per thread, 2 threads / 1 = ${((2 * alone) / padded).toFixed(2)}x`,
);
console.log(
  `shared: ${ns(shared)} ns per pair per thread, 2 threads / 1 = ${((2 * alone) / shared).toFixed(2)}x`,
);
console.log(`cost of the shared word over padded: ${(((shared - padded) * 1e6) / N).toFixed(1)} ns per pair`);
console.log(
  roundTrips === Number.POSITIVE_INFINITY
    ? 'm: not measured (in no run did the two threads have two cores for the ping-pong)'
    : `m (ping-pong, one turn = one line transfer): ${((roundTrips * 1e6) / (2 * PING_PONG_TURNS)).toFixed(1)} ns`,
);
