import 'reflect-metadata';

export * from './page-cache/index.ts';
export { PageTableRecyclingPlugin, pageTableRecycling } from './page-table-recycling.ts';
