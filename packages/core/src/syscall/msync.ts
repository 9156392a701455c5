import type { Vmar } from '../vmar/vmar.ts';
import { EINVAL, ENOMEM } from './errno.ts';
import { type LinuxAbi, MS_ASYNC, MS_INVALIDATE, MS_SYNC } from './linux-abi.ts';
import { isPageAligned, pageAlignUp, type U64, U64_WRAP, u64ToNumber } from './u64.ts';

/**
 * `msync` (Linux's): unknown flags, unaligned addr, or both MS_ASYNC and MS_SYNC give
 * `EINVAL`; an end that wraps gives `ENOMEM`; an empty range (also a length in the last
 * page below 2^64, which page-aligns to 0) succeeds; with `MS_SYNC`, every shared mapping
 * of a VMO that writes back (a file) writes its dirty pages in the range back; then a hole
 * in the range gives `ENOMEM`. Anonymous memory has nothing to write back.
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
  if (flags & MS_SYNC) {
    // Linux's `vfs_fsync_range` for every shared file mapping in the range, holes or not.
    for (const id of vmar.mappings.find(start, end)) {
      const m = vmar.view(id);
      if (!m.shared || m.vmo?.writeback === undefined) continue;
      const s = Math.max(start, m.start);
      m.vmo.writeback(m.vmoIndex(s), (Math.min(end, m.end) - s) / page);
    }
  }
  return vmar.isFullyMapped(start, end) ? 0 : -ENOMEM;
}
