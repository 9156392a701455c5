import 'reflect-metadata';
import { addComponent, addEntity, createWorld, query, removeEntity } from 'bitecs';
import { type DependencyContainer, container as rootContainer } from 'tsyringe';
import type { Arch } from '../arch/arch.ts';
import { CACHE_WRITEBACK, PROP_GLOBAL, PROP_RW, withCache } from '../arch/page-prop.ts';
import { kernelBase, type PagingConsts } from '../arch/paging-consts.ts';
import { createStore, type LayoutChoice, resolveLayout } from '../ecs/layout.ts';
import type { ComponentSchema } from '../ecs/schema.ts';
import type { ComponentStore, LayoutFactory } from '../ecs/store.ts';
import { MmError } from '../errors.ts';
import { FrameAllocator, type FrameAllocatorBuffers } from '../frame/allocator.ts';
import { FrameType } from '../frame/frame-type.ts';
import { Frames, inUseByTypeBytes, type SharedFrames } from '../frame/frames.ts';
import type { FrameMetaStore } from '../frame/meta-store.ts';
import { PhysMemory, type PhysMemoryBuffers } from '../frame/phys-memory.ts';
import { MAX_OWNER_BLOCKS, PageTableContext } from '../page-table/context.ts';
import { releaseNodeChildren } from '../page-table/node.ts';
import { NodeReclaim } from '../page-table/node-reclaim.ts';
import { PageTable } from '../page-table/page-table.ts';
import type { TlbConfig } from '../tlb/config.ts';
import type { Tlb } from '../tlb/tlb.ts';
import { checkPhysical, type Violation } from './check.ts';
import { ControlPlane } from './control-plane.ts';
import { KernelEventBus } from './events.ts';
import type { KernelHookTable } from './hooks.ts';
import { type KernelPlugin, PluginDriver, PluginError, type PluginSpec } from './plugin.ts';
import { defaultServices, type KernelServices, resolveServices, type ServiceOverrides } from './services.ts';
import {
  ArchToken,
  EventsToken,
  ForkStrategyToken,
  FrameAllocatorToken,
  FramesToken,
  KernelConfigToken,
  KernelToken,
  LockProtocolToken,
  MetaStoreToken,
  PageTableContextToken,
  PhysMemoryToken,
  TlbToken,
} from './tokens.ts';

/** Default size of physical memory: 1 GiB. */
export const DEFAULT_MEMORY = 1 << 30;
/** Largest supported physical memory: 1 TiB (2^28 frames). */
export const MAX_MEMORY = 2 ** 40;

export interface KernelConfig {
  arch: Arch;
  /** Bytes of physical memory, a multiple of 4 KiB (default 1 GiB). */
  memory?: number;
  /**
   * Storage layout of every component family (frame and node metadata, plugin families such
   * as page-cache slots): `soa` (default), `aos`, `object`, or a user's `LayoutFactory`.
   */
  layout?: LayoutChoice | string;
  /** Put the families' typed arrays on `SharedArrayBuffer`s. */
  sharedMemory?: boolean;
  /** Debug mode: PTE writes check the node lock. */
  debug?: boolean;
  /** Map all physical memory at the start of the kernel half, as OSTD's linear mapping (default true). */
  linearMapping?: boolean;
  /** Plugins, e.g. `[cow(), pageTableRecycling()]` from `@mmkit/plugins`. */
  plugins?: readonly PluginSpec[];
  /** Services replacing the defaults (see `KernelServices`). */
  services?: ServiceOverrides;
  /** Options per plugin name, over each spec's own (every name must be a listed plugin). */
  pluginOptions?: Readonly<Record<string, object>>;
  /** The TLB model: CPUs, geometry, ASIDs (defaults: 2 CPUs with x86_64-like TLBs, on). */
  tlb?: TlbConfig;
  /**
   * Attach mode: build a view of a kernel that already runs on shared memory (its
   * `sharedState()`, typically in a worker thread) instead of booting one. `memory` and
   * `layout` must be the booted kernel's; `sharedMemory` is implied.
   */
  attach?: SharedKernelState;
}

/**
 * Everything another thread needs to attach a view to a kernel on shared memory
 * (`Kernel.sharedState()`; structured-clonable, the buffers are shared, not copied).
 */
export interface SharedKernelState {
  readonly memory: number;
  readonly meta: readonly ArrayBufferLike[];
  readonly phys: PhysMemoryBuffers;
  readonly allocator: FrameAllocatorBuffers;
  readonly inUseByType: SharedArrayBuffer;
  /** The epochs of the deferred free of detached nodes (`NodeReclaim`). */
  readonly reclaimEpochs: SharedArrayBuffer;
  readonly kernelRoot: number;
  readonly metaPagesStart: number;
  readonly nrMetaPages: number;
  readonly nrBootFrames: number;
  /** The view's owner-id block (`PageTableContext.setOwnerBlock`): one per thread, 0 is the booting kernel's. */
  readonly ownerBlock: number;
}

/** Every `KernelConfig` field (the compiler checks the list is complete). */
const CONFIG_KEYS = Object.keys({
  arch: true,
  memory: true,
  layout: true,
  sharedMemory: true,
  debug: true,
  linearMapping: true,
  plugins: true,
  services: true,
  pluginOptions: true,
  tlb: true,
  attach: true,
} satisfies Record<keyof KernelConfig, true>);

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
  /** The storage layout of every component family of this kernel. */
  readonly layout: LayoutFactory;
  private readonly sharedMemory: boolean;
  private readonly sharedFrames: SharedFrames | null;
  readonly meta: FrameMetaStore;
  readonly memory: PhysMemory;
  readonly frames: Frames;
  readonly ctx: PageTableContext;
  readonly kernelPageTable: PageTable;
  readonly tlb: Tlb;
  readonly world = createWorld();
  private readonly components = createComponents();
  /** Processes and VMOs as entities of `world`, with their tags. */
  readonly control = new ControlPlane(this.world);
  /** The kernel's typed event bus. */
  readonly events = new KernelEventBus();
  /** The installed plugins and their hooks. */
  readonly plugins = new PluginDriver();
  /** The kernel's own dependency-injection container (a child of the global one): services and plugins. */
  readonly container: DependencyContainer;
  /** The hot hooks, bound once when the kernel is composed (no-ops until then). */
  hooks: KernelHookTable;
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

  /**
   * Boots a kernel with `services` (the defaults when omitted). Plugins are composed by
   * `createKernel`, which is how kernels are normally made.
   */
  constructor(config: KernelConfig, services: KernelServices = defaultServices(config.layout ?? 'soa')) {
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
    this.consts = arch.consts;
    const nrFrames = memory / page;
    this.layout = resolveLayout(config.layout ?? 'soa');
    const attach = config.attach;
    if (attach !== undefined && attach.memory !== memory)
      throw new MmError(
        'InvalidConfig',
        `attach: the shared kernel has ${attach.memory} bytes of memory, not ${memory}`,
      );
    const shared = attach !== undefined || (config.sharedMemory ?? false);
    this.sharedMemory = shared;
    this.meta = services.metaStore(nrFrames, { shared, attach: attach?.meta });
    this.memory = new PhysMemory(nrFrames, { shared, attach: attach?.phys });
    const allocator = services.frameAllocator(nrFrames, { shared, attach: attach?.allocator });
    // Thread-safe frames need count columns to use `Atomics` on and an allocator that shares
    // its state; otherwise shared memory covers the lock words only and no thread can attach.
    const threadSafe = shared && this.meta.column !== undefined && allocator instanceof FrameAllocator;
    if (attach !== undefined && !threadSafe)
      throw new MmError('InvalidConfig', 'attach needs the soa or aos layout and the bitmap frame allocator');
    const sharedFrames = threadSafe
      ? {
          inUseByType: attach?.inUseByType ?? new SharedArrayBuffer(inUseByTypeBytes(MAX_OWNER_BLOCKS)),
          view: attach?.ownerBlock ?? 0,
          attach: attach !== undefined,
        }
      : null;
    this.frames = new Frames(this.meta, this.memory, allocator, sharedFrames);
    this.sharedFrames = sharedFrames;
    this.ctx = new PageTableContext(arch, this.frames, this.meta, this.memory);
    if (threadSafe)
      this.ctx.shareReclaim(
        attach?.reclaimEpochs ?? NodeReclaim.sharedBuffer(MAX_OWNER_BLOCKS),
        attach !== undefined,
      );
    if (attach !== undefined) {
      this.ctx.enterSmp();
      this.ctx.setOwnerBlock(attach.ownerBlock);
    } else if (threadSafe) this.ctx.setOwnerBlock(0);
    this.ctx.lockProtocol = services.lockProtocol;
    this.hooks = this.ctx.hooks;
    this.tlb = services.tlb(config.tlb);
    this.ctx.debug = config.debug ?? false;
    this.frames.setDropHook(FrameType.PageTable, (pfn) => releaseNodeChildren(this.ctx, pfn));
    this.frames.events = this.events;
    this.tlb.onFlush = (kind, nrPages) => {
      if (this.events.listenerCount('tlbFlush') !== 0) this.events.emit('tlbFlush', kind, nrPages);
    };
    this.container = rootContainer.createChildContainer();
    this.container.register(KernelToken, { useValue: this });
    this.container.register(KernelConfigToken, { useValue: config });
    this.container.register(ArchToken, { useValue: arch });
    this.container.register(MetaStoreToken, { useValue: this.meta });
    this.container.register(PhysMemoryToken, { useValue: this.memory });
    this.container.register(FrameAllocatorToken, { useValue: allocator });
    this.container.register(FramesToken, { useValue: this.frames });
    this.container.register(PageTableContextToken, { useValue: this.ctx });
    this.container.register(TlbToken, { useValue: this.tlb });
    this.container.register(LockProtocolToken, { useValue: services.lockProtocol });
    this.container.register(EventsToken, { useValue: this.events });
    this.container.register(ForkStrategyToken, { useValue: services.forkStrategy });

    this.linearMappingBase = kernelBase(this.consts);
    if (attach !== undefined) {
      this.nrMetaPages = attach.nrMetaPages;
      this.metaPagesStart = attach.metaPagesStart;
      this.kernelPageTable = PageTable.attach(this.ctx, attach.kernelRoot, true);
      this.nrBootFrames = attach.nrBootFrames;
      return;
    }
    // The metadata slots occupy frames of their own, as in Asterinas.
    this.nrMetaPages = Math.ceil((nrFrames * this.meta.bytesPerEntity) / page);
    this.metaPagesStart = this.frames.allocContiguous(this.nrMetaPages, 1, FrameType.MetaPage);

    this.kernelPageTable = PageTable.createKernel(this.ctx);
    if (config.linearMapping ?? true) {
      const c = this.kernelPageTable.cursorMut(this.linearMappingBase, this.linearMappingBase + memory);
      try {
        c.mapPhys(0, nrFrames, withCache(PROP_RW | PROP_GLOBAL, CACHE_WRITEBACK));
      } finally {
        c.drop();
      }
    }
    // Boot leaves no frame in this view's cache: views attached later see them all free.
    this.frames.flushCaches();
    this.nrBootFrames = this.frames.nrInUse;
  }

  /**
   * Whether this kernel is in SMP mode: other views (threads) may share its memory, so
   * reference and handle counts, allocator state, which frames hold data, node lock words
   * and the deferred free's epochs change with `Atomics`. False for a kernel on private buffers and
   * for one on shared memory that has one view (UP mode: the same shared words change with
   * plain accesses, as Linux runs without `lock` prefixes while one CPU is online); true from
   * `sharedState()` on, and for a view built with `attach` from the start. One-way.
   */
  get smp(): boolean {
    return this.ctx.smp;
  }

  /**
   * What a worker thread needs to attach a view of this kernel (`KernelConfig.attach`),
   * with owner-id block `ownerBlock` (1 .. `MAX_OWNER_BLOCKS - 1`, one per thread). Needs a
   * kernel booted with `sharedMemory: true` on the soa or aos layout and the bitmap
   * allocator. A view sees the frames, page tables and lock words; page tables made
   * by one view are reached in another with `PageTable.attach(view.ctx, rootPfn, false)`.
   *
   * Puts this kernel in SMP mode (`smp`) before it returns, for good: a view handed out may
   * attach at any later time, on another thread, so from now on every shared word changes
   * with `Atomics`. What UP mode wrote before with plain stores reaches that thread through
   * the hand-over: a worker started with the state in its `workerData` (or sent it by
   * `postMessage`) runs after the message, which orders the earlier writes before its reads.
   */
  sharedState(ownerBlock = 1): SharedKernelState {
    const buffers = this.meta.buffers?.();
    if (this.sharedFrames === null || buffers === undefined)
      throw new MmError('InvalidArgument', 'this kernel is not on thread-safe shared memory');
    this.frames.enterSmp();
    this.ctx.enterSmp();
    return {
      memory: this.frames.nrFrames * this.consts.basePageSize,
      meta: buffers,
      phys: this.memory.buffers(),
      allocator: (this.frames.allocator as FrameAllocator).buffers(),
      inUseByType: this.sharedFrames.inUseByType,
      reclaimEpochs: this.ctx.reclaim.buffer() as SharedArrayBuffer,
      kernelRoot: this.kernelPageTable.rootPfn,
      metaPagesStart: this.metaPagesStart,
      nrMetaPages: this.nrMetaPages,
      nrBootFrames: this.nrBootFrames,
      ownerBlock,
    };
  }

  /**
   * A store of `schema` in this kernel's layout (and shared memory setting), for
   * `capacity` entities: how plugins keep their component families.
   */
  createStore<S extends ComponentSchema>(schema: S, capacity: number): ComponentStore<S> {
    return createStore(this.layout, schema, capacity, { shared: this.sharedMemory });
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
    out.push(...this.control.check());
    for (const checker of this.checkers) out.push(...checker());
    out.push(...this.plugins.collectViolations());
    return out;
  }

  /** Binds the hot hooks of the installed plugins (once, when the kernel is composed). */
  bindHooks(): void {
    this.hooks = this.plugins.bindHot();
    this.ctx.hooks = this.hooks;
  }
}

/**
 * Creates a kernel and composes it from its plugins:
 * 1. the config is validated (an unknown key, plugin option or `pluginOptions` name is an
 *    `InvalidConfig` error naming it);
 * 2. services are chosen: the defaults, replaced by `config.services` and by the plugins'
 *    `services` (two sources replacing one service is an error), and the kernel boots on them;
 * 3. each plugin class is resolved in the kernel's own container (so two kernels share no
 *    state) with its options; a plugin that `provides` service tokens is registered under them;
 * 4. every `install` hook runs in list order, then the hot hooks are bound.
 * A plugin that fails is reported with its name and the hook.
 */
export function createKernel(config: KernelConfig): Kernel {
  if (config === null || typeof config !== 'object')
    throw new MmError('InvalidConfig', 'the kernel config must be an object');
  for (const key of Object.keys(config)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key))
      throw new MmError(
        'InvalidConfig',
        `unknown kernel config option '${key}' (known: ${CONFIG_KEYS.join(', ')})`,
      );
  }
  const specs = config.plugins ?? [];
  for (const spec of specs) {
    if (spec === null || typeof spec !== 'object' || typeof spec.pluginClass !== 'function') {
      throw new MmError(
        'InvalidConfig',
        'config.plugins must hold plugin specs such as cow() from @mmkit/plugins',
      );
    }
  }
  const pluginOptions = config.pluginOptions ?? {};
  for (const name of Object.keys(pluginOptions)) {
    if (!specs.some((spec) => spec.name === name))
      throw new MmError('InvalidConfig', `pluginOptions: no plugin named '${name}' is listed`);
  }
  const services = resolveServices(defaultServices(config.layout ?? 'soa'), [
    { from: 'config.services', services: config.services ?? {} },
    ...specs.map((spec) => ({ from: `plugin '${spec.name}'`, services: spec.services ?? {} })),
  ]);
  const kernel = new Kernel(config, services);
  for (const spec of specs) {
    const options = { ...spec.options, ...pluginOptions[spec.name] };
    if (spec.optionNames !== undefined) {
      for (const key of Object.keys(options)) {
        if (!(spec.optionNames as readonly string[]).includes(key))
          throw new MmError(
            'InvalidConfig',
            `plugin '${spec.name}': unknown option '${key}' (known: ${spec.optionNames.join(', ') || 'none'})`,
          );
      }
    }
    if (spec.optionsToken !== undefined) kernel.container.register(spec.optionsToken, { useValue: options });
    let plugin: KernelPlugin;
    try {
      plugin = kernel.container.resolve(spec.pluginClass);
    } catch (e) {
      throw new PluginError(spec.name, 'constructor', e);
    }
    kernel.plugins.add(plugin);
    for (const token of spec.provides ?? []) kernel.container.register(token, { useValue: plugin });
  }
  kernel.plugins.each('install');
  kernel.bindHooks();
  return kernel;
}
