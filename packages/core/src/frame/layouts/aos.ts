import type { FrameMetaStore, MetaStoreOptions } from '../meta-store.ts';
import { REF_COUNT_UNUSED } from '../ref-count.ts';

/** Bytes per metadata slot, as Asterinas's `META_SLOT_SIZE`. */
export const AOS_SLOT_BYTES = 64;
const SLOT_WORDS = AOS_SLOT_BYTES / 4;

/**
 * Field offsets inside a 64-byte slot, following Asterinas's `#[repr(C)] MetaSlot`
 * (`storage[40]` @0, `ref_count` @40, `vtable_ptr` @48, `in_list` @56; see
 * `arch-formats.md` §7). The page-table node metadata lives in the slot's storage, as
 * OSTD's `PageTablePageMeta` does:
 *
 * | bytes | field |
 * |---|---|
 * | 0..3 | node lock word (`Int32`, taken with `Atomics`) |
 * | 4..5 | node `nrChildren` (u16) |
 * | 6 | node `level` (u8) |
 * | 7 | node `stray` (u8) |
 * | 8..39 | rest of the storage (unused) |
 * | 40..43 | reference count (u32; the upper half of the u64 field is padding) |
 * | 44..47 | handle count (u32, mmkit's own bookkeeping, in the ref count's padding) |
 * | 48 | frame type (u8: stands for the `vtable_ptr` that types the metadata) |
 * | 49..63 | unused (`vtable_ptr` rest, `in_list`) |
 */
export const AOS_OFFSETS = {
  lock: 0,
  nrChildren: 4,
  level: 6,
  stray: 7,
  refCount: 40,
  handles: 44,
  type: 48,
} as const;

const LOCK_W = AOS_OFFSETS.lock / 4;
const CHILDREN_H = AOS_OFFSETS.nrChildren / 2;
const LEVEL_B = AOS_OFFSETS.level;
const STRAY_B = AOS_OFFSETS.stray;
const REF_W = AOS_OFFSETS.refCount / 4;
const HANDLES_W = AOS_OFFSETS.handles / 4;
const TYPE_B = AOS_OFFSETS.type;

/**
 * Array-of-structs layout: one 64-byte slot per frame in one (Shared)ArrayBuffer, the way
 * Asterinas lays out `MetaSlot`s in its metadata pages. All views share the buffer; the
 * lock array is the whole buffer seen as `Int32`s, and a frame's lock word is at index
 * `pfn * 16`.
 */
export class AosMetaStore implements FrameMetaStore {
  readonly layout = 'aos';
  readonly bytesPerFrame = AOS_SLOT_BYTES;
  private readonly u32: Uint32Array;
  private readonly u16: Uint16Array;
  private readonly u8: Uint8Array;
  readonly lockArray: Int32Array;

  constructor(
    readonly nrFrames: number,
    options: MetaStoreOptions = {},
  ) {
    const bytes = nrFrames * AOS_SLOT_BYTES;
    const buf = options.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
    this.u32 = new Uint32Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u8 = new Uint8Array(buf);
    this.lockArray = new Int32Array(buf);
    // Every slot starts unused, as Asterinas fills the metadata pages at boot.
    const u32 = this.u32;
    for (let i = REF_W; i < u32.length; i += SLOT_WORDS) u32[i] = REF_COUNT_UNUSED;
  }

  refCount(pfn: number): number {
    return this.u32[pfn * SLOT_WORDS + REF_W];
  }
  setRefCount(pfn: number, value: number): void {
    this.u32[pfn * SLOT_WORDS + REF_W] = value;
  }
  handles(pfn: number): number {
    return this.u32[pfn * SLOT_WORDS + HANDLES_W];
  }
  setHandles(pfn: number, value: number): void {
    this.u32[pfn * SLOT_WORDS + HANDLES_W] = value;
  }
  type(pfn: number): number {
    return this.u8[pfn * AOS_SLOT_BYTES + TYPE_B];
  }
  setType(pfn: number, value: number): void {
    this.u8[pfn * AOS_SLOT_BYTES + TYPE_B] = value;
  }
  level(pfn: number): number {
    return this.u8[pfn * AOS_SLOT_BYTES + LEVEL_B];
  }
  setLevel(pfn: number, value: number): void {
    this.u8[pfn * AOS_SLOT_BYTES + LEVEL_B] = value;
  }
  nrChildren(pfn: number): number {
    return this.u16[pfn * (AOS_SLOT_BYTES / 2) + CHILDREN_H];
  }
  setNrChildren(pfn: number, value: number): void {
    this.u16[pfn * (AOS_SLOT_BYTES / 2) + CHILDREN_H] = value;
  }
  stray(pfn: number): boolean {
    return this.u8[pfn * AOS_SLOT_BYTES + STRAY_B] !== 0;
  }
  setStray(pfn: number, value: boolean): void {
    this.u8[pfn * AOS_SLOT_BYTES + STRAY_B] = value ? 1 : 0;
  }
  lockIndex(pfn: number): number {
    return pfn * SLOT_WORDS + LOCK_W;
  }
}
