import type { Vmar } from '../vmar/vmar.ts';
import { EINVAL } from './errno.ts';
import type { LinuxAbi } from './linux-abi.ts';
import { isPageAligned, pageAlignUp, type U64, u64ToNumber } from './u64.ts';

/** Linux's range check of `do_vmi_munmap` for an aligned `start`: 0, or `-EINVAL` past TASK_SIZE. */
export function munmapRangeError(abi: LinuxAbi, start: number, len: number): number {
  return start > abi.taskSize || len > abi.taskSize - start ? -EINVAL : 0;
}

/**
 * `munmap` (Linux's `do_vmi_munmap`): unaligned addr, addr > TASK_SIZE or len > TASK_SIZE -
 * addr (the raw length) give `EINVAL`, as does a length page-aligning to 0; then every
 * mapping in the range goes, holes being fine. Returns 0 or `-errno`.
 */
export function sysMunmap(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64): number {
  const page = abi.pageSize;
  const start = u64ToNumber(addr);
  if (!isPageAligned(addr, page) || munmapRangeError(abi, start, u64ToNumber(len)) < 0) return -EINVAL;
  const size = pageAlignUp(len, page);
  if (size === 0) return -EINVAL;
  vmar.unmap(start, size);
  return 0;
}
