/**
 * Worker threads on one kernel's shared memory: `parallelKernel` boots a kernel from a
 * plain-data spec, `runWorkers` runs plans of cursor operations (`ParallelOp`) on one of its
 * page tables in N `worker_threads`, each attached to the same `SharedArrayBuffer`s.
 */
export { newCounters, type ParallelOp, runOps, type WorkerCounters } from './ops.ts';
export { describeHeldLocks, type RunWorkersOptions, runWorkers, WorkersStuckError } from './run-workers.ts';
export { type ParallelKernelSpec, parallelKernel } from './spec.ts';
