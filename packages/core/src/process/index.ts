export { eagerFork, type ForkStrategy } from './fork-strategy.ts';
export { Process } from './process.ts';
export { ProcessTable, type ProcessTableConfig } from './process-table.ts';
