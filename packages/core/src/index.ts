/**
 * `@mmkit/core`: what a user composes and drives kernels with. Every name is listed here on
 * purpose; what mechanism plugins need beyond it is in `@mmkit/core/internal`.
 */
import 'reflect-metadata';

export {
  type Arch,
  CACHE_MASK,
  CACHE_SHIFT,
  CACHE_UNCACHEABLE,
  CACHE_WRITE_COMBINING,
  CACHE_WRITE_PROTECTED,
  CACHE_WRITEBACK,
  CACHE_WRITETHROUGH,
  copyLeafWordsClearingBit,
  formatProp,
  isValidLeafPfn,
  leafFrameShift,
  type PagingConsts,
  PROP_ACCESSED,
  PROP_ALL_BITS,
  PROP_AVAIL1,
  PROP_DIRTY,
  PROP_GLOBAL,
  PROP_PERMS,
  PROP_R,
  PROP_RW,
  PROP_RWX,
  PROP_RX,
  PROP_USER,
  PROP_W,
  PROP_X,
  PTE_ABSENT,
  PTE_LEAF,
  PTE_TABLE,
  type PteCodec,
  type PteKind,
  pageSize,
  pteFromBigInt,
  pteToBigInt,
  withCache,
} from './arch/index.ts';
export {
  type ComponentSchema,
  type ComponentStore,
  checkStore,
  createStore,
  FIELD_KINDS,
  type FieldKind,
  type FieldSpec,
  LAYOUT_NAMES,
  LAYOUTS,
  type LayoutChoice,
  type LayoutFactory,
  type LayoutName,
  objectBytesPerEntity,
  resolveLayout,
  type StoreOptions,
  schemaLayout,
} from './ecs/index.ts';
export { ErrorCode, fail, MmError } from './errors.ts';
export {
  FrameAllocator,
  type FrameAllocatorBuffers,
  type FrameAllocatorOptions,
  type FrameAllocatorService,
} from './frame/allocator.ts';
export { FRAME_TYPE_NAMES, FrameType } from './frame/frame-type.ts';
export { type DropHook, Frames } from './frame/frames.ts';
export {
  createMetaStore,
  FRAME_FIELDS,
  FRAME_META_SCHEMA,
  type FrameMetaStore,
  NODE_FIELDS,
} from './frame/meta-store.ts';
export {
  MAX_SHARED_MEMORY,
  PhysMemory,
  type PhysMemoryBuffers,
  type PhysMemoryOptions,
} from './frame/phys-memory.ts';
export { REF_COUNT_MAX, REF_COUNT_UNUSED } from './frame/ref-count.ts';
export type { Violation } from './kernel/check.ts';
export { ControlPlane, dirtyFileNames } from './kernel/control-plane.ts';
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
  NO_HOOKS,
} from './kernel/hooks.ts';
export {
  createKernel,
  DEFAULT_MEMORY,
  Kernel,
  type KernelConfig,
  MAX_MEMORY,
  type SharedKernelState,
} from './kernel/kernel.ts';
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
export { MAX_OWNER_BLOCKS, PageTableContext } from './page-table/context.ts';
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
export { LeafSlot } from './page-table/leaf-slot.ts';
export {
  LOCK_PROTOCOLS,
  type LockProtocol,
  type LockProtocolName,
  lockProtocol,
} from './page-table/lock-protocol.ts';
export { PageTable } from './page-table/page-table.ts';
export {
  accessFaults,
  eagerFork,
  type ForkStrategy,
  type LockMode,
  type LockModeStats,
  MAX_READERS_WAKEUP,
  MmapLock,
  madviseLock,
  type OpLock,
  Process,
  type ProcessRss,
  ProcessTable,
  type ProcessTableConfig,
  rssByProcess,
  Thread,
  type ThreadHost,
  type ThreadOp,
  ThreadOps,
  type ThreadOpsOptions,
  type ThreadProgram,
  ThreadScheduler,
  type ThreadSchedulerOptions,
} from './process/index.ts';
export * from './syscall/errno.ts';
export {
  type FileOp,
  type FileOpResult,
  HOOK_FILE_OP,
  HOOK_LOOKUP_FILE,
  type LinuxRss,
  LinuxSyscalls,
  type LinuxSyscallsConfig,
  linuxRss,
  parseHeader,
  parseOp,
  Replayer,
  type ReplayOptions,
  readUser,
  replayLines,
  ScannedOp,
  scanLine,
  scanLineBytes,
  type TraceContext,
  type TraceHeader,
  type TraceOp,
  traceError,
  translateUser,
  type U64,
  U64_WRAP,
  u64ToNumber,
  writeUser,
} from './syscall/index.ts';
export * from './syscall/linux-abi.ts';
export {
  FLUSH_ALL_PAGES_THRESHOLD,
  resolveTlbConfig,
  Tlb,
  TlbArray,
  type TlbConfig,
  type TlbFlushKind,
  type TlbLevelConfig,
  TlbSpace,
} from './tlb/index.ts';
export { VmSpace } from './vm-space.ts';
export {
  ACCESS_EXEC,
  ACCESS_READ,
  ACCESS_WRITE,
  AnonVmo,
  checkVmar,
  FAULT_AROUND_PAGES,
  FAULT_HANDLED,
  FAULT_SIGBUS,
  FAULT_SIGSEGV,
  type FaultResult,
  formatPerms,
  handlePageFault,
  IntervalSet,
  MAPPING_SCHEMA,
  type MappingStore,
  MappingTable,
  MappingView,
  mappingTableOf,
  NR_RSS_TYPES,
  type Placement,
  RSS_ANON,
  RSS_FILE,
  VM_ALL_MAY_PERMS,
  VM_ALL_PERMS,
  VM_EXEC,
  VM_MAY_EXEC,
  VM_MAY_READ,
  VM_MAY_WRITE,
  VM_READ,
  VM_WRITE,
  Vmar,
  type VmarConfig,
  type VmarMapOptions,
  type Vmo,
  VmoTable,
} from './vmar/index.ts';
export {
  VMA_DONTDUMP,
  VMA_DONTFORK,
  VMA_GROWSDOWN,
  VMA_HUGEPAGE,
  VMA_LOCK_MASK,
  VMA_LOCKED,
  VMA_LOCKONFAULT,
  VMA_NOHUGEPAGE,
  VMA_NORESERVE,
  VMA_RAND_READ,
  VMA_SEQ_READ,
  VMA_SYNC,
  VMA_WIPEONFORK,
} from './vmar/vm-mapping.ts';
