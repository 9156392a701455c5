/**
 * Injection tokens of a kernel's container. Plugins name their constructor parameters with
 * `@inject(Token)` (explicit tokens work in every runner; injection by type does not) and
 * inject only the services they use.
 */
/** The whole kernel: for tools and the layers above the core, not for plugins. */
export const KernelToken = Symbol('Kernel');
/** The `KernelConfig` the kernel was created with. */
export const KernelConfigToken = Symbol('KernelConfig');
/** The architecture (`Arch`). */
export const ArchToken = Symbol('Arch');
/** `Frames`: frame allocation and reference counts. */
export const FramesToken = Symbol('Frames');
/** The frame allocator service (`FrameAllocatorService`). */
export const FrameAllocatorToken = Symbol('FrameAllocator');
/** The frame and node metadata store (`FrameMetaStore`, i.e. the layout). */
export const MetaStoreToken = Symbol('MetaStore');
/** Physical memory contents (`PhysMemory`). */
export const PhysMemoryToken = Symbol('PhysMemory');
/** What every page table shares (`PageTableContext`). */
export const PageTableContextToken = Symbol('PageTableContext');
/** The page-table lock protocol (`LockProtocol`). */
export const LockProtocolToken = Symbol('LockProtocol');
/** The TLB model (`Tlb`). */
export const TlbToken = Symbol('Tlb');
/** How fork copies an address space (`ForkStrategy`). */
export const ForkStrategyToken = Symbol('ForkStrategy');
/** The kernel's event bus (`KernelEventBus`). */
export const EventsToken = Symbol('Events');
