import 'reflect-metadata';

export * from './arch/index.ts';
export * from './errors.ts';
export { FrameAllocator, type FrameAllocatorService } from './frame/allocator.ts';
export { FRAME_TYPE_NAMES, FrameType } from './frame/frame-type.ts';
export { type DropHook, Frames } from './frame/frames.ts';
export {
  createMetaStore,
  type FrameMetaStore,
  LAYOUT_NAMES,
  type LayoutName,
  SoaMetaStore,
} from './frame/meta-store.ts';
export { PhysMemory } from './frame/phys-memory.ts';
export { REF_COUNT_MAX, REF_COUNT_UNUSED } from './frame/ref-count.ts';
export type { Violation } from './kernel/check.ts';
export { dumpPageTable, type MappingRun, mappingRuns, nodesPerLevel } from './kernel/dump.ts';
export { type FaultAccess, type FaultKind, KernelEventBus, type KernelEvents } from './kernel/events.ts';
export {
  HOOK_KINDS,
  HOT_HOOKS,
  type HookKind,
  type HookName,
  type HooksOfKind,
  type HotHookName,
  type KernelHooks,
  type KernelHookTable,
  type PrivateWriteFault,
} from './kernel/hooks.ts';
export { createKernel, DEFAULT_MEMORY, Kernel, type KernelConfig, MAX_MEMORY } from './kernel/kernel.ts';
export { type KernelPlugin, PluginDriver, PluginError, type PluginSpec } from './kernel/plugin.ts';
export {
  defaultServices,
  type KernelServices,
  type ServiceName,
  type ServiceOverrides,
} from './kernel/services.ts';
export {
  ArchToken,
  EventsToken,
  ForkStrategyToken,
  FrameAllocatorToken,
  FramesToken,
  KernelConfigToken,
  KernelToken,
  LockProtocolToken,
  MetaStoreToken,
  PageTableContextToken,
  PhysMemoryToken,
  TlbToken,
} from './kernel/tokens.ts';
export { PageTableContext } from './page-table/context.ts';
export {
  Cursor,
  CursorMut,
  QUERY_END,
  QUERY_MAPPED,
  QUERY_MAPPED_UNTRACKED,
  QUERY_NOT_MAPPED,
  type QueryItem,
  type QueryKind,
} from './page-table/cursor.ts';
export {
  LOCK_PROTOCOLS,
  type LockProtocol,
  type LockProtocolName,
  lockProtocol,
} from './page-table/lock-protocol.ts';
export { PageTable } from './page-table/page-table.ts';
export * from './process/index.ts';
export * from './syscall/index.ts';
export { FLUSH_ALL_PAGES_THRESHOLD, Tlb } from './tlb.ts';
export { VmSpace } from './vm-space.ts';
export * from './vmar/index.ts';
