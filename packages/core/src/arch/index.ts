export type { Arch } from './arch.ts';
export * from './page-prop.ts';
export * from './paging-consts.ts';
export * from './pte-codec.ts';
