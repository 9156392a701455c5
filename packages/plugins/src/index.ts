import 'reflect-metadata';

export * from './buddy/index.ts';
export { CowPlugin, cow, cowCopyPt } from './cow.ts';
export { LockGlobalPlugin, LockSubtreePlugin, lockGlobal, lockSubtree } from './lock-protocols.ts';
export * from './page-cache/index.ts';
export { PageTableRecyclingPlugin, pageTableRecycling } from './page-table-recycling.ts';
