import type { SharedKernelState } from '@mmkit/core';

/**
 * A byte copy of every shared buffer of a kernel (metadata, pages, allocator, counts),
 * taken once and written back before each schedule: every schedule starts from the same
 * kernel state, so that the frames it allocates, and so its whole run, depend on its seed
 * alone. Only the CPUs' and the scheduler's views' private state (statistics, TLB models)
 * is outside it; none of that steers a cursor.
 */
export class SharedSnapshot {
  private readonly views: Uint8Array[];
  private readonly copies: Uint8Array[];

  constructor(state: SharedKernelState) {
    const buffers = [
      ...state.meta,
      state.phys.pages,
      state.phys.slots,
      state.phys.backed,
      state.allocator.bits,
      state.allocator.state,
      state.inUseByType,
    ];
    this.views = buffers.map((b) => new Uint8Array(b));
    this.copies = this.views.map((v) => v.slice());
  }

  restore(): void {
    for (let i = 0; i < this.views.length; i++) this.views[i].set(this.copies[i]);
  }
}
