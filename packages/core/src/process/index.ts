export { eagerFork, type ForkStrategy } from './fork-strategy.ts';
export { type LockMode, type LockModeStats, MAX_READERS_WAKEUP, MmapLock } from './mmap-lock.ts';
export { Process } from './process.ts';
export { ProcessTable, type ProcessTableConfig } from './process-table.ts';
export { type ProcessRss, rssByProcess } from './rss-system.ts';
export { Thread } from './thread.ts';
export {
  accessFaults,
  madviseLock,
  type ThreadHost,
  ThreadOps,
  type ThreadOpsOptions,
} from './thread-ops.ts';
export {
  type OpLock,
  type ThreadOp,
  type ThreadProgram,
  ThreadScheduler,
  type ThreadSchedulerOptions,
} from './thread-scheduler.ts';
