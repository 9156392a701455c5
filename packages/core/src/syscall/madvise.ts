import type { Vmar } from '../vmar/vmar.ts';
import { EINVAL, ENOMEM } from './errno.ts';
import { type LinuxAbi, MADV_DONTNEED } from './linux-abi.ts';
import { isPageAligned, pageAlignUp, type U64, U64_WRAP, u64ToNumber } from './u64.ts';

/**
 * `madvise(MADV_DONTNEED)` (Linux's `do_madvise`): other advice is not modelled (`EINVAL`);
 * unaligned addr, a non-zero len that page-aligns to 0, or an end that wraps give `EINVAL`;
 * an empty range succeeds; then the pages of every mapping in the range are dropped, and
 * a hole anywhere in it gives `ENOMEM` afterwards.
 */
export function sysMadvise(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64, advice: number): number {
  const page = abi.pageSize;
  if (advice !== MADV_DONTNEED) return -EINVAL;
  if (!isPageAligned(addr, page)) return -EINVAL;
  const size = pageAlignUp(len, page);
  if (u64ToNumber(len) !== 0 && size === 0) return -EINVAL;
  const start = u64ToNumber(addr);
  const end = start + size;
  if (end >= U64_WRAP) return -EINVAL;
  if (end === start) return 0;
  const complete = vmar.isFullyMapped(start, end);
  vmar.discard(start, size);
  return complete ? 0 : -ENOMEM;
}
