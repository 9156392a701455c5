import {
  MADV_COLD,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_KEEPONFORK,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
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
  MCL_CURRENT,
  MCL_FUTURE,
  MCL_ONFAULT,
  MLOCK_ONFAULT,
  MREMAP_DONTUNMAP,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
} from '../linux-abi.ts';

/*
 * The names an mmtrace line may use (`../shared/spec/mmtrace.md`): ops and their fields,
 * flag and advice names with their Linux values. Both parsers (`parse.ts`, `scan.ts`) read
 * them here, so they cannot disagree on what a line may say.
 */

/** Flag names of v1; `V2_*` are the additions of v2. */
export const MMAP_FLAGS: Record<string, number> = {
  private: MAP_PRIVATE,
  shared: MAP_SHARED,
  anonymous: MAP_ANONYMOUS,
  fixed: MAP_FIXED,
  fixed_noreplace: MAP_FIXED_NOREPLACE,
};
export const V2_MMAP_FLAGS: Record<string, number> = {
  shared_validate: MAP_SHARED_VALIDATE,
  locked: MAP_LOCKED,
  populate: MAP_POPULATE,
  noreserve: MAP_NORESERVE,
  stack: MAP_STACK,
  growsdown: MAP_GROWSDOWN,
  '32bit': MAP_32BIT,
  sync: MAP_SYNC,
};
export const MREMAP_FLAGS: Record<string, number> = { maymove: MREMAP_MAYMOVE, fixed: MREMAP_FIXED };
export const V2_MREMAP_FLAGS: Record<string, number> = { dontunmap: MREMAP_DONTUNMAP };
export const MLOCK_FLAGS: Record<string, number> = { onfault: MLOCK_ONFAULT };
export const MLOCKALL_FLAGS: Record<string, number> = {
  current: MCL_CURRENT,
  future: MCL_FUTURE,
  onfault: MCL_ONFAULT,
};
export const ADVICE: Record<string, number> = { dontneed: MADV_DONTNEED };
export const V2_ADVICE: Record<string, number> = {
  free: MADV_FREE,
  willneed: MADV_WILLNEED,
  normal: MADV_NORMAL,
  random: MADV_RANDOM,
  sequential: MADV_SEQUENTIAL,
  dontfork: MADV_DONTFORK,
  dofork: MADV_DOFORK,
  wipeonfork: MADV_WIPEONFORK,
  keeponfork: MADV_KEEPONFORK,
  remove: MADV_REMOVE,
  cold: MADV_COLD,
  pageout: MADV_PAGEOUT,
  populate_read: MADV_POPULATE_READ,
  populate_write: MADV_POPULATE_WRITE,
  hugepage: MADV_HUGEPAGE,
  nohugepage: MADV_NOHUGEPAGE,
  dontdump: MADV_DONTDUMP,
  dodump: MADV_DODUMP,
};

/** Fields each op may have (an unknown field is an error, as in the recorder). */
export const ALLOWED: Record<string, readonly string[]> = {
  mmap: ['op', 'pid', 'addr', 'len', 'prot', 'flags', 'file', 'offset'],
  munmap: ['op', 'pid', 'addr', 'len'],
  msync: ['op', 'pid', 'addr', 'len'],
  mprotect: ['op', 'pid', 'addr', 'len', 'prot'],
  madvise: ['op', 'pid', 'addr', 'len', 'advice'],
  mremap: ['op', 'pid', 'addr', 'old_len', 'new_len', 'flags', 'new_addr'],
  write: ['op', 'pid', 'addr', 'data'],
  read: ['op', 'pid', 'addr', 'len'],
  fork: ['op', 'pid'],
  exit: ['op', 'pid'],
  maps: ['op', 'pid'],
  file: ['op', 'name', 'size'],
  pwrite: ['op', 'name', 'offset', 'data'],
  pread: ['op', 'name', 'offset', 'len'],
  evict: ['op', 'name', 'offset', 'len'],
  mincore: ['op', 'pid', 'addr', 'len'],
  rss: ['op', 'pid'],
  mlock: ['op', 'pid', 'addr', 'len', 'flags'],
  munlock: ['op', 'pid', 'addr', 'len'],
  mlockall: ['op', 'pid', 'flags'],
  munlockall: ['op', 'pid'],
  brk: ['op', 'pid', 'delta'],
};
/** Ops that only v2 traces may use. */
export const V2_OPS = new Set(['mincore', 'rss', 'mlock', 'munlock', 'mlockall', 'munlockall', 'brk']);
