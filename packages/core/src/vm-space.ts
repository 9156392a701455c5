import type { Kernel } from './kernel/kernel.ts';
import type { Cursor, CursorMut } from './page-table/cursor.ts';
import type { PageTable } from './page-table/page-table.ts';

/**
 * A user address space at the page-table level (OSTD's `VmSpace`): a user page table that
 * shares the kernel half, plus the TLB flushes that go with changing it.
 *
 * Every helper creates a cursor over exactly the range it touches and drops it before
 * returning, so no lock outlives a call. Flushes are counted on the kernel's TLB model
 * after each batch, as OSTD's flusher dispatches them.
 */
export class VmSpace {
  readonly pt: PageTable;
  /** The pid of the process owning this address space (-1 until a process takes it), for events. */
  owner = -1;
  private destroyed = false;

  constructor(readonly kernel: Kernel) {
    this.pt = kernel.newUserPageTable();
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

  /** Unmaps `[start, end)` (emitting `unmap`); returns the number of tracked frames unmapped. */
  unmap(start: number, end: number): number {
    const c = this.pt.cursorMut(start, end);
    let n: number;
    try {
      n = c.unmap(end - start);
    } finally {
      c.drop();
    }
    if (n > 0) this.kernel.tlb.flushRange(n);
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
    this.kernel.tlb.flushRange((end - start) / this.kernel.consts.basePageSize);
    const events = this.kernel.events;
    if (events.listenerCount('protect') !== 0) events.emit('protect', this.owner, start, end - start);
  }

  /** Unmaps everything and frees the page table (the kernel half stays). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.kernel.destroyUserPageTable(this.pt);
    this.kernel.tlb.flushAll();
  }
}
