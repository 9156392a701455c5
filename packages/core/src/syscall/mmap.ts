import { VMA_GROWSDOWN, VMA_LOCKED, VMA_NOHUGEPAGE, VMA_NORESERVE, VMA_SYNC } from '../vmar/vm-mapping.ts';
import { VM_EXEC, VM_READ, VM_WRITE } from '../vmar/vm-perms.ts';
import type { Vmar } from '../vmar/vmar.ts';
import type { Vmo } from '../vmar/vmo.ts';
import { EBADF, EEXIST, EINVAL, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from './errno.ts';
import {
  LEGACY_MAP_MASK,
  type LinuxAbi,
  MAP_32BIT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_GROWSDOWN,
  MAP_LOCKED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_STACK,
  MAP_SYNC,
  MAP_TYPE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from './linux-abi.ts';
import { type ErrnoMap, errnoOf } from './mm-error-errno.ts';
import { populateRange } from './populate.ts';
import { isPageAligned, pageAlignDown, pageAlignUp, type U64, u64ToNumber } from './u64.ts';

/** The VMAR rights of a `PROT_*` value (bits other than R/W/X are ignored, as by `calc_vm_prot_bits`). */
export function protToPerms(prot: number): number {
  return (
    (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0) | (prot & PROT_EXEC ? VM_EXEC : 0)
  );
}

/** Linux's `MAX_LFS_FILESIZE` on 64-bit: file offsets and ends stay below it. */
const MAX_LFS_FILESIZE = (1n << 63n) - 1n;

/** The VMAR's errors mmap returns as an errno. */
const MAP_ERRNOS: ErrnoMap = { AddressSpaceLimit: ENOMEM, NoFreeRegion: ENOMEM };

/** `MAP_32BIT`'s range on x86_64 (Linux's `find_start_end`): `[1 GiB, 2 GiB)`. */
const MAP_32BIT_LOW = 0x40000000;
const MAP_32BIT_HIGH = 0x80000000;

/** Linux's `calc_vm_flag_bits`, plus `VM_NORESERVE` (overcommit is not `NEVER`). */
function mmapVmaFlags(flags: number): number {
  return (
    (flags & MAP_GROWSDOWN ? VMA_GROWSDOWN : 0) |
    (flags & MAP_LOCKED ? VMA_LOCKED : 0) |
    (flags & MAP_SYNC ? VMA_SYNC : 0) |
    (flags & MAP_STACK ? VMA_NOHUGEPAGE : 0) |
    (flags & MAP_NORESERVE ? VMA_NORESERVE : 0)
  );
}

/**
 * The sharing-type checks of `do_mmap` after the address is known: for a file, a
 * `MAP_SHARED_VALIDATE` flag outside `LEGACY_MAP_MASK` and `MAP_SYNC` (`EOPNOTSUPP`; the
 * page cache's files support `MAP_SYNC` at this point, as ext4 does) and `MAP_GROWSDOWN`
 * (`EINVAL`); for anonymous memory, `MAP_SHARED_VALIDATE` and shared `MAP_GROWSDOWN`
 * (`EINVAL`); any other type (`EINVAL`). Returns 0 or `-errno`.
 */
function sharingTypeError(flags: number, file: boolean): number {
  const type = flags & MAP_TYPE;
  if (file) {
    if (type === MAP_SHARED_VALIDATE && (flags & ~(LEGACY_MAP_MASK | MAP_SYNC)) !== 0) return -EOPNOTSUPP;
    if (type !== MAP_SHARED && type !== MAP_PRIVATE && type !== MAP_SHARED_VALIDATE) return -EINVAL;
    return flags & MAP_GROWSDOWN ? -EINVAL : 0;
  }
  if (type === MAP_SHARED) return flags & MAP_GROWSDOWN ? -EINVAL : 0;
  return type === MAP_PRIVATE ? 0 : -EINVAL;
}

/**
 * `mmap` with Linux 6.18's checks, in its order:
 * offset alignment (`EINVAL`); a mapping without `MAP_ANONYMOUS` needs a file (`file`, a
 * VMO from the page-cache plugin; `EBADF` without one); len 0 (`EINVAL`); len
 * page-aligning to 0 (`ENOMEM`); len > TASK_SIZE (`ENOMEM`);
 * for `MAP_FIXED`/`MAP_FIXED_NOREPLACE`: addr + len > TASK_SIZE (`ENOMEM`), unaligned addr
 * (`EINVAL`), addr below `mmap_min_addr` (`EPERM`), then overlap for NOREPLACE (`EEXIST`);
 * a file range reaching `MAX_LFS_FILESIZE` (`EOVERFLOW`; also, an engine limit, offsets past
 * 2^53); the sharing type (`sharingTypeError`); `MAP_SYNC` on a file (`EOPNOTSUPP`, after a
 * fixed destination was unmapped); the address-space limit (`ENOMEM`). `MAP_32BIT` (x86_64,
 * no fixed flag) places the mapping in `[1 GiB, 2 GiB)`. `MAP_LOCKED`, `MAP_POPULATE` and
 * `mlockall(MCL_FUTURE)` populate the new mapping (`populateRange`, failures skipped). A hint (no fixed flag) is rounded down to a page (raised to
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
  const typeError = sharingTypeError(flags, vmo !== null);
  if (typeError < 0) return typeError;
  const shared = (flags & MAP_TYPE) !== MAP_PRIVATE;
  if (vmo !== null && flags & MAP_SYNC) {
    // ext4's mmap hook refuses VM_SYNC on a file that is not DAX, after a fixed
    // destination was already unmapped.
    if (fixed) vmar.unmap(at, size);
    return -EOPNOTSUPP;
  }
  const low32 = abi.has32Bit && (flags & MAP_32BIT) !== 0 && !fixed;
  let result = 0;
  try {
    let placement: 'fixed' | 'hint' | 'any' = fixed ? 'fixed' : 'hint';
    if (low32) {
      // A hint counts only inside the 2 GiB range; otherwise the lowest free fit above 1 GiB.
      const hintFits = at !== 0 && at + size <= MAP_32BIT_HIGH && !vmar.mappings.intersects(at, at + size);
      if (!hintFits) at = vmar.allocFreeRegionIn(MAP_32BIT_LOW, MAP_32BIT_HIGH, size);
    } else if (!fixed && (at === 0 || at > abi.taskSize - size)) placement = 'any';
    result = vmar.map({
      size,
      perms: protToPerms(prot),
      placement,
      addr: at,
      shared,
      flags: mmapVmaFlags(flags),
      // Files and shared anonymous memory map the pages around a read fault (fault-around).
      faultsAround: shared || vmo !== null,
      vmo: vmo ?? undefined,
      vmoOffset: vmo === null ? 0 : u64ToNumber(offset),
    });
  } catch (e) {
    return errnoOf(e, MAP_ERRNOS);
  }
  if (flags & (MAP_LOCKED | MAP_POPULATE) || vmar.defFlags & VMA_LOCKED) {
    populateRange(vmar, result, result + size, false);
  }
  return result;
}
