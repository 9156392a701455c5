export {
  DEFAULT_L1_DTLB,
  DEFAULT_L2_STLB,
  DEFAULT_TLB_ASIDS,
  DEFAULT_TLB_CPUS,
  resolveTlbConfig,
  type TlbConfig,
  type TlbLevelConfig,
} from './config.ts';
export { FLUSH_ALL_PAGES_THRESHOLD, Tlb, type TlbFlushKind, TlbSpace } from './tlb.ts';
export { TlbArray } from './tlb-array.ts';
