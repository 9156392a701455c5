import { PROP_ACCESSED, PROP_DIRTY, PROP_W } from '../arch/page-prop.ts';
import type { CursorMut } from '../page-table/cursor.ts';
import { QUERY_MAPPED, QUERY_NOT_MAPPED } from '../page-table/cursor.ts';
import type { VmMapping } from './vm-mapping.ts';
import { ACCESS_READ, ACCESS_WRITE, permsAllow, permsToProp, propAllows } from './vm-perms.ts';
import type { Vmar } from './vmar.ts';

/** Outcomes of a page fault: handled, or the signal the process gets (Linux signal numbers). */
export const FAULT_HANDLED = 0;
export const FAULT_SIGBUS = 7;
export const FAULT_SIGSEGV = 11;
export type FaultResult = typeof FAULT_HANDLED | typeof FAULT_SIGBUS | typeof FAULT_SIGSEGV;

/**
 * Emits the `fault` event (only when someone listens). Kinds: `anon` (new anonymous page),
 * `vmo` (a VMO page mapped as it is: shared memory or a file), `vmo-copy` (a private write to
 * a VMO page: copied), `cow` (copy-on-write break: copied), `reuse` (write to a private page
 * nobody else holds: W back in place), `shared-write` (W granted in place in a shared
 * mapping), `spurious` (the page already allowed the access), `segv`, `bus`.
 */
function emitFault(vmar: Vmar, vaddr: number, access: number, kind: string): void {
  const events = vmar.space.kernel.events;
  if (events.listenerCount('fault') !== 0) {
    const name = access & ACCESS_WRITE ? 'write' : access & ACCESS_READ ? 'read' : 'exec';
    events.emit('fault', vmar.owner, vaddr, name, kind);
  }
}

/** Pages a faults-around read maps at most (Asterinas: 16 pages, a 64 KiB window). */
export const FAULT_AROUND_PAGES = 16;

/**
 * Handles a page fault at `vaddr` for an access of kind `access` (`ACCESS_*`), as
 * Asterinas's `VmMapping::handle_page_fault`:
 * - no mapping, or rights that forbid the access: `FAULT_SIGSEGV`;
 * - page present and already allowing the access: nothing to do (another path handled it);
 * - page present, write to a page mapped without W: a shared mapping, or a frame nobody
 *   else references, gets W in place; otherwise the frame is copied (copy-on-write break);
 * - page absent: anonymous memory gets a fresh zero-filled frame; a VMO page is committed
 *   (`FAULT_SIGBUS` past the VMO's end) and mapped, read-only unless the write needs it,
 *   or, for a private mapping's write, copied into a frame of the process's own.
 * New PTEs carry ACCESSED, and DIRTY for writes. RSS grows by one per new PTE.
 */
export function handlePageFault(vmar: Vmar, vaddr: number, access: number): FaultResult {
  const m = vmar.findMapping(vaddr);
  if (m === undefined || !permsAllow(m.perms, access)) {
    emitFault(vmar, vaddr, access, 'segv');
    return FAULT_SIGSEGV;
  }
  const page = vmar.pageSize;
  // Not `vaddr % page`: a floating-point modulo above 2^31 (`vaddr` is in a mapping: >= 0).
  const pageVa = Math.floor(vaddr / page) * page;
  const around = mapsAround(m, access);
  const winStart = around ? Math.max(pageVa - (pageVa % (FAULT_AROUND_PAGES * page)), m.start) : pageVa;
  const winEnd = around ? Math.min(winStart + FAULT_AROUND_PAGES * page, m.end) : pageVa + page;
  const c = vmar.space.cursorMut(winStart, winEnd);
  try {
    return faultWithCursor(vmar, m, c, vaddr, pageVa, access, around, winStart, winEnd);
  } finally {
    c.drop();
  }
}

/** `handlePageFaultOnPage` result: the fault maps around the page and needs its own cursor. */
export const FAULT_NEEDS_WINDOW = -1;

/**
 * `handlePageFault` through `c`, the caller's live cursor over exactly the faulting page
 * (`[pageVa, pageVa + page)`, anywhere in it), which it keeps: the translation of a user
 * access faults in without a second cursor. That is the very range (so the same locks) the
 * fault's own cursor would have. Returns `FAULT_NEEDS_WINDOW`, having done nothing, where the fault
 * maps around the page (a read of a VMO mapping with faults-around): the caller drops its
 * cursor and calls `handlePageFault`.
 */
export function handlePageFaultOnPage(vmar: Vmar, vaddr: number, access: number, c: CursorMut): number {
  const m = vmar.findMapping(vaddr);
  if (m === undefined || !permsAllow(m.perms, access)) {
    emitFault(vmar, vaddr, access, 'segv');
    return FAULT_SIGSEGV;
  }
  if (mapsAround(m, access)) return FAULT_NEEDS_WINDOW;
  const page = vmar.pageSize;
  const pageVa = Math.floor(vaddr / page) * page;
  c.jump(pageVa);
  return faultWithCursor(vmar, m, c, vaddr, pageVa, access, false, pageVa, pageVa + page);
}

/** Whether a fault in `m` for `access` also maps the pages around (Asterinas's faults-around). */
function mapsAround(m: VmMapping, access: number): boolean {
  return m.faultsAround && m.vmo !== null && access === ACCESS_READ;
}

/** The fault once the mapping is known to allow `access`; `c` covers `[winStart, winEnd)`. */
function faultWithCursor(
  vmar: Vmar,
  m: VmMapping,
  c: CursorMut,
  vaddr: number,
  pageVa: number,
  access: number,
  around: boolean,
  winStart: number,
  winEnd: number,
): FaultResult {
  if (winStart !== pageVa) c.jump(pageVa);
  const kind = c.query();
  if (kind === QUERY_MAPPED) {
    if (propAllows(c.qProp, access)) {
      emitFault(vmar, vaddr, access, 'spurious');
      return FAULT_HANDLED;
    }
    c.jump(pageVa);
    emitFault(vmar, vaddr, access, upgradeToWritable(vmar, m, c, pageVa));
    return FAULT_HANDLED;
  }
  if (kind !== QUERY_NOT_MAPPED) {
    emitFault(vmar, vaddr, access, 'segv');
    return FAULT_SIGSEGV;
  }
  c.jump(pageVa);
  const result = mapNewPage(vmar, m, c, pageVa, access);
  if (result === FAULT_HANDLED && around) mapAround(vmar, m, c, winStart, winEnd);
  return result;
}

/**
 * A write to a present page mapped without W, in a mapping that allows writing. Returns the
 * fault kind (`shared-write`, `reuse` or `cow`) and emits `cowBreak` for private mappings.
 */
function upgradeToWritable(vmar: Vmar, m: VmMapping, c: CursorMut, pageVa: number): string {
  const kernel = vmar.space.kernel;
  const pfn = c.qPfn;
  const prop = c.qProp | PROP_W | PROP_ACCESSED | PROP_DIRTY;
  const inPlace = m.shared || kernel.frames.refCount(pfn) === 1;
  if (!m.shared && kernel.events.listenerCount('cowBreak') !== 0)
    kernel.events.emit('cowBreak', vmar.owner, pageVa, !inPlace);
  if (inPlace) {
    c.setProp(prop);
  } else {
    const copy = kernel.frames.alloc();
    kernel.memory.copyFrame(pfn, copy);
    c.unmap(vmar.pageSize);
    c.jump(pageVa);
    c.map(copy, prop);
    kernel.frames.put(copy);
  }
  vmar.space.flushPage(pageVa);
  return m.shared ? 'shared-write' : inPlace ? 'reuse' : 'cow';
}

/** Maps the absent page at `pageVa` (the cursor is on it). */
function mapNewPage(vmar: Vmar, m: VmMapping, c: CursorMut, pageVa: number, access: number): FaultResult {
  const kernel = vmar.space.kernel;
  const write = (access & ACCESS_WRITE) !== 0;
  let prop = permsToProp(m.perms) | PROP_ACCESSED | (write ? PROP_DIRTY : 0);
  let pfn: number;
  let owned = false;
  let kind: string;
  if (m.vmo === null) {
    // Frames from the allocator read as zeros.
    pfn = kernel.frames.alloc();
    owned = true;
    kind = 'anon';
  } else {
    const vmoPfn = m.vmo.commitPage(m.vmoIndex(pageVa));
    if (vmoPfn < 0) {
      emitFault(vmar, pageVa, access, 'bus');
      return FAULT_SIGBUS;
    }
    if (write && !m.shared) {
      pfn = kernel.frames.alloc();
      kernel.memory.copyFrame(vmoPfn, pfn);
      owned = true;
      kind = 'vmo-copy';
    } else {
      pfn = vmoPfn;
      if (!write) prop &= ~PROP_W;
      kind = 'vmo';
    }
  }
  emitFault(vmar, pageVa, access, kind);
  c.map(pfn, prop);
  if (owned) kernel.frames.put(pfn);
  vmar.addRss(m.rssType, 1);
  return FAULT_HANDLED;
}

/** Maps the absent VMO pages of `[winStart, winEnd)` read-only (faults-around of a read). */
function mapAround(vmar: Vmar, m: VmMapping, c: CursorMut, winStart: number, winEnd: number): void {
  const vmo = m.vmo!;
  const prop = (permsToProp(m.perms) & ~PROP_W) | PROP_ACCESSED;
  const page = vmar.pageSize;
  let nrMapped = 0;
  for (let va = winStart; va < winEnd; va += page) {
    c.jump(va);
    if (c.query() !== QUERY_NOT_MAPPED) continue;
    const pfn = vmo.commitPage(m.vmoIndex(va));
    if (pfn < 0) break;
    c.jump(va);
    c.map(pfn, prop);
    nrMapped++;
  }
  vmar.addRss(m.rssType, nrMapped);
}
