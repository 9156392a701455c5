import { VMA_LOCK_MASK, VMA_LOCKED, VMA_LOCKONFAULT } from '../vmar/vm-mapping.ts';
import type { Vmar } from '../vmar/vmar.ts';
import { EINVAL, ENOMEM } from './errno.ts';
import { type LinuxAbi, MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT } from './linux-abi.ts';
import { populateRange } from './populate.ts';
import type { U64 } from './u64.ts';

const MASK_64 = (1n << 64n) - 1n;

/**
 * Linux's `apply_vma_lock_flags` over the byte range `[addr, addr + len)` (any alignment;
 * not a hot path, so exact 64-bit arithmetic in bigints): the start rounds down to a page,
 * the length (plus that offset) up, modulo 2^64. An end that wraps is `EINVAL`, an empty
 * range succeeds; a start in a hole is `ENOMEM` with no change; otherwise every mapping from
 * the start gets `flags` as its lock flags until the first hole (`ENOMEM`, the mappings
 * before it changed). Returns `[result, start, end]`.
 */
function applyLockFlags(
  vmar: Vmar,
  abi: LinuxAbi,
  addr: U64,
  len: U64,
  flags: number,
): [number, number, number] {
  const page = BigInt(abi.pageSize);
  const a = BigInt(addr) & MASK_64;
  const startBig = a & ~(page - 1n);
  const lenBig = ((BigInt(len) & MASK_64) + (a - startBig) + page - 1n) & ~(page - 1n) & MASK_64;
  const endBig = startBig + lenBig;
  if (endBig > MASK_64) return [-EINVAL, 0, 0];
  if (lenBig === 0n) return [0, 0, 0];
  const start = Number(startBig);
  const end = Number(endBig);
  if (vmar.findMapping(start) < 0) return [-ENOMEM, start, end];
  const mappedEnd = vmar.mappedPrefixEnd(start, end);
  vmar.setFlags(start, mappedEnd, flags, VMA_LOCK_MASK & ~flags);
  return [mappedEnd < end ? -ENOMEM : 0, start, end];
}

/**
 * `mlock` / `mlock2(MLOCK_ONFAULT)`: locks the range (`applyLockFlags`), then, unless on
 * fault, populates it (`populateRange`), stopping at the first page that cannot be faulted
 * in (a `---` mapping, a page past a file's end): `ENOMEM`.
 */
export function sysMlock(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64, onFault: boolean): number {
  const [ret, start, end] = applyLockFlags(
    vmar,
    abi,
    addr,
    len,
    VMA_LOCKED | (onFault ? VMA_LOCKONFAULT : 0),
  );
  if (ret < 0 || start === end || onFault) return ret;
  return populateRange(vmar, start, end, true) ? 0 : -ENOMEM;
}

/** `munlock`: clears both lock flags over the range, with `mlock`'s checks; never populates. */
export function sysMunlock(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64): number {
  return applyLockFlags(vmar, abi, addr, len, 0)[0];
}

/**
 * `mlockall` (Linux's `apply_mlockall_flags`): `EINVAL` for no flag, unknown flags or
 * `MCL_ONFAULT` alone. The future-lock state (`defFlags`) is reset, then set by
 * `MCL_FUTURE` (with lock-on-fault by `MCL_ONFAULT`); `MCL_CURRENT` locks every mapping
 * (lock-on-fault iff `MCL_ONFAULT`) and populates them all, failures skipped.
 */
export function sysMlockall(vmar: Vmar, flags: number): number {
  if (flags === 0 || (flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) !== 0 || flags === MCL_ONFAULT)
    return -EINVAL;
  const onFault = flags & MCL_ONFAULT ? VMA_LOCKONFAULT : 0;
  vmar.defFlags &= ~VMA_LOCK_MASK;
  if (flags & MCL_FUTURE) vmar.defFlags |= VMA_LOCKED | onFault;
  if ((flags & MCL_CURRENT) === 0) return 0;
  vmar.setFlags(vmar.lowest, vmar.cap, VMA_LOCKED | onFault, VMA_LOCK_MASK);
  populateRange(vmar, vmar.lowest, vmar.cap, false);
  return 0;
}

/** `munlockall`: every mapping unlocked, the future-lock state cleared. */
export function sysMunlockall(vmar: Vmar): number {
  vmar.defFlags &= ~VMA_LOCK_MASK;
  vmar.setFlags(vmar.lowest, vmar.cap, 0, VMA_LOCK_MASK);
  return 0;
}
