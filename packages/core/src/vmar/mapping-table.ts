import type { ComponentSchema, ComponentStore } from '../ecs/index.ts';
import { createStore } from '../ecs/layout.ts';
import { MmError } from '../errors.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { MappingView, RSS_ANON, RSS_FILE, VMA_LOCKED } from './vm-mapping.ts';
import type { Vmo } from './vmo.ts';
import { VmoTable } from './vmo-table.ts';

/**
 * A mapping (a VMA) as a component: `[start, end)` with rights, sharing and a backing.
 *
 * Backing: anonymous (`vmo === -1`: private zero-filled pages allocated on first touch) or
 * the VMO of id `vmo` (in `MappingTable.vmos`), whose page `vmoPage` is mapped at `start`
 * (page `vmoPage + i` at `start + i * pageSize`).
 */
export const MAPPING_SCHEMA = {
  name: 'mapping',
  fields: {
    start: { kind: 'f64' },
    end: { kind: 'f64' },
    /** Page index in the VMO of the page at `start` (0 without a VMO). */
    vmoPage: { kind: 'f64' },
    /** `VMA_*` flags. */
    flags: { kind: 'u32' },
    /** Id of the backing VMO in the table's `vmos`, -1 for anonymous memory. */
    vmo: { kind: 'i32', initial: -1 },
    /** `VM_*` rights and may-rights. */
    perms: { kind: 'u16' },
    /** `MAP_SHARED`: writes reach the VMO and fork shares the pages (`shared` names a store member). */
    isShared: { kind: 'bool' },
    /** Read faults also map the neighbouring pages of the VMO. */
    faultsAround: { kind: 'bool' },
  },
} as const satisfies ComponentSchema;

export type MappingStore = ComponentStore<typeof MAPPING_SCHEMA>;

/** Mappings a kernel's table starts with room for (it doubles as needed). */
const INITIAL_CAPACITY = 256;

/**
 * Every mapping of one kernel (all its VMARs), as entities of `MAPPING_SCHEMA` in the
 * kernel's layout: a mapping is an id, its fields are read and written through the store.
 *
 * Lifetime, as the VMAR uses it: `create`/`slice`/`relocated` allocate an id (from a LIFO
 * free list, growing the store when it is full) and take one reference to the VMO, if
 * any; `dispose` drops it and frees the id. A mapping's range and backing never change
 * while it is in a VMAR's interval set: splitting, protecting or growing make new ids.
 *
 * Invariants: `live[id]` is 1 exactly for allocated ids; `nrLive` counts them; the free
 * list (as long as the store's capacity) holds every other id below `capacity` once.
 */
export class MappingTable {
  readonly store: MappingStore;
  /** The VMOs mappings refer to (the `vmo` field is an id there). */
  readonly vmos: VmoTable;
  private live: Uint8Array;
  private freeIds: Int32Array;
  private nrFree = 0;
  private liveCount = 0;

  constructor(
    kernel: Pick<Kernel, 'layout'> & Partial<Pick<Kernel, 'control'>>,
    readonly pageSize: number,
  ) {
    this.vmos = new VmoTable(kernel.control);
    this.store = createStore(kernel.layout, MAPPING_SCHEMA, INITIAL_CAPACITY);
    this.live = new Uint8Array(INITIAL_CAPACITY);
    this.freeIds = new Int32Array(INITIAL_CAPACITY);
    this.pushFree(0, INITIAL_CAPACITY);
  }

  /** Number of allocated mappings. */
  get nrLive(): number {
    return this.liveCount;
  }

  /** Ids below it exist in the store. */
  get capacity(): number {
    return this.store.capacity;
  }

  /** Whether `id` is an allocated mapping. */
  isLive(id: number): boolean {
    return id >= 0 && id < this.live.length && this.live[id] === 1;
  }

  // ---- fields (one store access each) ----

  start(id: number): number {
    return this.store.start(id);
  }
  end(id: number): number {
    return this.store.end(id);
  }
  perms(id: number): number {
    return this.store.perms(id);
  }
  flags(id: number): number {
    return this.store.flags(id);
  }
  shared(id: number): boolean {
    return this.store.isShared(id);
  }
  vmoPage(id: number): number {
    return this.store.vmoPage(id);
  }
  faultsAround(id: number): boolean {
    return this.store.faultsAround(id);
  }
  /** Id of the backing VMO, -1 for anonymous memory. */
  vmoId(id: number): number {
    return this.store.vmo(id);
  }
  /** The backing VMO, null for anonymous memory. */
  vmo(id: number): Vmo | null {
    return this.vmos.get(this.store.vmo(id));
  }

  // ---- derived ----

  size(id: number): number {
    return this.store.end(id) - this.store.start(id);
  }

  /** `RSS_FILE` for VMO-backed mappings, `RSS_ANON` for private anonymous ones. */
  rssType(id: number): number {
    return this.store.vmo(id) < 0 ? RSS_ANON : RSS_FILE;
  }

  /** Shared anonymous memory (Linux's shmem): a mapping of an anonymous VMO. */
  isShmem(id: number): boolean {
    return this.vmo(id)?.anonymous === true;
  }

  /** Whether the mapping is locked (`VM_LOCKED`): the page cache's removal treats it as pinned. */
  locked(id: number): boolean {
    return (this.store.flags(id) & VMA_LOCKED) !== 0;
  }

  /** Page index in the VMO backing the page at `vaddr`. */
  vmoIndex(id: number, vaddr: number): number {
    return this.store.vmoPage(id) + Math.floor((vaddr - this.store.start(id)) / this.pageSize);
  }

  /**
   * Whether `next`, starting where `id` ends, could be the same mapping: same rights,
   * flags, sharing and faults-around, and either both anonymous or the same VMO at
   * contiguous pages (Asterinas's `try_merge` rule).
   */
  canMerge(id: number, next: number): boolean {
    const s = this.store;
    if (s.end(id) !== s.start(next) || s.perms(id) !== s.perms(next) || s.isShared(id) !== s.isShared(next))
      return false;
    if (
      s.faultsAround(id) !== s.faultsAround(next) ||
      s.vmo(id) !== s.vmo(next) ||
      s.flags(id) !== s.flags(next)
    )
      return false;
    return s.vmo(id) < 0 || s.vmoPage(id) + (s.end(id) - s.start(id)) / this.pageSize === s.vmoPage(next);
  }

  // ---- lifetime ----

  /** A new mapping; takes a reference to `vmo` if there is one. */
  create(
    start: number,
    end: number,
    perms: number,
    shared: boolean,
    vmo: Vmo | null,
    vmoPage: number,
    faultsAround: boolean,
    flags: number,
  ): number {
    let vmoId = -1;
    if (vmo !== null) {
      vmo.acquire();
      vmoId = this.vmos.ref(vmo);
    }
    return this.fill(start, end, perms, shared, vmoId, vmo === null ? 0 : vmoPage, faultsAround, flags);
  }

  /** The backing of `id` over `[start, end)` (which may reach outside it), new rights and flags optional. */
  slice(
    id: number,
    start: number,
    end: number,
    perms = this.store.perms(id),
    flags = this.store.flags(id),
  ): number {
    const s = this.store;
    const vmoId = s.vmo(id);
    const vmoPage = vmoId < 0 ? 0 : this.vmoIndex(id, start);
    if (vmoId >= 0) this.acquireVmo(vmoId);
    return this.fill(start, end, perms, s.isShared(id), vmoId, vmoPage, s.faultsAround(id), flags);
  }

  /**
   * The backing of `id` from `srcStart` on, placed at `dst` with `size` bytes (a move by
   * mremap; the VMO pages continue past the mapping's end when `size` is larger).
   */
  relocated(id: number, srcStart: number, dst: number, size: number): number {
    const moved = this.slice(id, srcStart, srcStart + size);
    this.store.setStart(moved, dst);
    this.store.setEnd(moved, dst + size);
    return moved;
  }

  /** Drops the VMO reference and frees the id. The id must not be used afterwards. */
  dispose(id: number): void {
    if (!this.isLive(id)) throw new MmError('InvalidArgument', `mapping ${id} is not live`);
    const vmoId = this.store.vmo(id);
    const vmo = this.vmos.get(vmoId);
    this.live[id] = 0;
    this.liveCount--;
    this.store.clear(id);
    this.freeIds[this.nrFree++] = id;
    if (vmo !== null) {
      this.vmos.unref(vmoId);
      vmo.release();
    }
  }

  /** A read-only snapshot of mapping `id` (for inspection and tests; never on a hot path). */
  view(id: number): MappingView {
    const s = this.store;
    return new MappingView(
      id,
      s.start(id),
      s.end(id),
      s.perms(id),
      s.isShared(id),
      this.vmo(id),
      s.vmoPage(id),
      s.faultsAround(id),
      s.flags(id),
      this.pageSize,
    );
  }

  // ---- internals ----

  private acquireVmo(vmoId: number): void {
    (this.vmos.get(vmoId) as Vmo).acquire();
    this.vmos.addUser(vmoId);
  }

  private fill(
    start: number,
    end: number,
    perms: number,
    shared: boolean,
    vmoId: number,
    vmoPage: number,
    faultsAround: boolean,
    flags: number,
  ): number {
    if (this.nrFree === 0) this.grow();
    const id = this.freeIds[--this.nrFree];
    const s = this.store;
    s.setStart(id, start);
    s.setEnd(id, end);
    s.setPerms(id, perms);
    s.setIsShared(id, shared);
    s.setVmo(id, vmoId);
    s.setVmoPage(id, vmoPage);
    s.setFaultsAround(id, faultsAround);
    s.setFlags(id, flags);
    this.live[id] = 1;
    this.liveCount++;
    return id;
  }

  /** Doubles the store; the new ids join the free list (lowest on top). */
  private grow(): void {
    const old = this.store.capacity;
    const capacity = old * 2;
    this.store.grow(capacity);
    const live = new Uint8Array(capacity);
    live.set(this.live);
    this.live = live;
    const freeIds = new Int32Array(capacity);
    freeIds.set(this.freeIds.subarray(0, this.nrFree));
    this.freeIds = freeIds;
    this.pushFree(old, capacity);
  }

  /** Pushes ids `[from, to)` so that `from` is popped first. */
  private pushFree(from: number, to: number): void {
    for (let id = to - 1; id >= from; id--) this.freeIds[this.nrFree++] = id;
  }
}

const tables = new WeakMap<object, MappingTable>();

/** The mapping table of `kernel` (created on first use, in the kernel's layout). */
export function mappingTableOf(kernel: Kernel): MappingTable {
  let t = tables.get(kernel);
  if (t === undefined) {
    t = new MappingTable(kernel, kernel.consts.basePageSize);
    tables.set(kernel, t);
  }
  return t;
}
