import type { Vmar } from '../vmar/vmar.ts';
import { EACCES, EINVAL, ENOMEM } from './errno.ts';
import { type LinuxAbi, PROT_EXEC, PROT_READ, PROT_WRITE } from './linux-abi.ts';
import { withErrno } from './mm-error-errno.ts';
import { protToPerms } from './mmap.ts';
import { isPageAligned, pageAlignUp, type U64, U64_WRAP, u64ToNumber } from './u64.ts';

/** `PROT_SEM`: accepted and ignored, as by Linux's generic `arch_validate_prot`. */
const PROT_SEM = 0x8;

/**
 * `mprotect` (Linux's `do_mprotect_pkey`): unaligned addr (`EINVAL`); len 0 succeeds; the
 * page-aligned end must not wrap (`ENOMEM`); unknown prot bits (`EINVAL`); then the
 * mappings from addr on change one by one until the first hole: nothing mapped at addr
 * gives `ENOMEM` with no change, a hole later gives `ENOMEM` after the mappings before it
 * changed; may-rights that forbid the new rights give `EACCES` at that mapping.
 */
export function sysMprotect(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64, prot: number): number {
  const page = abi.pageSize;
  if (!isPageAligned(addr, page)) return -EINVAL;
  if (u64ToNumber(len) === 0) return 0;
  const start = u64ToNumber(addr);
  let end = start + pageAlignUp(len, page);
  if (end >= U64_WRAP) end -= U64_WRAP;
  if (end <= start) return -ENOMEM;
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM)) !== 0) return -EINVAL;
  const mappedEnd = vmar.mappedPrefixEnd(start, end);
  if (mappedEnd === start) return -ENOMEM;
  const ret = withErrno(0, { PermissionDenied: EACCES }, () =>
    vmar.protect(start, mappedEnd - start, protToPerms(prot)),
  );
  return ret < 0 || mappedEnd === end ? ret : -ENOMEM;
}
