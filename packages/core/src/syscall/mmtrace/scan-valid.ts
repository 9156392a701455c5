import { MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MREMAP_DONTUNMAP } from '../linux-abi.ts';
import type { TraceContext } from './parse.ts';
import type { ScannedOp } from './scan.ts';
import {
  F_ADDR,
  F_ADVICE,
  F_DATA,
  F_FLAGS,
  F_LEN,
  F_NEW_ADDR,
  F_NEW_LEN,
  F_OLD_LEN,
  F_PROT,
  OP_BRK,
  OP_EXIT,
  OP_FORK,
  OP_MADVISE,
  OP_MAPS,
  OP_MINCORE,
  OP_MLOCKALL,
  OP_MMAP,
  OP_MPROTECT,
  OP_MREMAP,
  OP_MUNLOCKALL,
  OP_READ,
  OP_RSS,
  OP_WRITE,
} from './scan-names.ts';

/*
 * What the JSON path checks of a line beyond its syntax, on a line the scanner read (either
 * way): required fields, loads and stores within a page and the window, mmap's flag rules.
 * A line failing one is left to the JSON path, which words the error.
 */

/**
 * Below this (2^52), a value the scanner read is what the JSON path's checks of loads,
 * stores and `mincore` take as a number: those lines with a larger address or length go to
 * the JSON path.
 */
const NARROW = 2 ** 52;
/** Past any user address on any Linux (as `parse.ts`). */
const USER_LIMIT_LA57 = 0x00fffffffffff000;

/** `parse.ts`'s checks for a scanned line's op: false where one fails or a field is missing. */
export function valid(
  s: ScannedOp,
  code: number,
  seen: number,
  nrSharingTypes: number,
  ctx: TraceContext,
): boolean {
  const page = ctx.pageSize;
  switch (code) {
    case OP_READ: {
      if (!has(seen, F_ADDR | F_LEN) || !(s.addr < NARROW && s.len < NARROW)) return false;
      const addr = s.addr as number;
      const len = s.len as number;
      if (len > page || (len > 0 && Math.floor(addr / page) !== Math.floor((addr + len - 1) / page)))
        return false;
      return inWindow(ctx, addr, len);
    }
    case OP_WRITE: {
      if (!has(seen, F_ADDR | F_DATA) || s.data === null || !(s.addr < NARROW)) return false;
      const addr = s.addr as number;
      const n = s.data.length;
      if (n > 0 && Math.floor(addr / page) !== Math.floor((addr + n - 1) / page)) return false;
      return inWindow(ctx, addr, n);
    }
    case OP_MAPS:
    case OP_FORK:
    case OP_EXIT:
    case OP_RSS:
    case OP_MUNLOCKALL:
    case OP_BRK:
      return true;
    case OP_MREMAP:
      return (
        has(seen, F_ADDR | F_OLD_LEN | F_NEW_LEN) && !(s.flags & MREMAP_DONTUNMAP && !has(seen, F_NEW_ADDR))
      );
    case OP_MMAP:
      // `checkMmapFlags` without a file: one sharing type, one fixed kind, `anonymous`.
      return (
        has(seen, F_ADDR | F_LEN | F_PROT | F_FLAGS) &&
        nrSharingTypes === 1 &&
        !(s.flags & MAP_FIXED && s.flags & MAP_FIXED_NOREPLACE) &&
        (s.flags & MAP_ANONYMOUS) !== 0
      );
    case OP_MPROTECT:
      return has(seen, F_ADDR | F_LEN | F_PROT);
    case OP_MADVISE:
      return has(seen, F_ADDR | F_LEN | F_ADVICE);
    case OP_MINCORE: {
      if (!has(seen, F_ADDR | F_LEN) || !(s.addr < NARROW && s.len < NARROW)) return false;
      const addr = s.addr as number;
      const len = s.len as number;
      const absurd = addr + len > USER_LIMIT_LA57;
      return !(addr % page === 0 && len > 0 && !absurd && !inWindow(ctx, addr, Math.ceil(len / page) * page));
    }
    case OP_MLOCKALL:
      return has(seen, F_FLAGS);
    default:
      // munmap, msync, munlock, mlock
      return has(seen, F_ADDR | F_LEN);
  }
}

/** Whether every field of `fields` is in `seen`. */
function has(seen: number, fields: number): boolean {
  return (seen & fields) === fields;
}

/**
 * The window of the last frozen context seen (`parseHeader` freezes its headers), as doubles
 * (`inWindow`): a frozen context's window cannot change, so the identity is the check. Any
 * other context's window is read at every call.
 */
let windowOf: TraceContext | null = null;
let windowLo = 0;
let windowHi = 0;

/**
 * Whether `[addr, addr + len)` lies in the window. Exact: `addr + len` is below 2^53, and a
 * window end rounded to a double stays on the same side of it.
 */
function inWindow(ctx: TraceContext, addr: number, len: number): boolean {
  if (ctx !== windowOf) {
    windowLo = Number(ctx.windowLo);
    windowHi = Number(ctx.windowHi);
    windowOf = Object.isFrozen(ctx) ? ctx : null;
  }
  return !(addr < windowLo || addr + len > windowHi);
}
