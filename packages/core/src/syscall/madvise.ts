import { PROP_DIRTY } from '../arch/page-prop.ts';
import { QUERY_MAPPED } from '../page-table/cursor.ts';
import { FAULT_HANDLED, FAULT_SIGBUS, handlePageFault } from '../vmar/page-fault.ts';
import {
  VMA_DONTDUMP,
  VMA_DONTFORK,
  VMA_HUGEPAGE,
  VMA_LOCKED,
  VMA_NOHUGEPAGE,
  VMA_RAND_READ,
  VMA_SEQ_READ,
  VMA_WIPEONFORK,
} from '../vmar/vm-mapping.ts';
import { ACCESS_READ, ACCESS_WRITE, VM_READ, VM_WRITE } from '../vmar/vm-perms.ts';
import type { Vmar } from '../vmar/vmar.ts';
import { AnonVmo } from '../vmar/vmo.ts';
import { EACCES, EFAULT, EINVAL, ENOMEM } from './errno.ts';
import {
  type LinuxAbi,
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
} from './linux-abi.ts';
import { isPageAligned, pageAlignUp, type U64, U64_WRAP, u64ToNumber } from './u64.ts';

/** Advice that only sets and clears VMA flags: `[set, clear]`. */
const FLAG_ADVICE: Record<number, readonly [number, number]> = {
  [MADV_NORMAL]: [0, VMA_RAND_READ | VMA_SEQ_READ],
  [MADV_RANDOM]: [VMA_RAND_READ, VMA_SEQ_READ],
  [MADV_SEQUENTIAL]: [VMA_SEQ_READ, VMA_RAND_READ],
  [MADV_DONTFORK]: [VMA_DONTFORK, 0],
  [MADV_DOFORK]: [0, VMA_DONTFORK],
  [MADV_WIPEONFORK]: [VMA_WIPEONFORK, 0],
  [MADV_KEEPONFORK]: [0, VMA_WIPEONFORK],
  [MADV_DONTDUMP]: [VMA_DONTDUMP, 0],
  [MADV_DODUMP]: [0, VMA_DONTDUMP],
  [MADV_HUGEPAGE]: [VMA_HUGEPAGE, VMA_NOHUGEPAGE],
  [MADV_NOHUGEPAGE]: [VMA_NOHUGEPAGE, VMA_HUGEPAGE],
};

/** Advice that changes nothing visible without swap, THP or memory pressure. */
const NO_EFFECT = new Set([MADV_WILLNEED, MADV_COLD, MADV_FREE, MADV_PAGEOUT]);

/** Whether `advice` is one Linux (and the model) knows. */
export function isKnownAdvice(advice: number): boolean {
  return (
    advice in FLAG_ADVICE ||
    NO_EFFECT.has(advice) ||
    advice === MADV_DONTNEED ||
    advice === MADV_REMOVE ||
    advice === MADV_POPULATE_READ ||
    advice === MADV_POPULATE_WRITE
  );
}

/** The errno with which `advice` refuses mapping `m` of `vmar` (Linux's per-VMA checks), or 0. */
function refusal(vmar: Vmar, m: number, advice: number): number {
  const maps = vmar.maps;
  const locked = (maps.flags(m) & VMA_LOCKED) !== 0;
  const shared = maps.shared(m);
  const anonymous = maps.vmoId(m) < 0;
  const privateAnon = !shared && anonymous;
  switch (advice) {
    case MADV_DONTNEED:
    case MADV_COLD:
    case MADV_PAGEOUT:
      return locked ? EINVAL : 0;
    case MADV_FREE:
      return locked || !privateAnon ? EINVAL : 0;
    case MADV_WIPEONFORK:
      return privateAnon ? 0 : EINVAL;
    case MADV_REMOVE:
      if (locked || anonymous) return EINVAL;
      return shared ? 0 : EACCES;
    default:
      return 0;
  }
}

/**
 * `MADV_PAGEOUT` of shared anonymous memory (no swap): each page of `[start, end)` mapped
 * here by the only PTE of the object page (its frame counts the object's handle and that
 * PTE) is unmapped; a clean one also leaves the object. Private anonymous and file pages
 * stay (nothing to swap to; a file page's data does not change).
 */
function pageoutShmem(vmar: Vmar, m: number, start: number, end: number): void {
  const vmo = vmar.maps.vmo(m);
  if (!(vmo instanceof AnonVmo)) return;
  const frames = vmar.space.kernel.frames;
  const page = vmar.pageSize;
  const alone: [number, boolean][] = [];
  const c = vmar.space.cursor(start, end);
  try {
    for (;;) {
      const va = c.findNext(end - c.va);
      if (va < 0) break;
      if (c.query() === QUERY_MAPPED && frames.refCount(c.qPfn) === 2)
        alone.push([va, (c.qProp & PROP_DIRTY) !== 0]);
      if (c.va >= end) break;
    }
  } finally {
    c.drop();
  }
  for (const [va, pteDirty] of alone) {
    const index = vmar.maps.vmoIndex(m, va);
    const dirty = vmo.isDirty(index, pteDirty);
    vmar.discard(va, page);
    if (!dirty) vmo.dropPage(index);
  }
}

/** Applies `advice` (already accepted) to the part `[s, e)` of mapping `m`. */
function apply(vmar: Vmar, m: number, s: number, e: number, advice: number): void {
  const flags = FLAG_ADVICE[advice];
  if (flags !== undefined) {
    vmar.setFlags(s, e, flags[0], flags[1]);
  } else if (advice === MADV_DONTNEED) {
    vmar.discard(s, e - s);
  } else if (advice === MADV_PAGEOUT) {
    pageoutShmem(vmar, m, s, e);
  } else if (advice === MADV_REMOVE) {
    vmar.maps.vmo(m)!.punchHole?.(vmar.maps.vmoIndex(m, s), (e - s) / vmar.pageSize);
  }
}

/**
 * `MADV_POPULATE_READ` / `MADV_POPULATE_WRITE` (Linux's `madvise_populate`): pages in
 * address order, each faulted in as a load or store would; stops with `ENOMEM` at a hole,
 * `EINVAL` at a page whose prot lacks `r` (read) or `w` (write), `EFAULT` at a page past
 * its VMO's end. Pages before the stop stay populated.
 */
function populate(vmar: Vmar, start: number, end: number, write: boolean): number {
  const page = vmar.pageSize;
  const need = write ? VM_WRITE : VM_READ;
  let at = start;
  while (at < end) {
    const m = vmar.findMapping(at);
    if (m < 0) return -ENOMEM;
    if ((vmar.maps.perms(m) & need) === 0) return -EINVAL;
    const last = Math.min(end, vmar.maps.end(m));
    for (; at < last; at += page) {
      const fault = handlePageFault(vmar, at, write ? ACCESS_WRITE : ACCESS_READ);
      if (fault === FAULT_SIGBUS) return -EFAULT;
      if (fault !== FAULT_HANDLED) return -EINVAL;
    }
  }
  return 0;
}

/**
 * `madvise` (Linux 6.18's `do_madvise`): unknown advice, unaligned addr, a non-zero len that
 * page-aligns to 0, or an end that wraps give `EINVAL`; an empty range succeeds. The
 * populate advice then go page by page (`populate`). Every other advice walks the mappings
 * of the range in address order: a mapping the advice refuses (`refusal`: locked memory for
 * the advice that drop pages, the wrong kind of memory for `free`, `wipeonfork` and
 * `remove`) ends the call with that errno, the mappings before it done; holes are skipped
 * and give `ENOMEM` at the end.
 *
 * Effects: flag advice sets or clears invisible VMA flags (splitting mappings);
 * `dontneed` drops the pages (private anonymous pages read zero again); `pageout` unmaps
 * shared anonymous pages only this PTE maps and drops the clean ones; `remove` punches a
 * hole in the shared object (every process then reads zero there); `willneed`, `cold` and
 * `free` change nothing visible.
 */
export function sysMadvise(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64, advice: number): number {
  const page = abi.pageSize;
  if (!isKnownAdvice(advice)) return -EINVAL;
  if (!isPageAligned(addr, page)) return -EINVAL;
  const size = pageAlignUp(len, page);
  if (u64ToNumber(len) !== 0 && size === 0) return -EINVAL;
  const start = u64ToNumber(addr);
  const end = start + size;
  if (end >= U64_WRAP) return -EINVAL;
  if (end === start) return 0;
  if (advice === MADV_POPULATE_READ || advice === MADV_POPULATE_WRITE)
    return populate(vmar, start, end, advice === MADV_POPULATE_WRITE);
  const maps = vmar.maps;
  let hole = false;
  let at = start;
  while (at < end) {
    const id = vmar.findMapping(at);
    const m = id >= 0 ? id : vmar.mappings.findNext(at);
    if (m < 0 || maps.start(m) >= end) {
      hole = true;
      break;
    }
    if (maps.start(m) > at) hole = true;
    const errno = refusal(vmar, m, advice);
    if (errno !== 0) return -errno;
    // Read before `apply`: flag advice splits and merges mappings (`m` may then be gone).
    const s = Math.max(at, maps.start(m));
    const e = Math.min(end, maps.end(m));
    apply(vmar, m, s, e, advice);
    at = e;
  }
  return hole ? -ENOMEM : 0;
}
