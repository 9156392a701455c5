import 'reflect-metadata';

export * from './arch/index.ts';
export * from './errors.ts';
