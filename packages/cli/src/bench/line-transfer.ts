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
 * Prints ns per lock/unlock pair per thread and the throughput of two threads over one
 * (the best of `runs` runs each, so that other load inflates nothing).
 * Usage: `node --import tsx packages/cli/src/bench/line-transfer.ts [runs] [work]`.
 */
import { Worker } from 'node:worker_threads';

const N = 2_000_000;
const runs = Number(process.argv[2] ?? 5);
const WORK = Number(process.argv[3] ?? 50);
/** `Int32`s between the two threads' words in the padded set-up (128 bytes). */
const STRIDE = 32;

/** The body each thread runs: lock/unlock `n` times with `work` private steps between. */
const BODY = `
const { parentPort, workerData } = require('node:worker_threads');
const { buffer, word, n, work, start } = workerData;
// In a function, not at the top level of the script, so that V8 optimizes the loop.
function loop(words, word, n, work) {
  let x = 1.5;
  for (let i = 0; i < n; i++) {
    while (Atomics.compareExchange(words, word, 0, 1) !== 0) {}
    Atomics.store(words, word, 0);
    for (let j = 0; j < work; j++) x = x * 1.000001 + 0.5;
  }
  return x;
}
const words = new Int32Array(buffer);
loop(new Int32Array(4), 0, 20000, work);
const go = new Int32Array(start);
Atomics.add(go, 1, 1);
while (Atomics.load(go, 0) === 0) {}
const t0 = performance.now();
const x = loop(words, word, n, work);
parentPort.postMessage({ ms: performance.now() - t0, x });
`;

/** Runs `words.length` threads (one per entry of `words`: the word it locks); ms of the slowest. */
async function run(wordsOfThreads: number[]): Promise<number> {
  const buffer = new SharedArrayBuffer(4 * STRIDE * 4);
  const start = new SharedArrayBuffer(8);
  const go = new Int32Array(start);
  const workers = wordsOfThreads.map(
    (word) =>
      new Worker(BODY, { eval: true, workerData: { buffer, word: STRIDE + word, n: N, work: WORK, start } }),
  );
  const done = workers.map((w) => new Promise<number>((resolve) => w.once('message', (m) => resolve(m.ms))));
  while (Atomics.load(go, 1) < workers.length) await new Promise((r) => setTimeout(r, 1));
  Atomics.store(go, 0, 1);
  const ms = Math.max(...(await Promise.all(done)));
  await Promise.all(workers.map((w) => w.terminate()));
  return ms;
}

async function best(wordsOfThreads: number[]): Promise<number> {
  let min = Number.POSITIVE_INFINITY;
  for (let r = 0; r < runs; r++) min = Math.min(min, await run(wordsOfThreads));
  return min;
}

const alone = await best([0]);
const padded = await best([0, STRIDE]);
const shared = await best([0, 0]);
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
console.log(`cost of the shared word: ${(((shared - alone) * 1e6) / N).toFixed(1)} ns per pair`);
