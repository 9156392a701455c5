import type { Kernel } from '@mmkit/core';

/**
 * Statistics of a run: plain counters fed by the kernel's events and by the workload.
 * Listeners are attached only for the duration of the run (`attach` / `detach`).
 */
export class RunStats {
  readonly ops = new Map<string, number>();
  readonly faults = new Map<string, number>();
  cowCopies = 0;
  cowReclaims = 0;
  pageCacheLoads = 0;
  pageCacheRemovals = 0;
  pageCacheWritebacks = 0;
  private readonly detachers: (() => void)[] = [];

  op(kind: string): void {
    this.ops.set(kind, (this.ops.get(kind) ?? 0) + 1);
  }

  get nrOps(): number {
    let n = 0;
    for (const v of this.ops.values()) n += v;
    return n;
  }

  get nrFaults(): number {
    let n = 0;
    for (const v of this.faults.values()) n += v;
    return n;
  }

  attach(kernel: Kernel): void {
    const ev = kernel.events;
    const onFault = (_pid: number, _va: number, _access: string, kind: string) => {
      this.faults.set(kind, (this.faults.get(kind) ?? 0) + 1);
    };
    const onCow = (_pid: number, _va: number, copied: boolean) => {
      if (copied) this.cowCopies++;
      else this.cowReclaims++;
    };
    const onLoad = () => this.pageCacheLoads++;
    const onRemove = () => this.pageCacheRemovals++;
    const onWriteback = () => this.pageCacheWritebacks++;
    ev.on('fault', onFault);
    ev.on('cowBreak', onCow);
    ev.on('pageCacheLoad', onLoad);
    ev.on('pageCacheRemove', onRemove);
    ev.on('pageCacheWriteback', onWriteback);
    this.detachers.push(() => {
      ev.off('fault', onFault);
      ev.off('cowBreak', onCow);
      ev.off('pageCacheLoad', onLoad);
      ev.off('pageCacheRemove', onRemove);
      ev.off('pageCacheWriteback', onWriteback);
    });
  }

  detach(): void {
    for (const d of this.detachers.splice(0)) d();
  }
}
