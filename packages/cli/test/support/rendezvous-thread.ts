import { parentPort, workerData } from 'node:worker_threads';
import { rendezvous } from '../../src/bench/workers/rendezvous.ts';

/** Test helper thread: takes part in one rendezvous round as worker `index` and reports. */
const { words, index, nrWorkers, round } = workerData as {
  words: SharedArrayBuffer;
  index: number;
  nrWorkers: number;
  round: number;
};
parentPort?.postMessage(rendezvous(new Int32Array(words), index, nrWorkers, round));
