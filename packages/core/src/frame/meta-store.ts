import { MmError } from '../errors.ts';
import { AosMetaStore } from './layouts/aos.ts';
import { ObjectMetaStore } from './layouts/object.ts';
import { REF_COUNT_UNUSED } from './ref-count.ts';

/**
 * The one narrow interface behind which frame and page-table-node metadata is stored.
 * Every layout (`soa`, and the layouts added for benchmarks) implements it, and all code
 * above it (allocator, cursors, checks) runs unchanged on each.
 *
 * Columns per frame: reference count, handle count (references held outside page tables),
 * frame type, and node metadata (level, number of valid children, stray flag, lock word).
 * Node fields are meaningful only while the frame's type is `PageTable`.
 *
 * The lock word is an `Int32Array` element taken with `Atomics` (see `page-table/lock.ts`):
 * `lockArray[lockIndex(pfn)]`.
 */
export interface FrameMetaStore {
  readonly layout: string;
  readonly nrFrames: number;
  /** Bytes of metadata storage per frame. */
  readonly bytesPerFrame: number;
  refCount(pfn: number): number;
  setRefCount(pfn: number, value: number): void;
  handles(pfn: number): number;
  setHandles(pfn: number, value: number): void;
  type(pfn: number): number;
  setType(pfn: number, value: number): void;
  level(pfn: number): number;
  setLevel(pfn: number, value: number): void;
  nrChildren(pfn: number): number;
  setNrChildren(pfn: number, value: number): void;
  stray(pfn: number): boolean;
  setStray(pfn: number, value: boolean): void;
  readonly lockArray: Int32Array;
  lockIndex(pfn: number): number;
}

/** Options common to every layout. */
export interface MetaStoreOptions {
  /** Put the columns on a `SharedArrayBuffer` (for worker threads). */
  shared?: boolean;
}

function buffer(bytes: number, shared: boolean): ArrayBufferLike {
  return shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}

/**
 * Struct-of-arrays layout: one typed array per field, indexed by frame number.
 * 17 bytes per frame (measured: `arrayBuffers` grows by 17 bytes per frame).
 */
export class SoaMetaStore implements FrameMetaStore {
  readonly layout = 'soa';
  readonly bytesPerFrame = 4 + 4 + 1 + 1 + 2 + 1 + 4;
  private readonly refCounts: Uint32Array;
  private readonly handleCounts: Uint32Array;
  private readonly types: Uint8Array;
  private readonly levels: Uint8Array;
  private readonly children: Uint16Array;
  private readonly strays: Uint8Array;
  readonly lockArray: Int32Array;

  constructor(
    readonly nrFrames: number,
    options: MetaStoreOptions = {},
  ) {
    const shared = options.shared ?? false;
    this.refCounts = new Uint32Array(buffer(nrFrames * 4, shared)).fill(REF_COUNT_UNUSED);
    this.handleCounts = new Uint32Array(buffer(nrFrames * 4, shared));
    this.types = new Uint8Array(buffer(nrFrames, shared));
    this.levels = new Uint8Array(buffer(nrFrames, shared));
    this.children = new Uint16Array(buffer(nrFrames * 2, shared));
    this.strays = new Uint8Array(buffer(nrFrames, shared));
    this.lockArray = new Int32Array(buffer(nrFrames * 4, shared));
  }

  refCount(pfn: number): number {
    return this.refCounts[pfn];
  }
  setRefCount(pfn: number, value: number): void {
    this.refCounts[pfn] = value;
  }
  handles(pfn: number): number {
    return this.handleCounts[pfn];
  }
  setHandles(pfn: number, value: number): void {
    this.handleCounts[pfn] = value;
  }
  type(pfn: number): number {
    return this.types[pfn];
  }
  setType(pfn: number, value: number): void {
    this.types[pfn] = value;
  }
  level(pfn: number): number {
    return this.levels[pfn];
  }
  setLevel(pfn: number, value: number): void {
    this.levels[pfn] = value;
  }
  nrChildren(pfn: number): number {
    return this.children[pfn];
  }
  setNrChildren(pfn: number, value: number): void {
    this.children[pfn] = value;
  }
  stray(pfn: number): boolean {
    return this.strays[pfn] !== 0;
  }
  setStray(pfn: number, value: boolean): void {
    this.strays[pfn] = value ? 1 : 0;
  }
  lockIndex(pfn: number): number {
    return pfn;
  }
}

export type LayoutName = 'soa' | 'aos' | 'object';
/** Every layout: `soa` (the default), `aos` (64-byte slots), `object` (one object per frame). */
export const LAYOUT_NAMES: readonly LayoutName[] = ['soa', 'aos', 'object'];

/** Creates the metadata store of a layout. */
export function createMetaStore(
  layout: string,
  nrFrames: number,
  options: MetaStoreOptions = {},
): FrameMetaStore {
  switch (layout) {
    case 'soa':
      return new SoaMetaStore(nrFrames, options);
    case 'aos':
      return new AosMetaStore(nrFrames, options);
    case 'object':
      return new ObjectMetaStore(nrFrames, options);
    default:
      throw new MmError('InvalidConfig', `unknown layout '${layout}' (known: ${LAYOUT_NAMES.join(', ')})`);
  }
}

export { AOS_OFFSETS, AOS_SLOT_BYTES, AosMetaStore } from './layouts/aos.ts';
export { OBJECT_HEAP_BYTES_PER_FRAME, ObjectMetaStore } from './layouts/object.ts';
