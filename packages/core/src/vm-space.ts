import type { Kernel } from './kernel/kernel.ts';
import type { Cursor, CursorMut, DirtyPageSink } from './page-table/cursor.ts';
import type { PageTable } from './page-table/page-table.ts';
import type { TlbSpace } from './tlb/tlb.ts';

/**
 * A user address space at the page-table level (OSTD's `VmSpace`): a user page table that
 * shares the kernel half, its address space id in the TLB model, and the TLB flushes that
 * go with changing it.
 *
 * Every helper creates a cursor over exactly the range it touches and drops it before
 * returning, so no lock outlives a call. Whoever changes or removes a PTE through a raw
 * cursor (`cursorMut`) must flush the page before any access can run again (`flushRange`,
 * `flushPage`, `flushAll`), naming the pages: a TLB entry left behind is a stale
 * translation, which `kernel.check()` reports. Flushes requested here come from the CPU the
 * space's running thread is on (`TlbSpace.cpu`).
 */
export class VmSpace {
  readonly pt: PageTable;
  /** The pid of the process owning this address space (-1 until a process takes it), for events. */
  owner = -1;
  /** This space in the kernel's TLB model (its ASID and CPU). */
  readonly tlbSpace: TlbSpace;
  private destroyed = false;

  constructor(readonly kernel: Kernel) {
    this.pt = kernel.newUserPageTable();
    this.tlbSpace = kernel.tlb.newSpace(this.pt.rootPfn);
  }

  /** Lowest and highest-plus-one user address the page table covers. */
  get lower(): number {
    return this.pt.lower;
  }
  get upper(): number {
    return this.pt.upper;
  }

  cursorMut(start: number, end: number): CursorMut {
    return this.pt.cursorMut(start, end);
  }

  cursor(start: number, end: number): Cursor {
    return this.pt.cursor(start, end);
  }

  /**
   * Unmaps `[start, end)` (emitting `unmap`); returns the number of tracked frames unmapped.
   * `dirty`, if given, is told of the dirty pages unmapped (`CursorMut.unmap`).
   */
  unmap(start: number, end: number, dirty: DirtyPageSink | null = null): number {
    const c = this.pt.cursorMut(start, end);
    let n: number;
    try {
      n = c.unmap(end - start, dirty);
    } finally {
      c.drop();
    }
    this.flushRange(start, end, n);
    const events = this.kernel.events;
    if (events.listenerCount('unmap') !== 0) events.emit('unmap', this.owner, start, end - start, n);
    return n;
  }

  /** Rewrites the property of every mapped page in `[start, end)` to `op(prop)` (emitting `protect`). */
  protect(start: number, end: number, op: (prop: number) => number): void {
    const c = this.pt.cursorMut(start, end);
    try {
      c.protect(end - start, op);
    } finally {
      c.drop();
    }
    this.flushRange(start, end, (end - start) / this.kernel.consts.basePageSize);
    const events = this.kernel.events;
    if (events.listenerCount('protect') !== 0) events.emit('protect', this.owner, start, end - start);
  }

  /** Flushes the TLB entries of `[start, end)`, where `nrPages` pages changed (none: nothing to do). */
  flushRange(start: number, end: number, nrPages: number): void {
    const tlb = this.kernel.tlb;
    tlb.flushPages(this.tlbSpace, start, end, nrPages, this.kernel.consts.basePageSize, this.tlbSpace.cpu);
  }

  /** Flushes the TLB entry of the page at `va`. */
  flushPage(va: number): void {
    this.kernel.tlb.flushPage(this.tlbSpace, va, this.kernel.consts.basePageSize, this.tlbSpace.cpu);
  }

  /** Flushes every TLB entry of this address space. */
  flushAll(): void {
    this.kernel.tlb.flushSpace(this.tlbSpace, this.tlbSpace.cpu);
  }

  /** Unmaps everything and frees the page table (the kernel half stays); the ASID is released. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.kernel.destroyUserPageTable(this.pt);
    this.kernel.tlb.releaseSpace(this.tlbSpace);
  }
}
