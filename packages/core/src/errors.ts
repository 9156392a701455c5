/**
 * Typed errors of the library. Every error mmkit throws on purpose is an `MmError` with a
 * `code` from `ErrorCode`; the syscall layer maps codes to Linux errno names.
 */
export const ErrorCode = {
  /** A cursor range is empty, reversed or outside the page table's half. */
  InvalidVaddrRange: 'InvalidVaddrRange',
  /** An address or length is not aligned to the base page size. */
  UnalignedVaddr: 'UnalignedVaddr',
  /** An address lies outside the cursor's locked range. */
  InvalidVaddr: 'InvalidVaddr',
  /** `protect` met an absent entry and was not allowed to skip it. */
  ProtectingInvalid: 'ProtectingInvalid',
  /** `protect` covered part of a tracked huge page. */
  ProtectingPartial: 'ProtectingPartial',
  /** Mapping over a slot that is already mapped. */
  AlreadyMapped: 'AlreadyMapped',
  /** A node a cursor needs is locked by another live cursor. */
  CursorBusy: 'CursorBusy',
  /** A PTE was written without holding the node's lock (debug mode). */
  LockNotHeld: 'LockNotHeld',
  /** The frame allocator has no (contiguous, aligned) free frames left. */
  OutOfFrames: 'OutOfFrames',
  /** A reference count would cross its ceiling. */
  RefCountOverflow: 'RefCountOverflow',
  /** A frame was used in a state that does not allow it (e.g. freed twice). */
  BadFrameState: 'BadFrameState',
  /** A configuration value is invalid. */
  InvalidConfig: 'InvalidConfig',
  /** An argument is invalid. */
  InvalidArgument: 'InvalidArgument',
  /** A fixed mapping or an in-place growth would overlap an existing mapping. */
  RangeOccupied: 'RangeOccupied',
  /** No free region of the address space is large enough. */
  NoFreeRegion: 'NoFreeRegion',
  /** The total mapped size would exceed the address-space limit (RLIMIT_AS). */
  AddressSpaceLimit: 'AddressSpaceLimit',
  /** No mapping where one is required (or the range is not inside one mapping). */
  NotMapped: 'NotMapped',
  /** Requested permissions exceed a mapping's may-permissions. */
  PermissionDenied: 'PermissionDenied',
  /** A trace (mmtrace) line is malformed or asks for something the engine cannot do. */
  MalformedTrace: 'MalformedTrace',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * An error of the library, typed by `code`.
 *
 * A `CursorBusy` captures no stack trace: it is not a fault but the normal way a cursor
 * learns that another one holds a node, and a caller under contention throws, catches and
 * retries it millions of times a second, where capturing the stack was most of the cost of
 * a retry. Its `stack` is the name and message alone; every other code keeps its trace.
 */
export class MmError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    const limit = Error.stackTraceLimit;
    if (code === ErrorCode.CursorBusy) Error.stackTraceLimit = 0;
    super(`${code}: ${message}`);
    Error.stackTraceLimit = limit;
    this.name = 'MmError';
    this.code = code;
  }
}

/** Throws an `MmError`; handy in expressions. */
export function fail(code: ErrorCode, message: string): never {
  throw new MmError(code, message);
}

/**
 * Renders an address for an error message: `0x…` for a non-negative whole number, the
 * value itself otherwise (so a bad argument reads `NaN` or `-4096`, never `0xNaN`).
 */
export function formatAddr(va: number): string {
  return Number.isSafeInteger(va) && va >= 0 ? `0x${va.toString(16)}` : String(va);
}
