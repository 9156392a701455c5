import { QUERY_MAPPED } from '../page-table/cursor.ts';
import type { Vmar } from '../vmar/vmar.ts';
import { EINVAL, ENOMEM } from './errno.ts';
import type { LinuxAbi } from './linux-abi.ts';
import { isPageAligned, pageAlignUp, type U64, u64ToNumber } from './u64.ts';

/**
 * `mincore` (Linux's): unaligned addr is `EINVAL`; an end beyond user space (`TASK_SIZE`,
 * or wrapping) `ENOMEM`; len 0 gives an empty vector; a hole anywhere in the page-rounded
 * range `ENOMEM`. Otherwise one byte per page, 1 if resident: a private page with a
 * present PTE (anonymous, or a file page or its copy), or a page its VMO holds (shared
 * anonymous memory and files: the object's page, mapped here or not). Returns the vector
 * or `-errno`.
 */
export function sysMincore(vmar: Vmar, abi: LinuxAbi, addr: U64, len: U64): Uint8Array | number {
  const page = abi.pageSize;
  if (!isPageAligned(addr, page)) return -EINVAL;
  const start = u64ToNumber(addr);
  const rawLen = u64ToNumber(len);
  if (start > abi.taskSize || rawLen > abi.taskSize - start) return -ENOMEM;
  const size = pageAlignUp(len, page);
  const end = start + size;
  if (size === 0) return new Uint8Array(0);
  if (!vmar.isFullyMapped(start, end)) return -ENOMEM;
  const vec = new Uint8Array(size / page);
  for (const id of vmar.mappings.find(start, end)) {
    const m = vmar.view(id);
    const s = Math.max(start, m.start);
    const e = Math.min(end, m.end);
    if (m.vmo !== null) {
      for (let va = s; va < e; va += page) {
        const index = m.vmoIndex(va);
        if (index < m.vmo.nrPages && m.vmo.pageAt(index) >= 0) vec[(va - start) / page] = 1;
      }
      if (m.shared) continue;
    }
    const c = vmar.space.cursor(s, e);
    try {
      for (;;) {
        const va = c.findNext(e - c.va);
        if (va < 0) break;
        if (c.query() === QUERY_MAPPED) vec[(va - start) / page] = 1;
        if (c.va >= e) break;
      }
    } finally {
      c.drop();
    }
  }
  return vec;
}

/** Resident pages by Linux's RSS counters (`MM_ANONPAGES`, `MM_FILEPAGES`, `MM_SHMEMPAGES`). */
export interface LinuxRss {
  anon: number;
  file: number;
  shmem: number;
}

/**
 * The resident pages of the mappings in `[lo, hi)`, counted as Linux counts them (summed
 * from `/proc/PID/smaps`): a present PTE of private anonymous memory, or a private copy of a
 * file page, is `anon`; of shared anonymous memory `shmem`; of a file's own page `file`.
 */
export function linuxRss(vmar: Vmar, lo: number, hi: number): LinuxRss {
  const out = { anon: 0, file: 0, shmem: 0 };
  for (const id of vmar.mappings.find(lo, hi)) {
    const m = vmar.view(id);
    const s = Math.max(lo, m.start);
    const e = Math.min(hi, m.end);
    const c = vmar.space.cursor(s, e);
    try {
      for (;;) {
        const va = c.findNext(e - c.va);
        if (va < 0) break;
        if (c.query() === QUERY_MAPPED) {
          if (m.vmo === null) out.anon++;
          else if (m.isShmem) out.shmem++;
          else if (m.vmo.pageAt(m.vmoIndex(va)) === c.qPfn) out.file++;
          else out.anon++;
        }
        if (c.va >= e) break;
      }
    } finally {
      c.drop();
    }
  }
  return out;
}

/**
 * Breaks from this value up lie past the heap: other mappings (libraries) are there, so
 * `brk` fails. Below it a break always succeeds (the heap is not modelled as a mapping).
 */
export const BRK_LIMIT = 2 ** 32;

/**
 * `brk`, with the break relative to the start of the process's heap: `null` asks for the
 * current break; a new break below `BRK_LIMIT` is taken exactly as given (unaligned values
 * are kept, as Linux keeps `mm->brk`), any other is refused and the break stays. Returns
 * the break after the call (Linux returns it instead of an errno).
 */
export function sysBrk(vmar: Vmar, newBrk: U64 | null): number {
  if (newBrk === null) return vmar.brk;
  const b = u64ToNumber(newBrk);
  if (b < BRK_LIMIT) vmar.brk = b;
  return vmar.brk;
}
