/**
 * A thread of a process (a task created by `clone` with `CLONE_VM`): it shares its process's
 * address space and `mmap_lock` and runs on one CPU of the kernel's TLB model. Thread ids
 * come from the same counter as process ids (a process's first thread has the pid as its
 * tid), as in Linux.
 */
export class Thread {
  /** Operations the thread ran, by kind (mmap, store, fault, …). */
  readonly opsByKind = new Map<string, number>();
  nrOps = 0;

  constructor(
    readonly tid: number,
    readonly pid: number,
    readonly cpu: number,
  ) {}

  /** Counts one operation of `kind`. */
  countOp(kind: string): void {
    this.nrOps++;
    this.opsByKind.set(kind, (this.opsByKind.get(kind) ?? 0) + 1);
  }
}
