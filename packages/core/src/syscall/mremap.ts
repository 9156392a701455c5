import { VMA_LOCKED } from '../vmar/vm-mapping.ts';
import type { Vmar } from '../vmar/vmar.ts';
import { EFAULT, EINVAL, ENOMEM, EPERM } from './errno.ts';
import { type LinuxAbi, MREMAP_DONTUNMAP, MREMAP_FIXED, MREMAP_MAYMOVE } from './linux-abi.ts';
import { type ErrnoMap, errnoOf } from './mm-error-errno.ts';
import { munmapRangeError } from './munmap.ts';
import { populateRange } from './populate.ts';
import { isPageAligned, pageAlignUp, type U64, u64ToNumber } from './u64.ts';

const MOVE_ERRNOS: ErrnoMap = { NotMapped: EFAULT, AddressSpaceLimit: ENOMEM, NoFreeRegion: ENOMEM };
const GROW_ERRNOS: ErrnoMap = { RangeOccupied: ENOMEM, AddressSpaceLimit: ENOMEM };

/**
 * `mremap` with Linux 6.18's semantics (`mm/mremap.c`). Checks, in order:
 * unknown flags, unaligned addr, new_len page-aligning to 0, new_len > TASK_SIZE, and with
 * `MREMAP_FIXED` or `MREMAP_DONTUNMAP`: new_addr + new_len > TASK_SIZE, unaligned new_addr,
 * no `MREMAP_MAYMOVE`, (`DONTUNMAP`) old_len ≠ new_len, overlapping ranges (all `EINVAL`).
 *
 * `MREMAP_DONTUNMAP` moves the pages and leaves the source mapped, empty and unlocked
 * (`Vmar.remap` with `keepSource`): with `FIXED` as the multi-mapping move below, else
 * new_addr is a hint and the range must lie in one mapping (`EFAULT`).
 *
 * A same-size `MAYMOVE|FIXED` call moves every mapping in `[addr, addr + old_len)` (Linux
 * ≥ 6.17): each piece lands at the same offset from new_addr, destination pages facing
 * source holes are left alone; a range starting in a hole is `EFAULT`.
 *
 * Otherwise: no mapping at addr (`EFAULT`); when growing or moving: old_len 0 on a private
 * mapping (`EINVAL`), the range (for a shrink, the kept prefix) not inside the mapping
 * (`EFAULT`), a size change beyond the address-space limit (`ENOMEM`). Then with `FIXED`
 * the destination is unmapped, the source looked up again (`EFAULT` if that unmap removed
 * it), shrunk and moved (old_len 0 duplicates a shared mapping); a destination below
 * `mmap_min_addr` is `EPERM` at that point. Without it: same size
 * returns addr, a shrink unmaps the tail (which may cross holes and other mappings; a tail
 * past TASK_SIZE fails munmap's check with `EINVAL`, after the destination unmap), a
 * growth extends in place when the range ends its mapping and the pages after it are free
 * and below TASK_SIZE, else moves where the VMAR chooses with `MAYMOVE`, else `ENOMEM`.
 * A locked mapping that grew has its new pages populated (`populateRange`).
 */
export function sysMremap(
  vmar: Vmar,
  abi: LinuxAbi,
  addr: U64,
  oldLen: U64,
  newLen: U64,
  flags: number,
  newAddr: U64,
): number {
  const ret = mremapUnpopulated(vmar, abi, addr, oldLen, newLen, flags, newAddr);
  if (ret < 0) return ret;
  const page = abi.pageSize;
  const oldSize = pageAlignUp(oldLen, page);
  const newSize = pageAlignUp(newLen, page);
  const m = vmar.findMapping(ret);
  if (newSize > oldSize && m >= 0 && (vmar.maps.flags(m) & VMA_LOCKED) !== 0)
    populateRange(vmar, ret + oldSize, ret + newSize, false);
  return ret;
}

/** `sysMremap` but for the population of a locked mapping's growth. */
function mremapUnpopulated(
  vmar: Vmar,
  abi: LinuxAbi,
  addr: U64,
  oldLen: U64,
  newLen: U64,
  flags: number,
  newAddr: U64,
): number {
  const page = abi.pageSize;
  if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) !== 0) return -EINVAL;
  if (!isPageAligned(addr, page)) return -EINVAL;
  const oldSize = pageAlignUp(oldLen, page);
  const newSize = pageAlignUp(newLen, page);
  if (newSize === 0 || newSize > abi.taskSize) return -EINVAL;
  const fixed = (flags & MREMAP_FIXED) !== 0;
  const dontUnmap = (flags & MREMAP_DONTUNMAP) !== 0;
  const start = u64ToNumber(addr);
  let dst = 0;
  if (fixed || dontUnmap) {
    dst = u64ToNumber(newAddr);
    if (dst > abi.taskSize - newSize || !isPageAligned(newAddr, page)) return -EINVAL;
    if ((flags & MREMAP_MAYMOVE) === 0) return -EINVAL;
    if (dontUnmap && oldSize !== newSize) return -EINVAL;
    if (start + oldSize > dst && dst + newSize > start) return -EINVAL;
    if (fixed && oldSize === newSize) return moveAll(vmar, abi, start, oldSize, dst, dontUnmap);
  }
  if (dontUnmap) return moveKeepingSource(vmar, abi, start, oldSize, dst);

  const m = vmar.findMapping(start);
  if (m < 0) return -EFAULT;
  const grows = newSize > oldSize;
  if (grows || fixed) {
    if (oldSize === 0 && !vmar.maps.shared(m)) return -EINVAL;
    if ((grows ? oldSize : newSize) > vmar.maps.end(m) - start) return -EFAULT;
    if (newSize !== oldSize && !vmar.fitsLimit(Math.abs(newSize - oldSize))) return -ENOMEM;
  }
  // A shrink unmaps the tail with munmap's own range check, which an absurd old_len fails.
  const tailError = newSize < oldSize ? munmapRangeError(abi, start + newSize, oldSize - newSize) : 0;
  if (fixed) {
    if (tailError < 0 || dst < abi.mmapMinAddr) {
      // Linux finds these after unmapping the destination (and shrinking the source).
      vmar.unmap(dst, newSize);
      if (vmar.findMapping(start) < 0) return -EFAULT;
      if (tailError < 0) return tailError;
      if (newSize < oldSize) vmar.unmap(start + newSize, oldSize - newSize);
      return -EPERM;
    }
    try {
      return vmar.remap(start, oldSize, dst, newSize);
    } catch (e) {
      return errnoOf(e, MOVE_ERRNOS);
    }
  }
  if (!grows) {
    if (tailError < 0) return tailError;
    if (newSize < oldSize) vmar.unmap(start + newSize, oldSize - newSize);
    return start;
  }
  if (vmar.canGrowInPlace(start, oldSize, newSize) && growInPlace(vmar, start, oldSize, newSize))
    return start;
  if ((flags & MREMAP_MAYMOVE) === 0) return -ENOMEM;
  try {
    return vmar.remap(start, oldSize, null, newSize);
  } catch (e) {
    return errnoOf(e, MOVE_ERRNOS);
  }
}

/** `Vmar.resize` of a growth the VMAR allows where it is; false where it failed (`ENOMEM`'s errors). */
function growInPlace(vmar: Vmar, start: number, oldSize: number, newSize: number): boolean {
  try {
    vmar.resize(start, oldSize, newSize);
    return true;
  } catch (e) {
    errnoOf(e, GROW_ERRNOS);
    return false;
  }
}

/**
 * The same-size fixed move of Linux ≥ 6.17 (`remap_move`): every mapping piece of
 * `[start, start + size)` moves to the same offset from `dst`, one by one.
 */
function moveAll(
  vmar: Vmar,
  abi: LinuxAbi,
  start: number,
  size: number,
  dst: number,
  keepSource: boolean,
): number {
  const end = start + size;
  const maps = vmar.maps;
  const ids = vmar.mappings.find(start, end);
  if (ids.length === 0 || maps.start(ids[0]) > start) return -EFAULT;
  if (dst < abi.mmapMinAddr) {
    vmar.unmap(dst, Math.min(maps.end(ids[0]), end) - start);
    return -EPERM;
  }
  // The pieces' bounds, all read before the first move: a moved piece may merge with a
  // mapping next to its destination (and that mapping's id go), but addresses stay.
  const bounds: number[] = [];
  for (const m of ids) bounds.push(Math.max(maps.start(m), start), Math.min(maps.end(m), end));
  for (let i = 0; i < bounds.length; i += 2) {
    const s = bounds[i];
    const e = bounds[i + 1];
    vmar.remap(s, e - s, dst + (s - start), e - s, keepSource);
  }
  return dst;
}

/**
 * `MREMAP_DONTUNMAP` without `MREMAP_FIXED`: `[start, start + size)` must lie in one mapping
 * (`EFAULT`); new_addr is a hint, used when the range there is free, else the VMAR chooses.
 */
function moveKeepingSource(vmar: Vmar, abi: LinuxAbi, start: number, size: number, hint: number): number {
  const m = vmar.findMapping(start);
  if (m < 0 || start + size > vmar.maps.end(m)) return -EFAULT;
  const free = hint >= abi.mmapMinAddr && !vmar.mappings.intersects(hint, hint + size);
  try {
    return vmar.remap(start, size, free ? hint : null, size, true);
  } catch (e) {
    return errnoOf(e, MOVE_ERRNOS);
  }
}
