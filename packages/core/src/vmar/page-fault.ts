import { PROP_ACCESSED, PROP_AVAIL1, PROP_DIRTY, PROP_W } from '../arch/page-prop.ts';
import { PTE_ABSENT } from '../arch/pte-codec.ts';
import { fail, formatAddr } from '../errors.ts';
import type { FaultAccess, FaultKind } from '../kernel/events.ts';
import type { CursorMut } from '../page-table/cursor.ts';
import { QUERY_MAPPED, QUERY_NOT_MAPPED } from '../page-table/cursor.ts';
import type { LeafSlot } from '../page-table/leaf-slot.ts';
import { ACCESS_READ, ACCESS_WRITE, permsAllow, permsToProp, propAllows } from './vm-perms.ts';
import type { Vmar } from './vmar.ts';

/** Outcomes of a page fault: handled, or the signal the process gets (Linux signal numbers). */
export const FAULT_HANDLED = 0;
export const FAULT_SIGBUS = 7;
export const FAULT_SIGSEGV = 11;
export type FaultResult = typeof FAULT_HANDLED | typeof FAULT_SIGBUS | typeof FAULT_SIGSEGV;

/**
 * Reports a handled fault: the `pageFault` observe hook, and the `fault` event (only when
 * someone listens). Kinds are `FaultKind`'s.
 */
function emitFault(vmar: Vmar, m: number, vaddr: number, access: number, kind: FaultKind): void {
  const kernel = vmar.space.kernel;
  const name: FaultAccess = access & ACCESS_WRITE ? 'write' : access & ACCESS_READ ? 'read' : 'exec';
  kernel.hooks.pageFault(vmar, m, vaddr, name, kind);
  if (kernel.events.listenerCount('fault') !== 0) kernel.events.emit('fault', vmar.owner, vaddr, name, kind);
}

/** Pages a faults-around read maps at most (Asterinas: 16 pages, a 64 KiB window). */
export const FAULT_AROUND_PAGES = 16;
/** Entries of a leaf page-table node: faults-around stays inside the faulting page's node. */
const PAGE_TABLE_ENTRIES = 512;

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
 *
 * One page, one node: when the page's leaf node exists, the fault locks that node alone
 * (`LeafSlot`) and works there. A cursor is taken only to create the leaf node, and for
 * a read that maps the pages around an absent one (faults-around).
 */
export function handlePageFault(vmar: Vmar, vaddr: number, access: number): FaultResult {
  const m = vmar.findMapping(vaddr);
  if (m < 0 || !permsAllow(vmar.maps.perms(m), access)) {
    emitFault(vmar, m, vaddr, access, 'segv');
    return FAULT_SIGSEGV;
  }
  const page = vmar.pageSize;
  // Not `vaddr % page`: a floating-point modulo above 2^31 (`vaddr` is in a mapping: >= 0).
  const pageVa = Math.floor(vaddr / page) * page;
  const around = mapsAround(vmar, m, access);
  const slot = vmar.space.pt.leafSlot();
  if (slot.lock(pageVa)) {
    let result: number;
    try {
      result =
        around && slot.kind() === PTE_ABSENT && !windowMapsNothingElse(vmar, m, pageVa)
          ? FAULT_NEEDS_WINDOW
          : faultInSlot(vmar, m, slot, vaddr, access);
    } finally {
      slot.unlock();
    }
    if (result !== FAULT_NEEDS_WINDOW) return result as FaultResult;
  }
  return faultInWindow(vmar, m, vaddr, pageVa, access, around);
}

/**
 * `handlePageFault` where the page has no leaf node or the fault maps around it: through a
 * cursor over the faulting page, or over the faults-around window. (Apart, so that the
 * common case above stays small enough for the compiler to inline what it calls.)
 */
function faultInWindow(
  vmar: Vmar,
  m: number,
  vaddr: number,
  pageVa: number,
  access: number,
  around: boolean,
): FaultResult {
  const page = vmar.pageSize;
  const winStart = around ? aroundStart(vmar, m, pageVa) : pageVa;
  const winEnd = around ? aroundEnd(vmar, m, pageVa, winStart) : pageVa + page;
  const c = vmar.space.cursorMut(winStart, winEnd);
  try {
    return faultWithCursor(vmar, m, c, vaddr, pageVa, access, around, winStart, winEnd);
  } finally {
    c.drop();
  }
}

/**
 * Start of the faults-around window of the page at `pageVa` in mapping `m` (Linux's
 * do_fault_around): a 16-page aligned block clamped to the mapping and to the page-table
 * leaf node (512 pages) holding the page.
 */
function aroundStart(vmar: Vmar, m: number, pageVa: number): number {
  const page = vmar.pageSize;
  const leafStart = pageVa - (pageVa % (PAGE_TABLE_ENTRIES * page));
  return Math.max(pageVa - (pageVa % (FAULT_AROUND_PAGES * page)), vmar.maps.start(m), leafStart);
}

/** End of the faults-around window that starts at `winStart` (see `aroundStart`). */
function aroundEnd(vmar: Vmar, m: number, pageVa: number, winStart: number): number {
  const page = vmar.pageSize;
  const leafStart = pageVa - (pageVa % (PAGE_TABLE_ENTRIES * page));
  return Math.min(
    winStart + FAULT_AROUND_PAGES * page,
    vmar.maps.end(m),
    leafStart + PAGE_TABLE_ENTRIES * page,
  );
}

/**
 * Whether faults-around at the absent page `pageVa` of mapping `m` would map no other page:
 * the object says, for every other page of the window, that it has none to map there
 * (`faultAroundPage`, which answers without changing the object). The fault is then the
 * fault on the page alone, in its leaf node, without the window's cursor; an object without
 * `faultAroundPage` (it commits every page it is asked for) always maps the window.
 */
function windowMapsNothingElse(vmar: Vmar, m: number, pageVa: number): boolean {
  const maps = vmar.maps;
  const vmo = maps.vmo(m)!;
  if (vmo.faultAroundPage === undefined) return false;
  const page = vmar.pageSize;
  const winStart = aroundStart(vmar, m, pageVa);
  const winEnd = aroundEnd(vmar, m, pageVa, winStart);
  for (let va = winStart; va < winEnd; va += page) {
    if (va === pageVa) continue;
    const index = maps.vmoIndex(m, va);
    if (index < vmo.nrPages && vmo.faultAroundPage(index) >= 0) return false;
  }
  return true;
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
  if (m < 0 || !permsAllow(vmar.maps.perms(m), access)) {
    emitFault(vmar, m, vaddr, access, 'segv');
    return FAULT_SIGSEGV;
  }
  if (mapsAround(vmar, m, access)) return FAULT_NEEDS_WINDOW;
  const page = vmar.pageSize;
  const pageVa = Math.floor(vaddr / page) * page;
  c.jump(pageVa);
  return faultWithCursor(vmar, m, c, vaddr, pageVa, access, false, pageVa, pageVa + page);
}

/** Whether a fault in `m` for `access` also maps the pages around (Asterinas's faults-around). */
function mapsAround(vmar: Vmar, m: number, access: number): boolean {
  return access === ACCESS_READ && vmar.maps.faultsAround(m) && vmar.maps.vmoId(m) >= 0;
}

/**
 * The fault once the mapping is known to allow `access`, through `c` over `[winStart,
 * winEnd)`: the page is handled in its leaf node through a slot borrowed from the cursor
 * (which goes down to it, creating it for an absent page only once its frame is known); a
 * read with faults-around then maps the window's absent pages.
 */
function faultWithCursor(
  vmar: Vmar,
  m: number,
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
  if (kind !== QUERY_MAPPED && kind !== QUERY_NOT_MAPPED) {
    emitFault(vmar, m, vaddr, access, 'segv');
    return FAULT_SIGSEGV;
  }
  c.jump(pageVa);
  const slot = vmar.space.pt.leafSlot();
  try {
    if (kind === QUERY_MAPPED) {
      borrowLeafSlot(slot, c);
      return faultOnPresentPage(vmar, m, slot, vaddr, access);
    }
    const result = mapNewPage(vmar, m, slot, c, pageVa, access);
    if (result === FAULT_HANDLED && around) {
      slot.unlock();
      mapAround(vmar, m, c, winStart, winEnd);
    }
    return result;
  } finally {
    slot.unlock();
  }
}

/**
 * Lends `slot` the leaf node `c` reaches at its address (creating it under absent slots).
 * A mapped tracked page is always a base page in a user table (tracked frames are mapped
 * 4 KiB at a time), so no huge leaf lies on the way.
 */
function borrowLeafSlot(slot: LeafSlot, c: CursorMut): void {
  if (!c.enterLeafNode()) fail('BadFrameState', `${formatAddr(c.va)} is mapped by a tracked huge page`);
  slot.borrow(c);
}

/**
 * The fault on the page of `slot` (locked or borrowed), the mapping allowing `access`:
 * an absent page is mapped (`mapNewPage`), the others go to `faultOnPresentPage`.
 */
function faultInSlot(vmar: Vmar, m: number, slot: LeafSlot, vaddr: number, access: number): FaultResult {
  if (slot.kind() === PTE_ABSENT) return mapNewPage(vmar, m, slot, null, slot.va, access);
  return faultOnPresentPage(vmar, m, slot, vaddr, access);
}

/**
 * A fault on the present page of `slot`: an untracked page is `FAULT_SIGSEGV`; a page
 * that allows the access is spurious; one that does not is made writable
 * (`upgradeToWritable`).
 */
function faultOnPresentPage(
  vmar: Vmar,
  m: number,
  slot: LeafSlot,
  vaddr: number,
  access: number,
): FaultResult {
  const prop = slot.prop();
  if (prop & PROP_AVAIL1) {
    emitFault(vmar, m, vaddr, access, 'segv');
    return FAULT_SIGSEGV;
  }
  if (propAllows(prop, access)) {
    emitFault(vmar, m, vaddr, access, 'spurious');
    return FAULT_HANDLED;
  }
  emitFault(vmar, m, vaddr, access, upgradeToWritable(vmar, m, slot, prop));
  return FAULT_HANDLED;
}

/**
 * A write to a present page mapped without W (property `oldProp`), in a mapping that
 * allows writing:
 * - a shared mapping gets W in place (`shared-write`);
 * - a private mapping's page that is still its VMO's own frame (a file or shared-memory
 *   page never written here) is replaced by a private copy (`cow`, emitting `cowBreak`);
 * - any other private page is the process's own: the `privateWriteFault` hook decides (the
 *   copy-on-write plugin copies a frame that fork still shares); without one, the frame is
 *   this page's alone and gets W in place (`reuse`).
 */
function upgradeToWritable(vmar: Vmar, m: number, slot: LeafSlot, oldProp: number): FaultKind {
  const kernel = vmar.space.kernel;
  const pageVa = slot.va;
  const pfn = slot.pfn();
  const prop = oldProp | PROP_W | PROP_ACCESSED | PROP_DIRTY;
  const maps = vmar.maps;
  if (maps.shared(m)) {
    slot.setProp(prop);
    vmar.space.flushPage(pageVa);
    return 'shared-write';
  }
  const vmo = maps.vmo(m);
  const vmoPage = vmo !== null && vmo.pageAt(maps.vmoIndex(m, pageVa)) === pfn;
  if (!vmoPage) {
    const kind = kernel.hooks.privateWriteFault(vmar, m, slot, pfn, prop);
    if (kind !== undefined) return kind;
  }
  if (kernel.events.listenerCount('cowBreak') !== 0)
    kernel.events.emit('cowBreak', vmar.owner, pageVa, vmoPage);
  if (vmoPage) {
    const copy = kernel.frames.alloc();
    kernel.memory.copyFrame(pfn, copy);
    slot.replaceFresh(copy, prop);
  } else {
    slot.setProp(prop);
  }
  vmar.space.flushPage(pageVa);
  return vmoPage ? 'cow' : 'reuse';
}

/**
 * Maps the absent page at `pageVa`: through `slot` if it is locked on the page, else
 * through a slot borrowed from `c` (on the page) once the frame is known, so that a fault
 * ending in `FAULT_SIGBUS` creates no page-table node.
 */
function mapNewPage(
  vmar: Vmar,
  m: number,
  slot: LeafSlot,
  c: CursorMut | null,
  pageVa: number,
  access: number,
): FaultResult {
  const kernel = vmar.space.kernel;
  const maps = vmar.maps;
  const write = (access & ACCESS_WRITE) !== 0;
  let prop = permsToProp(maps.perms(m)) | PROP_ACCESSED | (write ? PROP_DIRTY : 0);
  let pfn: number;
  let owned = false;
  let kind: FaultKind;
  const vmo = maps.vmo(m);
  if (vmo === null) {
    // Frames from the allocator read as zeros.
    pfn = kernel.frames.alloc();
    owned = true;
    kind = 'anon';
  } else {
    const vmoPfn = vmo.commitPage(maps.vmoIndex(m, pageVa));
    if (vmoPfn < 0) {
      emitFault(vmar, m, pageVa, access, 'bus');
      return FAULT_SIGBUS;
    }
    if (write && !maps.shared(m)) {
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
  emitFault(vmar, m, pageVa, access, kind);
  if (c !== null) borrowLeafSlot(slot, c);
  if (owned) slot.mapFresh(pfn, prop);
  else slot.map(pfn, prop);
  vmar.addRss(maps.rssType(m), 1);
  return FAULT_HANDLED;
}

/** The kinds of a faults-around window's pages (`mapAround`'s scratch; a window is at most this long). */
const AROUND_KINDS = new Uint8Array(FAULT_AROUND_PAGES);

/**
 * Maps the absent VMO pages of `[winStart, winEnd)` read-only (faults-around of a read):
 * the window's pages are read in one pass (`queryKinds`), then each absent one is mapped.
 */
function mapAround(vmar: Vmar, m: number, c: CursorMut, winStart: number, winEnd: number): void {
  const maps = vmar.maps;
  const vmo = maps.vmo(m)!;
  const prop = (permsToProp(maps.perms(m)) & ~PROP_W) | PROP_ACCESSED;
  const page = vmar.pageSize;
  const kinds = AROUND_KINDS;
  const nrPages = c.queryKinds(winStart, winEnd, kinds);
  let nrMapped = 0;
  for (let i = 0; i < nrPages; i++) {
    if (kinds[i] !== QUERY_NOT_MAPPED) continue;
    const va = winStart + i * page;
    const index = maps.vmoIndex(m, va);
    if (index >= vmo.nrPages) break;
    const pfn = vmo.faultAroundPage === undefined ? vmo.commitPage(index) : vmo.faultAroundPage(index);
    if (pfn < 0) continue;
    c.jump(va);
    c.map(pfn, prop);
    nrMapped++;
  }
  vmar.addRss(maps.rssType(m), nrMapped);
}
