import { MmError } from '../errors.ts';
import type { Violation } from '../kernel/check.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { ForkStrategyToken } from '../kernel/tokens.ts';
import { VmSpace } from '../vm-space.ts';
import { checkVmar } from '../vmar/check.ts';
import type { MappingTable } from '../vmar/mapping-table.ts';
import { VMA_DONTFORK, VMA_LOCK_MASK } from '../vmar/vm-mapping.ts';
import { Vmar, type VmarConfig } from '../vmar/vmar.ts';
import { type ForkStrategy, forkCopiesPages } from './fork-strategy.ts';
import { Process } from './process.ts';
import { Thread } from './thread.ts';

export interface ProcessTableConfig {
  /** How fork copies an address space (default: the kernel's `ForkStrategyToken` service). */
  forkStrategy?: ForkStrategy;
  /** Configuration of every process's VMAR. */
  vmar?: VmarConfig;
}

/**
 * The processes of one kernel and their threads. Pids and tids come from one counter, in
 * creation order from 0, never reused; a process's first thread has the pid as its tid.
 *
 * Lifetime: `spawn` and `fork` create a process with its own page table and one thread;
 * `clone` adds a thread sharing the address space, `exitThread` removes one and ends the
 * process with its last; `exit` (Linux's `exit_group`) ends every thread at once. Ending a
 * process clears its VMAR (dropping every mapping, page and VMO reference) and destroys its
 * page table, so once every process has exited only the kernel's own frames remain in use.
 *
 * Each live process is an entity of the kernel's control plane (`kernel.control`, found by
 * pid), made by `spawn` and removed by `exit`, tagged `Threaded` exactly while it has more
 * than one live thread.
 */
export class ProcessTable {
  private readonly procs = new Map<number, Process>();
  private readonly threadsByTid = new Map<number, Thread>();
  private nextPid = 0;
  forkStrategy: ForkStrategy;
  private readonly vmarConfig: VmarConfig;

  constructor(
    readonly kernel: Kernel,
    config: ProcessTableConfig = {},
  ) {
    // Resolved once: the copy-on-write plugin provides this service.
    this.forkStrategy = config.forkStrategy ?? kernel.container.resolve<ForkStrategy>(ForkStrategyToken);
    this.vmarConfig = config.vmar ?? {};
    kernel.addChecker(() => this.check());
  }

  /** Live processes, in pid order. */
  get live(): Process[] {
    return [...this.procs.values()];
  }

  get(pid: number): Process | undefined {
    return this.procs.get(pid);
  }

  /** The live process `pid`; throws `InvalidArgument` if there is none. */
  require(pid: number): Process {
    const p = this.procs.get(pid);
    if (p === undefined) throw new MmError('InvalidArgument', `no live process ${pid}`);
    return p;
  }

  /** The live thread `tid`, or undefined. */
  thread(tid: number): Thread | undefined {
    return this.threadsByTid.get(tid);
  }

  /** The live thread `tid`; throws `InvalidArgument` if there is none. */
  requireThread(tid: number): Thread {
    const t = this.threadsByTid.get(tid);
    if (t === undefined) throw new MmError('InvalidArgument', `no live thread ${tid}`);
    return t;
  }

  /** Creates a process with an empty address space and one thread (tid = pid) on its home CPU. */
  spawn(): Process {
    const p = new Process(this.nextPid++, new Vmar(new VmSpace(this.kernel), this.vmarConfig));
    p.vmar.owner = p.pid;
    p.vmar.space.owner = p.pid;
    this.procs.set(p.pid, p);
    this.kernel.control.addProcess(p.pid);
    this.addThread(p, p.pid);
    return p;
  }

  /**
   * `clone(CLONE_VM | CLONE_THREAD)` in process `pid`: a new thread sharing its address space
   * (Linux takes no `mmap_lock` for it). The process's n-th thread runs on CPU
   * `(home CPU + n) mod CPUs` of the TLB model, so threads spread over the CPUs.
   */
  clone(pid: number): Thread {
    return this.addThread(this.require(pid), this.nextPid++);
  }

  private addThread(p: Process, tid: number): Thread {
    const cpus = this.kernel.tlb.config.cpus;
    const t = new Thread(tid, p.pid, (p.vmar.space.tlbSpace.homeCpu + p.nrThreadsCreated++) % cpus);
    p.threads.set(tid, t);
    this.threadsByTid.set(tid, t);
    this.tagThreaded(p);
    return t;
  }

  /**
   * Thread `tid` exits. The address space lives on while another thread of the process does
   * (even when the first thread leaves); the last thread's exit ends the process (`exit`).
   */
  exitThread(tid: number): void {
    const t = this.requireThread(tid);
    const p = this.require(t.pid);
    p.threads.delete(tid);
    this.threadsByTid.delete(tid);
    if (p.threads.size === 0) this.exit(p.pid);
    else this.tagThreaded(p);
  }

  /** Keeps the `Threaded` tag of `p`'s entity equal to "more than one live thread" (touched only when that changes). */
  private tagThreaded(p: Process): void {
    const control = this.kernel.control;
    const eid = control.processEntity(p.pid);
    const threaded = p.threads.size > 1;
    if (control.hasTag(eid, control.Threaded) !== threaded) control.setTag(eid, control.Threaded, threaded);
  }

  /**
   * Creates a child of `pid` whose address space is a copy made by the fork strategy, then
   * made what Linux's `dup_mmap` gives: mappings marked don't-fork are gone, wipe-on-fork
   * ones and shared ones (whose pages a fault finds again, so Linux copies no PTE of them)
   * have no pages, nothing is locked, and the break is the parent's. The child has one
   * thread, whatever the parent has: Linux copies only the thread that calls fork.
   */
  fork(pid: number): Process {
    const parent = this.require(pid);
    const child = this.spawn();
    try {
      this.forkStrategy.fork(parent.vmar, child.vmar);
      inheritLinuxFork(parent.vmar, child.vmar, this.forkStrategy.skipsUncopiedMappings === true);
    } catch (e) {
      this.exit(child.pid);
      throw e;
    }
    return child;
  }

  /**
   * Ends `pid` and all its threads (`exit_group`): its address space is torn down and every
   * frame only it held is freed.
   */
  exit(pid: number): void {
    const p = this.require(pid);
    for (const tid of p.threads.keys()) this.threadsByTid.delete(tid);
    p.threads.clear();
    p.vmar.destroy();
    this.procs.delete(pid);
    this.kernel.control.removeProcess(pid);
  }

  /**
   * Checks every live VMAR (`checkVmar`) and `mmap_lock`; that every live process has a
   * thread and every thread a live process that lists it; that each VMO's reference count
   * and its entry in the mapping table's VMO table equal the number of mappings, over all
   * processes, that map it; and that the kernel's mapping table holds no mapping outside
   * the processes' VMARs (none leaked); that the control plane has an entity for exactly
   * the live processes, tagged `Threaded` exactly when they have more than one thread, and
   * one for exactly the VMOs with an id.
   */
  check(): Violation[] {
    const out: Violation[] = [];
    const users = new Map<number, number>();
    let nrMappings = 0;
    let nrThreads = 0;
    let maps: MappingTable | undefined;
    const control = this.kernel.control;
    if (control.processes().length !== this.procs.size)
      out.push({
        kind: 'entity',
        message: `${control.processes().length} process entities for ${this.procs.size} live processes`,
      });
    for (const p of this.procs.values()) {
      const eid = control.processEntityOrNull(p.pid);
      if (eid < 0) out.push({ kind: 'entity', message: `pid ${p.pid} has no entity` });
      else if (control.hasTag(eid, control.Threaded) !== p.threads.size > 1)
        out.push({
          kind: 'entity',
          message: `pid ${p.pid} has ${p.threads.size} threads but is ${control.hasTag(eid, control.Threaded) ? '' : 'not '}tagged Threaded`,
        });
      out.push(...checkVmar(p.vmar, `pid ${p.pid}`));
      out.push(...p.mmapLock.check(`pid ${p.pid}`));
      if (p.threads.size === 0) out.push({ kind: 'thread', message: `pid ${p.pid} is live with no thread` });
      for (const t of p.threads.values()) {
        nrThreads++;
        if (t.pid !== p.pid || this.threadsByTid.get(t.tid) !== t)
          out.push({ kind: 'thread', message: `thread ${t.tid} of pid ${p.pid} is not in the thread table` });
      }
      maps = p.vmar.maps;
      nrMappings += p.vmar.mappings.size;
      for (const m of p.vmar.mappings.values()) {
        const id = maps.vmoId(m);
        if (id >= 0) users.set(id, (users.get(id) ?? 0) + 1);
      }
    }
    if (nrThreads !== this.threadsByTid.size)
      out.push({
        kind: 'thread',
        message: `${this.threadsByTid.size} threads are listed but live processes have ${nrThreads}`,
      });
    if (maps === undefined) return out;
    for (const [id, n] of users) {
      const vmo = maps.vmos.get(id);
      if (vmo === null || vmo.nrRefs !== n || maps.vmos.usersOf(id) !== n)
        out.push({
          kind: 'vmo-ref',
          message: `VMO ${id} has ${vmo?.nrRefs ?? 0} references and ${maps.vmos.usersOf(id)} users but ${n} mappings`,
        });
    }
    if (maps.nrLive !== nrMappings)
      out.push({
        kind: 'mapping-leak',
        message: `the mapping table holds ${maps.nrLive} mappings, the processes ${nrMappings}`,
      });
    for (const [id] of users)
      if (control.vmoEntityOrNull(id) < 0) out.push({ kind: 'entity', message: `VMO ${id} has no entity` });
    if (control.vmos().length !== maps.vmos.size)
      out.push({
        kind: 'entity',
        message: `${control.vmos().length} VMO entities for ${maps.vmos.size} VMOs with an id`,
      });
    if (maps.vmos.size !== users.size)
      out.push({
        kind: 'vmo-ref',
        message: `the VMO table holds ${maps.vmos.size} VMOs, mappings use ${users.size}`,
      });
    return out;
  }
}

/**
 * The fork rules that hold whatever the strategy: see `ProcessTable.fork`. The mappings
 * whose pages Linux does not copy (`forkCopiesPages`) are emptied here unless the strategy
 * left them without pages (`skipped`). Deviation: Linux
 * keeps the child's VMAs exactly as the parent's (and their new `anon_vma`s keep them apart
 * for good), while here mappings that differed only by their lock merge once unlocked, so a
 * resizing mremap across such an edge succeeds in the child where Linux gives `EFAULT`.
 */
function inheritLinuxFork(parent: Vmar, child: Vmar, skipped: boolean): void {
  const maps = parent.maps;
  const mappings = parent.mappings;
  // The parent's set does not change in this loop (only the child's): no snapshot.
  for (let i = 0; i < mappings.size; i++) {
    const m = mappings.idAt(i);
    if (maps.flags(m) & VMA_DONTFORK) child.unmap(maps.start(m), maps.size(m));
    else if (!skipped && !forkCopiesPages(maps, m)) child.discard(maps.start(m), maps.size(m));
  }
  // `setFlags` leaves a mapping without lock flags alone: called only if one has some.
  if (hasLockFlags(child)) child.setFlags(child.lowest, child.cap, 0, VMA_LOCK_MASK);
  child.brk = parent.brk;
}

/** Whether some mapping of `vmar` has a lock flag (`VMA_LOCK_MASK`). */
function hasLockFlags(vmar: Vmar): boolean {
  const mappings = vmar.mappings;
  for (let i = 0; i < mappings.size; i++) if (vmar.maps.flags(mappings.idAt(i)) & VMA_LOCK_MASK) return true;
  return false;
}
