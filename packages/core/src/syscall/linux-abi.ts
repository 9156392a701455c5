import { type PagingConsts, pageSize } from '../arch/paging-consts.ts';

/** `mmap`/`mprotect` protection bits. */
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** `mmap` flags (x86_64 and RISC-V share these values). */
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_SHARED_VALIDATE = 0x03;
export const MAP_TYPE = 0x0f;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_FIXED_NOREPLACE = 0x100000;

/** `mremap` flags. */
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

/** `madvise` advice. */
export const MADV_DONTNEED = 4;

/** `msync` flags. */
export const MS_ASYNC = 1;
export const MS_INVALIDATE = 2;
export const MS_SYNC = 4;

/**
 * Linux's `mmap_min_addr` (`CONFIG_DEFAULT_MMAP_MIN_ADDR`, 4096 on the recording machine;
 * some distributions raise it to 65536): an unprivileged process gets `EPERM` for a fixed
 * mapping below it. (A root process with `CAP_SYS_RAWIO`, like the recorder, may map there;
 * traces never do.)
 */
export const MMAP_MIN_ADDR = 0x1000;

/** The Linux user-space constants of one architecture configuration. */
export interface LinuxAbi {
  readonly pageSize: number;
  /** Top of user space (`TASK_SIZE`): mappings end at or below it. */
  readonly taskSize: number;
  readonly mmapMinAddr: number;
}

/**
 * Linux's constants for a paging configuration. `TASK_SIZE` is the size of the user half,
 * except on x86_64, where Linux keeps the last user page unmapped (the guard page below the
 * non-canonical hole): 0x7ffffffff000 with 4-level paging. RISC-V uses the whole half
 * (2^38 with Sv39, 2^47 with Sv48).
 */
export function linuxAbi(consts: PagingConsts): LinuxAbi {
  const page = consts.basePageSize;
  const half = consts.userRootEntries * pageSize(consts, consts.nrLevels);
  const guard = consts.name.startsWith('x86') ? page : 0;
  return { pageSize: page, taskSize: half - guard, mmapMinAddr: MMAP_MIN_ADDR };
}
