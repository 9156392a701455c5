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
/** x86_64 only: a kernel-chosen address below 2 GiB (0 elsewhere: ignored). */
export const MAP_32BIT = 0x40;
export const MAP_GROWSDOWN = 0x100;
export const MAP_DENYWRITE = 0x800;
export const MAP_EXECUTABLE = 0x1000;
export const MAP_LOCKED = 0x2000;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_NONBLOCK = 0x10000;
export const MAP_STACK = 0x20000;
export const MAP_HUGETLB = 0x40000;
export const MAP_SYNC = 0x80000;
export const MAP_FIXED_NOREPLACE = 0x100000;
export const MAP_UNINITIALIZED = 0x4000000;
/**
 * Linux's `LEGACY_MAP_MASK`: the flags every kernel has accepted (and ignored when unknown);
 * `MAP_SHARED_VALIDATE` refuses any other flag that the file does not support (`EOPNOTSUPP`).
 */
export const LEGACY_MAP_MASK =
  MAP_SHARED |
  MAP_PRIVATE |
  MAP_FIXED |
  MAP_ANONYMOUS |
  MAP_DENYWRITE |
  MAP_EXECUTABLE |
  MAP_UNINITIALIZED |
  MAP_GROWSDOWN |
  MAP_LOCKED |
  MAP_NORESERVE |
  MAP_POPULATE |
  MAP_NONBLOCK |
  MAP_STACK |
  MAP_HUGETLB |
  MAP_32BIT;

/** `mremap` flags. */
export const MREMAP_MAYMOVE = 1;
export const MREMAP_FIXED = 2;
export const MREMAP_DONTUNMAP = 4;

/** `madvise` advice. */
export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_DONTDUMP = 16;
export const MADV_DODUMP = 17;
export const MADV_WIPEONFORK = 18;
export const MADV_KEEPONFORK = 19;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;

/** `mlock2` flag. */
export const MLOCK_ONFAULT = 1;
/** `mlockall` flags. */
export const MCL_CURRENT = 1;
export const MCL_FUTURE = 2;
export const MCL_ONFAULT = 4;

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
  /** Whether `MAP_32BIT` exists (x86_64): kernel-chosen addresses then lie in `[1 GiB, 2 GiB)`. */
  readonly has32Bit: boolean;
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
  const x86 = consts.name.startsWith('x86');
  const guard = x86 ? page : 0;
  return { pageSize: page, taskSize: half - guard, mmapMinAddr: MMAP_MIN_ADDR, has32Bit: x86 };
}
