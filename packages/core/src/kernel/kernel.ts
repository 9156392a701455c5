import 'reflect-metadata';
import { addComponent, addEntity, createWorld, query, removeEntity } from 'bitecs';
import { type DependencyContainer, container as rootContainer } from 'tsyringe';
import type { Arch } from '../arch/arch.ts';
import { CACHE_WRITEBACK, PROP_GLOBAL, PROP_RW, withCache } from '../arch/page-prop.ts';
import { kernelBase, type PagingConsts } from '../arch/paging-consts.ts';
import { MmError } from '../errors.ts';
import { FrameType } from '../frame/frame-type.ts';
import { Frames } from '../frame/frames.ts';
import { createMetaStore, type FrameMetaStore } from '../frame/meta-store.ts';
import { PhysMemory } from '../frame/phys-memory.ts';
import { PageTableContext } from '../page-table/context.ts';
import { releaseNodeChildren } from '../page-table/node.ts';
import { PageTable } from '../page-table/page-table.ts';
import type { TlbConfig } from '../tlb/config.ts';
import { Tlb } from '../tlb/tlb.ts';
import { checkPhysical, type Violation } from './check.ts';
import { KernelEventBus } from './events.ts';
import { type KernelPlugin, PluginDriver, PluginError, type PluginSpec } from './plugin.ts';
import { KernelConfigToken, KernelToken } from './tokens.ts';

/** Default size of physical memory: 1 GiB. */
export const DEFAULT_MEMORY = 1 << 30;
/** Largest supported physical memory: 1 TiB (2^28 frames). */
export const MAX_MEMORY = 2 ** 40;

export interface KernelConfig {
  arch: Arch;
  /** Bytes of physical memory, a multiple of 4 KiB (default 1 GiB). */
  memory?: number;
  /** Storage layout of frame metadata (default `soa`). */
  layout?: string;
  /** Put metadata columns on a `SharedArrayBuffer`. */
  sharedMemory?: boolean;
  /** Debug mode: PTE writes check the node lock. */
  debug?: boolean;
  /** Map all physical memory at the start of the kernel half, as OSTD's linear mapping (default true). */
  linearMapping?: boolean;
  /** Plugins, e.g. `[cow(), pageTableRecycling()]` from `@mmkit/plugins`. */
  plugins?: readonly PluginSpec[];
  /** The TLB model: CPUs, geometry, ASIDs (defaults: 2 CPUs with x86_64-like TLBs, on). */
  tlb?: TlbConfig;
}

/**
 * bitecs components of one kernel's world: live page tables are entities. Components are
 * created per kernel (bitecs stores data in the component objects themselves), so two
 * kernels in one process share no state.
 */
function createComponents() {
  return { PageTableEntity: { table: [] as PageTable[] }, UserPageTableTag: {} };
}

/**
 * A kernel: physical memory with its frames and metadata, the kernel page table, the TLB
 * model and the registry of live page tables (a bitecs world).
 *
 * Frames in use right after boot (metadata pages, kernel page-table nodes) are the kernel's
 * own; `nrBootFrames` records how many, so tests can check that everything else returns
 * to the allocator.
 */
export class Kernel {
  readonly arch: Arch;
  readonly consts: PagingConsts;
  readonly meta: FrameMetaStore;
  readonly memory: PhysMemory;
  readonly frames: Frames;
  readonly ctx: PageTableContext;
  readonly kernelPageTable: PageTable;
  readonly tlb: Tlb;
  readonly world = createWorld();
  private readonly components = createComponents();
  /** The kernel's typed event bus. */
  readonly events = new KernelEventBus();
  /** The installed plugins and their hooks. */
  readonly plugins = new PluginDriver();
  /** The kernel's own dependency-injection container (a child of the global one). */
  readonly container: DependencyContainer;
  /** First frame of the metadata pages and their number. */
  readonly metaPagesStart: number;
  readonly nrMetaPages: number;
  /** Frames in use when boot finished. */
  readonly nrBootFrames: number;
  /** First virtual address of the linear mapping of physical memory (if any). */
  readonly linearMappingBase: number;
  private readonly tableEntities = new Map<PageTable, number>();
  /** Invariant checks of the layers above the page tables (address spaces, plugins). */
  private readonly checkers: (() => Violation[])[] = [];

  constructor(config: KernelConfig) {
    const memory = config.memory ?? DEFAULT_MEMORY;
    const arch = config.arch;
    if (arch === undefined || arch.consts === undefined || arch.codec === undefined) {
      throw new MmError(
        'InvalidConfig',
        'config.arch must be an architecture (e.g. x86_64 from @mmkit/arch-x86_64)',
      );
    }
    const page = arch.consts.basePageSize;
    if (!Number.isSafeInteger(memory) || memory < 64 * page || memory % page !== 0 || memory > MAX_MEMORY) {
      throw new MmError(
        'InvalidConfig',
        `memory must be a multiple of ${page} bytes between 256 KiB and 1 TiB, got ${memory}`,
      );
    }
    this.arch = arch;
    this.tlb = new Tlb(config.tlb);
    this.consts = arch.consts;
    const nrFrames = memory / page;
    this.meta = createMetaStore(config.layout ?? 'soa', nrFrames, { shared: config.sharedMemory });
    this.memory = new PhysMemory(nrFrames);
    this.frames = new Frames(this.meta, this.memory);
    this.ctx = new PageTableContext(arch, this.frames, this.meta, this.memory);
    this.ctx.debug = config.debug ?? false;
    this.frames.setDropHook(FrameType.PageTable, (pfn) => releaseNodeChildren(this.ctx, pfn));
    this.frames.events = this.events;
    this.tlb.onFlush = (kind, nrPages) => {
      if (this.events.listenerCount('tlbFlush') !== 0) this.events.emit('tlbFlush', kind, nrPages);
    };
    this.container = rootContainer.createChildContainer();
    this.container.register(KernelToken, { useValue: this });
    this.container.register(KernelConfigToken, { useValue: config });

    // The metadata slots occupy frames of their own, as in Asterinas.
    this.nrMetaPages = Math.ceil((nrFrames * this.meta.bytesPerFrame) / page);
    this.metaPagesStart = this.frames.allocContiguous(this.nrMetaPages, 1, FrameType.MetaPage);

    this.kernelPageTable = PageTable.createKernel(this.ctx);
    this.linearMappingBase = kernelBase(this.consts);
    if (config.linearMapping ?? true) {
      const c = this.kernelPageTable.cursorMut(this.linearMappingBase, this.linearMappingBase + memory);
      try {
        c.mapPhys(0, nrFrames, withCache(PROP_RW | PROP_GLOBAL, CACHE_WRITEBACK));
      } finally {
        c.drop();
      }
    }
    this.nrBootFrames = this.frames.nrInUse;
  }

  /** Creates a user page table (sharing the kernel half) and registers it. */
  newUserPageTable(): PageTable {
    const table = PageTable.createUser(this.ctx, this.kernelPageTable);
    const eid = addEntity(this.world);
    const { PageTableEntity, UserPageTableTag } = this.components;
    addComponent(this.world, eid, PageTableEntity);
    addComponent(this.world, eid, UserPageTableTag);
    PageTableEntity.table[eid] = table;
    this.tableEntities.set(table, eid);
    return table;
  }

  /** Destroys a user page table: all its nodes and the frames only it referenced are freed. */
  destroyUserPageTable(table: PageTable): void {
    const eid = this.tableEntities.get(table);
    if (eid === undefined) throw new MmError('InvalidArgument', 'not a live user page table of this kernel');
    table.destroy();
    this.tableEntities.delete(table);
    removeEntity(this.world, eid);
  }

  /** Live user page tables. */
  userPageTables(): PageTable[] {
    const out: PageTable[] = [];
    const { PageTableEntity, UserPageTableTag } = this.components;
    for (const eid of query(this.world, [PageTableEntity, UserPageTableTag]))
      out.push(PageTableEntity.table[eid]);
    return out;
  }

  get debug(): boolean {
    return this.ctx.debug;
  }

  /**
   * Adds the invariant checks of a layer built on this kernel (e.g. the process table's
   * VMAR checks); `check()` runs them after the physical layer's. Returns a function that
   * removes them again.
   */
  addChecker(checker: () => Violation[]): () => void {
    this.checkers.push(checker);
    return () => {
      const i = this.checkers.indexOf(checker);
      if (i >= 0) this.checkers.splice(i, 1);
    };
  }

  /**
   * Checks every invariant: the physical layer's, the registered checkers' and the `check`
   * hooks of plugins (each returns a list of violations). Returns them all (empty when all
   * is well).
   */
  check(): Violation[] {
    const out = checkPhysical(this.ctx, this.kernelPageTable, this.userPageTables());
    out.push(...this.tlb.check(this.ctx));
    for (const checker of this.checkers) out.push(...checker());
    for (const plugin of this.plugins.with('check')) {
      out.push(...((plugin as unknown as { check(): Violation[] }).check() ?? []));
    }
    return out;
  }
}

/**
 * Creates a kernel and composes it from its plugins: each plugin class is resolved in the
 * kernel's own container (so two kernels share no state), then every `install` hook runs in
 * list order. A plugin that fails is reported with its name and the hook.
 */
export function createKernel(config: KernelConfig): Kernel {
  const kernel = new Kernel(config);
  for (const spec of config.plugins ?? []) {
    if (spec === null || typeof spec !== 'object' || typeof spec.pluginClass !== 'function') {
      throw new MmError(
        'InvalidConfig',
        'config.plugins must hold plugin specs such as cow() from @mmkit/plugins',
      );
    }
    if (spec.optionsToken !== undefined)
      kernel.container.register(spec.optionsToken, { useValue: spec.options ?? {} });
    let plugin: KernelPlugin;
    try {
      plugin = kernel.container.resolve(spec.pluginClass);
    } catch (e) {
      throw new PluginError(spec.name, 'constructor', e);
    }
    kernel.plugins.add(plugin);
  }
  kernel.plugins.each('install', kernel);
  return kernel;
}
