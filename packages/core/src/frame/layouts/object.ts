import type { FrameMetaStore, MetaStoreOptions } from '../meta-store.ts';
import { REF_COUNT_UNUSED } from '../ref-count.ts';

/** The metadata of one frame as most JavaScript would hold it: a plain object. */
export interface FrameMetaObject {
  refCount: number;
  handles: number;
  type: number;
  level: number;
  nrChildren: number;
  stray: boolean;
}

/**
 * Heap bytes one `FrameMetaObject` and its array slot take on Node 20 (x64, no pointer
 * compression), measured by `mmkit bench --workload memory` (heap used after a forced GC,
 * divided by the number of frames, 99.8 for 2^18 frames): a 3-word header, 6 in-object
 * fields of 8 bytes, 8 bytes of array element, and a 16-byte heap number, because
 * `REF_COUNT_UNUSED` (2^32 - 1) is not a small integer, so V8 gives `refCount` a double
 * representation and boxes it.
 */
export const OBJECT_HEAP_BYTES_PER_FRAME = 100;

/**
 * Object layout: one plain JavaScript object per frame, created eagerly at boot in one
 * array (measured: creating them lazily on first allocation made every access check for
 * `undefined`, and a holey array, for no saving once memory is in use).
 *
 * The node lock word cannot live in a plain object and still be taken with `Atomics`, so
 * it stays in an `Int32Array` beside the objects (4 bytes per frame, counted in
 * `bytesPerFrame`). Objects cannot be shared between worker threads: `shared` puts only
 * the lock words on a `SharedArrayBuffer`.
 */
export class ObjectMetaStore implements FrameMetaStore {
  readonly layout = 'object';
  readonly bytesPerFrame = OBJECT_HEAP_BYTES_PER_FRAME + 4;
  readonly slots: FrameMetaObject[];
  readonly lockArray: Int32Array;

  constructor(
    readonly nrFrames: number,
    options: MetaStoreOptions = {},
  ) {
    const slots: FrameMetaObject[] = [];
    for (let i = 0; i < nrFrames; i++) {
      slots.push({ refCount: REF_COUNT_UNUSED, handles: 0, type: 0, level: 0, nrChildren: 0, stray: false });
    }
    this.slots = slots;
    this.lockArray = new Int32Array(
      options.shared ? new SharedArrayBuffer(nrFrames * 4) : new ArrayBuffer(nrFrames * 4),
    );
  }

  refCount(pfn: number): number {
    return this.slots[pfn].refCount;
  }
  setRefCount(pfn: number, value: number): void {
    this.slots[pfn].refCount = value;
  }
  handles(pfn: number): number {
    return this.slots[pfn].handles;
  }
  setHandles(pfn: number, value: number): void {
    this.slots[pfn].handles = value;
  }
  type(pfn: number): number {
    return this.slots[pfn].type;
  }
  setType(pfn: number, value: number): void {
    this.slots[pfn].type = value;
  }
  level(pfn: number): number {
    return this.slots[pfn].level;
  }
  setLevel(pfn: number, value: number): void {
    this.slots[pfn].level = value;
  }
  nrChildren(pfn: number): number {
    return this.slots[pfn].nrChildren;
  }
  setNrChildren(pfn: number, value: number): void {
    this.slots[pfn].nrChildren = value;
  }
  stray(pfn: number): boolean {
    return this.slots[pfn].stray;
  }
  setStray(pfn: number, value: boolean): void {
    this.slots[pfn].stray = value;
  }
  lockIndex(pfn: number): number {
    return pfn;
  }
}
