import { VM_EXEC, VM_READ, VM_WRITE } from '../vmar/vm-perms.ts';
import type { Vmar } from '../vmar/vmar.ts';
import type { Vmo } from '../vmar/vmo.ts';
import { EBADF, EEXIST, EINVAL, ENOMEM, EOVERFLOW, EPERM } from './errno.ts';
import {
  type LinuxAbi,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_TYPE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from './linux-abi.ts';
import { withErrno } from './mm-error-errno.ts';
import { isPageAligned, pageAlignDown, pageAlignUp, type U64, u64ToNumber } from './u64.ts';

/** The VMAR rights of a `PROT_*` value (bits other than R/W/X are ignored, as by `calc_vm_prot_bits`). */
export function protToPerms(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/** Linux's `MAX_LFS_FILESIZE` on 64-bit: file offsets and ends stay below it. */
const MAX_LFS_FILESIZE = (1n << 63n) - 1n;

/**
 * `mmap` with Linux 6.18's checks, in its order:
 * offset alignment (`EINVAL`); a mapping without `MAP_ANONYMOUS` needs a file (`file`, a
 * VMO from the page-cache plugin; `EBADF` without one); len 0 (`EINVAL`); len
 * page-aligning to 0 (`ENOMEM`); len > TASK_SIZE (`ENOMEM`);
 * for `MAP_FIXED`/`MAP_FIXED_NOREPLACE`: addr + len > TASK_SIZE (`ENOMEM`), unaligned addr
 * (`EINVAL`), addr below `mmap_min_addr` (`EPERM`), then overlap for NOREPLACE (`EEXIST`);
 * the mapping type must be exactly shared or private (`EINVAL`); the address-space limit
 * (`ENOMEM`); a file range reaching `MAX_LFS_FILESIZE` (`EOVERFLOW`; also, an engine limit,
 * offsets past 2^53). A hint (no fixed flag) is rounded down to a page (raised to
 * `mmap_min_addr`) and used when the range is free; otherwise the VMAR chooses. File
 * mappings fault around, as Asterinas's. Returns the address or `-errno`. (`pgoff +
 * pages` cannot overflow for offsets below 2^64, so `EOVERFLOW` is only a file mapping's.)
 */
export function sysMmap(
  vmar: Vmar,
  abi: LinuxAbi,
  addr: U64,
  len: U64,
  prot: number,
  flags: number,
  offset: U64,
  file: Vmo | null = null,
): number {
  const page = abi.pageSize;
  if (!isPageAligned(offset, page)) return -EINVAL;
  const anonymous = (flags & MAP_ANONYMOUS) !== 0;
  if (!anonymous && file === null) return -EBADF;
  if (u64ToNumber(len) === 0) return -EINVAL;
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  const size = pageAlignUp(len, page);
  if (size === 0) return -ENOMEM;
  if (size > abi.taskSize) return -ENOMEM;
  let at: number;
  if (fixed) {
    at = u64ToNumber(addr);
    if (at > abi.taskSize - size) return -ENOMEM;
    if (!isPageAligned(addr, page)) return -EINVAL;
    if (at < abi.mmapMinAddr) return -EPERM;
    if (flags & MAP_FIXED_NOREPLACE && vmar.mappings.intersects(at, at + size)) return -EEXIST;
  } else {
    at = pageAlignDown(addr, page);
    if (at !== 0 && at < abi.mmapMinAddr) at = abi.mmapMinAddr;
  }
  const vmo = anonymous ? null : file;
  if (vmo !== null) {
    const off = BigInt(offset);
    if (off >= MAX_LFS_FILESIZE || MAX_LFS_FILESIZE - off < BigInt(size)) return -EOVERFLOW;
    if (off > BigInt(Number.MAX_SAFE_INTEGER - size)) return -EOVERFLOW;
  }
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) return -EINVAL;
  let result = 0;
  const ret = withErrno(0, { AddressSpaceLimit: ENOMEM, NoFreeRegion: ENOMEM }, () => {
    result = vmar.map({
      size,
      perms: protToPerms(prot),
      placement: fixed ? 'fixed' : at === 0 || at > abi.taskSize - size ? 'any' : 'hint',
      addr: at,
      shared: type === MAP_SHARED,
      ...(vmo === null ? {} : { vmo, vmoOffset: u64ToNumber(offset), faultsAround: true }),
    });
  });
  return ret < 0 ? ret : result;
}
