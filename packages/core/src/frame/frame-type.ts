/**
 * The type of a frame's metadata, as Asterinas gives every frame a typed `FrameMeta`.
 * Stored in one byte per frame; `Free` is the type of a frame nobody holds.
 */
export const FrameType = {
  /** Not in use: the frame is in the allocator. */
  Free: 0,
  /** An untyped data frame (anonymous memory, copies). */
  Untyped: 1,
  /** A page-table node; its node metadata (level, children, stray, lock) is valid. */
  PageTable: 2,
  /** A frame holding the metadata slots of all frames (reserved at boot). */
  MetaPage: 3,
  /** A page of a file's page cache. */
  PageCache: 4,
  /** Memory the kernel keeps for itself (reserved at boot or by the user). */
  Kernel: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_TYPE_NAMES: readonly string[] = [
  'free',
  'untyped',
  'page-table',
  'meta-page',
  'page-cache',
  'kernel',
];
export const NR_FRAME_TYPES = FRAME_TYPE_NAMES.length;

/**
 * Whether a frame of `type` may be mapped as a tracked page of a user page table: data
 * frames and page-cache pages. Free frames, page-table nodes, metadata pages and the
 * kernel's own frames may not.
 */
export function isUserMappableType(type: number): boolean {
  return type === FrameType.Untyped || type === FrameType.PageCache;
}
