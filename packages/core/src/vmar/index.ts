export { checkVmar } from './check.ts';
export { type IntervalBounds, IntervalSet } from './interval-set.ts';
export { MAPPING_SCHEMA, type MappingStore, MappingTable, mappingTableOf } from './mapping-table.ts';
export {
  FAULT_AROUND_PAGES,
  FAULT_HANDLED,
  FAULT_SIGBUS,
  FAULT_SIGSEGV,
  type FaultResult,
  handlePageFault,
} from './page-fault.ts';
export * from './vm-mapping.ts';
export * from './vm-perms.ts';
export {
  type Placement,
  STACK_GUARD_GAP_PAGES,
  STACK_LIMIT_PAGES,
  VMAR_LOWEST_ADDR,
  Vmar,
  type VmarConfig,
  type VmarMapOptions,
} from './vmar.ts';
export { AnonVmo, type Vmo } from './vmo.ts';
export { VmoTable } from './vmo-table.ts';
