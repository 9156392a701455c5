import type { Vmar } from '../vmar/vmar.ts';
import { EINVAL, ENOMEM } from './errno.ts';
import { type LinuxAbi, MS_ASYNC, MS_INVALIDATE, MS_SYNC } from './linux-abi.ts';
import { isPageAligned, pageAlignUp, type U64, U64_WRAP, u64ToNumber } from './u64.ts';

/**
 * `msync` (Linux's): unknown flags, unaligned addr, or both MS_ASYNC and MS_SYNC give
 * `EINVAL`; an end that wraps gives `ENOMEM`; an empty range (also a length in the last
 * page below 2^64, which page-aligns to 0) succeeds; a hole in the range gives `ENOMEM`.
 * Anonymous memory has nothing to write back.
 */
export function sysMsync(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64, flags: number): number {
  const page = abi.pageSize;
  if ((flags & ~(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) !== 0) return -EINVAL;
  if (!isPageAligned(addr, page)) return -EINVAL;
  if (flags & MS_ASYNC && flags & MS_SYNC) return -EINVAL;
  const start = u64ToNumber(addr);
  const end = start + pageAlignUp(len, page);
  if (end >= U64_WRAP) return -ENOMEM;
  if (end === start) return 0;
  return vmar.isFullyMapped(start, end) ? 0 : -ENOMEM;
}
