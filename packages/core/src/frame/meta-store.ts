import { createStore } from '../ecs/layout.ts';
import type { ComponentSchema } from '../ecs/schema.ts';
import type { ComponentStore, LayoutFactory, StoreOptions } from '../ecs/store.ts';
import { REF_COUNT_UNUSED } from './ref-count.ts';

/**
 * Frame metadata, one entity per frame (the pfn is the entity index), as Asterinas's
 * `MetaSlot`: the reference count, the handle count (references held outside page tables,
 * mmkit's own bookkeeping so that `check()` can verify refcount = handles + PTEs) and the
 * frame type (standing for the `vtable_ptr` that types the metadata).
 *
 * The `aos` offsets are `MetaSlot`'s (`storage[40]` @0, `ref_count` @40, `vtable_ptr` @48,
 * `in_list` @56; see `arch-formats.md` §7): the count is the low half of the u64 field and
 * the handle count sits in its upper half, unused by the count's range.
 */
export const FRAME_FIELDS = {
  refCount: { kind: 'u32', initial: REF_COUNT_UNUSED, offset: 40 },
  handles: { kind: 'u32', offset: 44 },
  type: { kind: 'u8', offset: 48 },
} as const;

/**
 * Page-table node metadata, kept in the node frame's slot storage as OSTD's
 * `PageTablePageMeta` is (bytes 0..7 of the 64-byte slot): the node lock word (`i32`,
 * taken with `Atomics` on shared memory; see `page-table/lock.ts`), the number of valid
 * children, the level and the stray flag. Meaningful only while the frame's type is
 * `PageTable`.
 */
export const NODE_FIELDS = {
  lock: { kind: 'i32', atomic: true, offset: 0 },
  nrChildren: { kind: 'u16', offset: 4 },
  level: { kind: 'u8', offset: 6 },
  stray: { kind: 'bool', offset: 7 },
} as const;

/** Frames and page-table nodes share the pfn index, so both families live in one store. */
export const FRAME_META_SCHEMA = {
  name: 'frameMeta',
  slotBytes: 64,
  fields: { ...FRAME_FIELDS, ...NODE_FIELDS },
} as const satisfies ComponentSchema;

/**
 * The store of frame and node metadata, generated from `FRAME_META_SCHEMA` in the kernel's
 * layout: `refCount(pfn)` / `setRefCount(pfn, v)` and so on, and the lock word as
 * `lockArray[lockIndex(pfn)]`. All code above it (allocator, cursors, checks) is
 * layout-blind. Bytes per frame: `soa` 17, `aos` 64, `object` ~100 (heap, estimated).
 */
export type FrameMetaStore = ComponentStore<typeof FRAME_META_SCHEMA>;

/** Creates the metadata store of `nrFrames` frames in a layout (a name or a user's factory). */
export function createMetaStore(
  layout: string | LayoutFactory,
  nrFrames: number,
  options: StoreOptions = {},
): FrameMetaStore {
  return createStore(layout, FRAME_META_SCHEMA, nrFrames, options);
}
