import { MmError } from '../errors.ts';
import type { Violation } from '../kernel/check.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { ForkStrategyToken } from '../kernel/tokens.ts';
import { VmSpace } from '../vm-space.ts';
import { checkVmar } from '../vmar/check.ts';
import type { MappingTable } from '../vmar/mapping-table.ts';
import { VMA_DONTFORK, VMA_LOCK_MASK, VMA_WIPEONFORK } from '../vmar/vm-mapping.ts';
import { Vmar, type VmarConfig } from '../vmar/vmar.ts';
import type { ForkStrategy } from './fork-strategy.ts';
import { Process } from './process.ts';

export interface ProcessTableConfig {
  /** How fork copies an address space (default: the kernel's `ForkStrategyToken` service). */
  forkStrategy?: ForkStrategy;
  /** Configuration of every process's VMAR. */
  vmar?: VmarConfig;
}

/**
 * The processes of one kernel. Pids are given in creation order from 0 and never reused.
 *
 * Lifetime: `spawn` and `fork` create a process with its own page table; `exit` clears its
 * VMAR (dropping every mapping, page and VMO reference) and destroys its page table, so
 * once every process has exited only the kernel's own frames remain in use.
 */
export class ProcessTable {
  private readonly procs = new Map<number, Process>();
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

  /** Creates a process with an empty address space. */
  spawn(): Process {
    const p = new Process(this.nextPid++, new Vmar(new VmSpace(this.kernel), this.vmarConfig));
    p.vmar.owner = p.pid;
    p.vmar.space.owner = p.pid;
    this.procs.set(p.pid, p);
    return p;
  }

  /**
   * Creates a child of `pid` whose address space is a copy made by the fork strategy, then
   * made what Linux's `dup_mmap` gives: mappings marked don't-fork are gone, wipe-on-fork
   * ones and shared ones (whose pages a fault finds again, so Linux copies no PTE of them)
   * have no pages, nothing is locked, and the break is the parent's.
   */
  fork(pid: number): Process {
    const parent = this.require(pid);
    const child = this.spawn();
    try {
      this.forkStrategy.fork(parent.vmar, child.vmar);
      inheritLinuxFork(parent.vmar, child.vmar);
    } catch (e) {
      this.exit(child.pid);
      throw e;
    }
    return child;
  }

  /** Ends `pid`: its address space is torn down and every frame only it held is freed. */
  exit(pid: number): void {
    const p = this.require(pid);
    p.vmar.clear();
    p.vmar.space.destroy();
    this.procs.delete(pid);
  }

  /**
   * Checks every live VMAR (`checkVmar`), that each VMO's reference count and its entry in
   * the mapping table's VMO table equal the number of mappings, over all processes, that
   * map it, and that the kernel's mapping table holds no mapping outside the processes'
   * VMARs (none leaked).
   */
  check(): Violation[] {
    const out: Violation[] = [];
    const users = new Map<number, number>();
    let nrMappings = 0;
    let maps: MappingTable | undefined;
    for (const p of this.procs.values()) {
      out.push(...checkVmar(p.vmar, `pid ${p.pid}`));
      maps = p.vmar.maps;
      nrMappings += p.vmar.mappings.size;
      for (const m of p.vmar.mappings.values()) {
        const id = maps.vmoId(m);
        if (id >= 0) users.set(id, (users.get(id) ?? 0) + 1);
      }
    }
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
    if (maps.vmos.size !== users.size)
      out.push({
        kind: 'vmo-ref',
        message: `the VMO table holds ${maps.vmos.size} VMOs, mappings use ${users.size}`,
      });
    return out;
  }
}

/**
 * The fork rules that hold whatever the strategy: see `ProcessTable.fork`. Deviation: Linux
 * keeps the child's VMAs exactly as the parent's (and their new `anon_vma`s keep them apart
 * for good), while here mappings that differed only by their lock merge once unlocked, so a
 * resizing mremap across such an edge succeeds in the child where Linux gives `EFAULT`.
 */
function inheritLinuxFork(parent: Vmar, child: Vmar): void {
  const maps = parent.maps;
  for (const m of parent.mappings.values()) {
    const flags = maps.flags(m);
    if (flags & VMA_DONTFORK) child.unmap(maps.start(m), maps.size(m));
    else if (flags & VMA_WIPEONFORK || maps.shared(m)) child.discard(maps.start(m), maps.size(m));
  }
  child.setFlags(child.lowest, child.cap, 0, VMA_LOCK_MASK);
  child.brk = parent.brk;
}
