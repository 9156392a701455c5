import { VMA_LOCKED, VMA_LOCKONFAULT } from '../vmar/vm-mapping.ts';
import { VM_WRITE } from '../vmar/vm-perms.ts';
import type { Vmar } from '../vmar/vmar.ts';
import { EACCES, EINVAL, ENOMEM } from './errno.ts';
import { type LinuxAbi, PROT_EXEC, PROT_READ, PROT_WRITE } from './linux-abi.ts';
import { type ErrnoMap, errnoOf } from './mm-error-errno.ts';
import { protToPerms } from './mmap.ts';
import { populateRange } from './populate.ts';
import { isPageAligned, pageAlignUp, type U64, U64_WRAP, u64ToNumber } from './u64.ts';

/**
 * The parts of `[start, end)` in locked (not lock-on-fault) private mappings without W:
 * gaining W, Linux's `mprotect_fixup` populates them with write faults (breaking
 * copy-on-write up front, as mlock would have).
 */
function lockedGainingWrite(vmar: Vmar, start: number, end: number): [number, number][] {
  const out: [number, number][] = [];
  const maps = vmar.maps;
  for (const m of vmar.mappings.find(start, end)) {
    if (
      (maps.flags(m) & (VMA_LOCKED | VMA_LOCKONFAULT)) !== VMA_LOCKED ||
      maps.shared(m) ||
      maps.perms(m) & VM_WRITE
    )
      continue;
    out.push([Math.max(start, maps.start(m)), Math.min(end, maps.end(m))]);
  }
  return out;
}

/** `PROT_SEM`: accepted and ignored, as by Linux's generic `arch_validate_prot`. */
const PROT_SEM = 0x8;
/** The VMAR's errors mprotect returns as an errno. */
const PROTECT_ERRNOS: ErrnoMap = { PermissionDenied: EACCES };

/**
 * `mprotect` (Linux's `do_mprotect_pkey`): unaligned addr (`EINVAL`); len 0 succeeds; the
 * page-aligned end must not wrap (`ENOMEM`); unknown prot bits (`EINVAL`); then the
 * mappings from addr on change one by one until the first hole: nothing mapped at addr
 * gives `ENOMEM` with no change, a hole later gives `ENOMEM` after the mappings before it
 * changed; may-rights that forbid the new rights give `EACCES` at that mapping. Locked
 * private memory that gains W is populated (`lockedGainingWrite`).
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
  const perms = protToPerms(prot);
  const toPopulate = perms & VM_WRITE ? lockedGainingWrite(vmar, start, mappedEnd) : [];
  let ret = 0;
  try {
    vmar.protect(start, mappedEnd - start, perms);
  } catch (e) {
    ret = errnoOf(e, PROTECT_ERRNOS);
  }
  for (const [s, e] of toPopulate) {
    const m = vmar.findMapping(s);
    if (m >= 0 && (vmar.maps.perms(m) & VM_WRITE) !== 0) populateRange(vmar, s, e, false);
  }
  return ret < 0 || mappedEnd === end ? ret : -ENOMEM;
}
