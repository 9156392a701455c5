import 'reflect-metadata';

export { PageTableRecyclingPlugin, pageTableRecycling } from './page-table-recycling.ts';
