/**
 * `@mmkit/core/internal`: what plugins that implement mechanisms need beyond the public
 * surface (`@mmkit/core`): node words and locks, cursor internals, PTE codecs, metadata
 * stores and the service tokens. These names may change with the core's internals.
 */

export * from './arch/index.ts';
export type { StoreOptions } from './ecs/store.ts';
export { fail } from './errors.ts';
export { checkSegmentRequest, type FrameAllocatorService } from './frame/allocator.ts';
export * from './index.ts';
export { isAligned } from './page-table/cursor.ts';
export { lockOwner, tryLockNode, unlockNode } from './page-table/lock.ts';
export { LOCK_GLOBAL, LOCK_HOH, LOCK_SUBTREE } from './page-table/lock-protocol.ts';
export { movePtes } from './page-table/move-ptes.ts';
export { allocNode, nodeBase, nodeWords, releaseNodeChildren } from './page-table/node.ts';
export { NodeReclaim } from './page-table/node-reclaim.ts';
export {
  plantedBugs,
  SWITCH_ALLOC,
  SWITCH_FREE,
  SWITCH_LOCK,
  SWITCH_POINT_NAMES,
  SWITCH_PTE_READ,
  SWITCH_PTE_WRITE,
  SWITCH_UNLOCK,
  type SwitchProbe,
  setSwitchProbe,
  switchPoint,
} from './page-table/switch-points.ts';
export { copyUntrackedPage, forEachMappingPair, LeafPass } from './process/fork-strategy.ts';
export * from './syscall/index.ts';
export * from './vmar/index.ts';
