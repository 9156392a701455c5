import { PROP_ACCESSED, PROP_AVAIL1, PROP_DIRTY, PROP_R, PROP_W, PROP_X } from '../arch/page-prop.ts';
import { PTE_ABSENT, PTE_LEAF } from '../arch/pte-codec.ts';
import { fail } from '../errors.ts';
import { QUERY_MAPPED } from '../page-table/cursor.ts';
import {
  FAULT_HANDLED,
  FAULT_NEEDS_WINDOW,
  FAULT_SIGSEGV,
  handlePageFault,
  handlePageFaultOnPage,
} from '../vmar/page-fault.ts';
import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE, propAllows } from '../vmar/vm-perms.ts';
import type { Vmar } from '../vmar/vmar.ts';

/**
 * The frame behind user address `vaddr` for an access of kind `access`, as a load or store
 * would reach it: the page table is walked; a missing or insufficient translation takes a
 * page fault (`handlePageFault`) and the walk is retried. An access to an unmapped page
 * just below a grows-down mapping first grows it (`Vmar.growDown`). Sets ACCESSED (and DIRTY for a
 * store) in the PTE as the MMU does. Returns the frame number, or `-signal` if the access
 * faults (`-FAULT_SIGSEGV`, `-FAULT_SIGBUS`).
 *
 * With the TLB model on, the access first looks the page up in the TLB of the process's CPU
 * (checked there against the PTE the walk found, which catches stale entries); a miss caches
 * the translation the access finally used. The frame always comes from the page table.
 *
 * Where the page's leaf node exists, the walk, the fault and the walk after it each lock
 * that node alone (`LeafSlot`), as a fault does; where it does not, the fault is taken as
 * for an absent page (it takes a cursor only to create the node). A cursor walks only for
 * an untracked or huge page.
 */
export function translateUser(vmar: Vmar, vaddr: number, access: number): number {
  const space = vmar.space;
  if (!(vaddr >= space.lower && vaddr < space.upper)) return -FAULT_SIGSEGV;
  const page = vmar.pageSize;
  // Not `vaddr % page`: a floating-point modulo above 2^31 (`vaddr` is in range: >= 0).
  const pageVa = Math.floor(vaddr / page) * page;
  const bits = PROP_ACCESSED | (access & ACCESS_WRITE ? PROP_DIRTY : 0);
  const pfn = translatePresent(vmar, pageVa, access, bits, true);
  if (pfn >= 0) return pfn;
  if (pfn !== NEEDS_FAULT) return translateWithCursor(vmar, vaddr, pageVa, access, bits, 0);
  const fault = faultForAccess(vmar, vaddr, pageVa, access);
  if (fault !== FAULT_HANDLED) return -fault;
  const after = translatePresent(vmar, pageVa, access, bits, false);
  return after >= 0 ? after : translateWithCursor(vmar, vaddr, pageVa, access, bits, 1);
}

/**
 * `translatePresent`'s answer where the page's leaf node exists and the access takes a fault
 * (the page is absent, or a tracked base page without the rights): the TLB lookup was made,
 * and missed (a usable hit means the PTE grants the rights).
 */
const NEEDS_FAULT = -2;

/**
 * `translateUser` of an access that needs no fault: the page is a tracked base page, mapped
 * with the rights the access needs, in an existing leaf node, which is locked alone (a
 * `LeafSlot`, as a fault does) for the TLB lookup (`lookup`: on the first try, not after a
 * fault), the ACCESSED/DIRTY update and the fill. Returns the frame; `NEEDS_FAULT` when the
 * access faults on an absent page (in its leaf node, or with no leaf node: an absent entry
 * above) or on a tracked page without the rights (the lookup made); or -1 having done
 * nothing (no lookup either) when the access needs the walk with a cursor: a huge, untracked
 * or absent page after a fault, a page that still lacks the rights after a fault.
 */
function translatePresent(vmar: Vmar, pageVa: number, access: number, bits: number, lookup: boolean): number {
  const space = vmar.space;
  const slot = space.pt.leafSlot();
  const tlb = space.kernel.tlb;
  const vpn = pageVa / vmar.pageSize;
  if (!slot.lock(pageVa)) {
    // No leaf node: an absent entry above it faults as an absent page does, without a
    // cursor (most such accesses are to no mapping, or to one without the rights: the
    // fault answers SIGSEGV before touching the table). A huge leaf needs the cursor.
    if (!lookup || !slot.walkMetAbsent) return -1;
    if (tlb.enabled) tlb.lookup(space.tlbSpace, vpn, rightsNeeded(access), -1, 0);
    return NEEDS_FAULT;
  }
  try {
    const kind = slot.kind();
    if (kind === PTE_ABSENT) {
      if (!lookup) return -1;
      if (tlb.enabled) tlb.lookup(space.tlbSpace, vpn, rightsNeeded(access), -1, 0);
      return NEEDS_FAULT;
    }
    if (kind !== PTE_LEAF) return -1;
    const prop = slot.prop();
    if (prop & PROP_AVAIL1) return -1;
    const pfn = slot.pfn();
    const cached = lookup && tlb.enabled && tlb.lookup(space.tlbSpace, vpn, rightsNeeded(access), pfn, prop);
    if (!propAllows(prop, access)) return lookup ? NEEDS_FAULT : -1;
    if ((prop & bits) !== bits) slot.setProp(prop | bits);
    if (tlb.enabled && !cached) tlb.fill(space.tlbSpace, vpn, pfn, prop | bits);
    return pfn;
  } finally {
    slot.unlock();
  }
}

/**
 * The page fault an access to `vaddr` takes (`handlePageFault`: one leaf node, no cursor,
 * where the node exists). An access to an unmapped page just below a grows-down mapping
 * first grows it (Linux's expand_stack).
 */
function faultForAccess(vmar: Vmar, vaddr: number, pageVa: number, access: number): number {
  const fault = handlePageFault(vmar, vaddr, access);
  if (fault !== FAULT_SIGSEGV || vmar.findMapping(vaddr) >= 0 || !vmar.growDown(pageVa)) return fault;
  return handlePageFault(vmar, vaddr, access);
}

/** `translateUser` through a cursor over the page, which also serves the faults the access takes. */
function translateWithCursor(
  vmar: Vmar,
  vaddr: number,
  pageVa: number,
  access: number,
  bits: number,
  firstAttempt: number,
): number {
  const space = vmar.space;
  const page = vmar.pageSize;
  // One cursor over the page serves the walk, the fault and the walk after it; only a fault
  // that maps around the page needs its own (wider) cursor, and a new one is taken after it.
  const tlb = space.kernel.tlb;
  const vpn = pageVa / page;
  let cached = false;
  let c = space.cursorMut(pageVa, pageVa + page);
  try {
    for (let attempt = firstAttempt; attempt < 2; attempt++) {
      c.jump(pageVa);
      const mapped = c.query() === QUERY_MAPPED;
      if (attempt === 0 && tlb.enabled)
        cached = tlb.lookup(space.tlbSpace, vpn, rightsNeeded(access), mapped ? c.qPfn : -1, c.qProp);
      if (mapped && propAllows(c.qProp, access)) {
        const pfn = c.qPfn;
        const prop = c.qProp;
        if ((prop & bits) !== bits) {
          c.jump(pageVa);
          c.setProp(prop | bits);
        }
        if (tlb.enabled && !cached) tlb.fill(space.tlbSpace, vpn, pfn, prop | bits);
        return pfn;
      }
      let fault = handlePageFaultOnPage(vmar, vaddr, access, c);
      if (fault === FAULT_SIGSEGV && vmar.findMapping(vaddr) < 0) {
        // Below a grows-down mapping the access first grows it (Linux's expand_stack).
        if (attempt > 0 || !vmar.growDown(pageVa)) return -FAULT_SIGSEGV;
        fault = handlePageFaultOnPage(vmar, vaddr, access, c);
      }
      if (fault === FAULT_NEEDS_WINDOW) {
        c.drop();
        fault = handlePageFault(vmar, vaddr, access);
        c = space.cursorMut(pageVa, pageVa + page);
      }
      if (fault !== FAULT_HANDLED) return -fault;
    }
  } finally {
    c.drop();
  }
  return fail('BadFrameState', `a handled fault at 0x${vaddr.toString(16)} left the page inaccessible`);
}

/** The page rights (`PROP_R/W/X`) an access of kind `access` needs. */
function rightsNeeded(access: number): number {
  return (
    (access & ACCESS_READ ? PROP_R : 0) |
    (access & ACCESS_WRITE ? PROP_W : 0) |
    (access & ACCESS_EXEC ? PROP_X : 0)
  );
}

/**
 * Copies `out.length` bytes from user address `vaddr` (loads; may cross pages). Returns 0,
 * or the signal of the first faulting load (`FAULT_SIGSEGV`, `FAULT_SIGBUS`); `out` is then
 * partly filled.
 */
export function readUser(vmar: Vmar, vaddr: number, out: Uint8Array): number {
  const memory = vmar.space.kernel.memory;
  const page = vmar.pageSize;
  let done = 0;
  while (done < out.length) {
    const va = vaddr + done;
    // Not `va % page`: a floating-point modulo above 2^31 (page sizes are powers of two: exact).
    const offset = va - Math.floor(va / page) * page;
    const n = Math.min(page - offset, out.length - done);
    const pfn = translateUser(vmar, va, ACCESS_READ);
    if (pfn < 0) return -pfn;
    memory.readInto(pfn, offset, n, out, done);
    done += n;
  }
  return 0;
}

/** Stores `data` at user address `vaddr` (may cross pages). Returns 0 or the signal of the first faulting store. */
export function writeUser(vmar: Vmar, vaddr: number, data: Uint8Array): number {
  const memory = vmar.space.kernel.memory;
  const page = vmar.pageSize;
  let done = 0;
  while (done < data.length) {
    const va = vaddr + done;
    // Not `va % page`: a floating-point modulo above 2^31 (page sizes are powers of two: exact).
    const offset = va - Math.floor(va / page) * page;
    const n = Math.min(page - offset, data.length - done);
    const pfn = translateUser(vmar, va, ACCESS_WRITE);
    if (pfn < 0) return -pfn;
    memory.writeFrom(pfn, offset, data, done, n);
    done += n;
  }
  return 0;
}
