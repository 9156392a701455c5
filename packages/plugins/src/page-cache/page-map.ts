import {
  type ComponentSchema,
  type ComponentStore,
  FrameType,
  type Kernel,
  MmError,
  PROP_DIRTY,
  PROP_R,
  PROP_W,
  PROP_X,
  QUERY_MAPPED,
  type Violation,
  type Vmar,
  type VmSpace,
} from '@mmkit/core';
import { type BackingStore, STORE_PAGE_SIZE } from './backing-store.ts';
import { PageIndex, SlotList } from './page-index.ts';

/**
 * Page flags (Akaros's `pg_flags`, `page_alloc.h`), kept per slot of the page map.
 * `PG_LOCKED`: the page is involved in I/O (its creator reads it; waiters block);
 * `PG_UPTODATE`: contents valid; `PG_DIRTY`: newer than the store; `PG_PAGEMAP`: belongs to
 * a page map; `PG_REMOVAL`: the remover's working mark (not a synchronisation mechanism).
 */
export const PG_LOCKED = 0x01;
export const PG_UPTODATE = 0x02;
export const PG_DIRTY = 0x04;
export const PG_PAGEMAP = 0x10;
export const PG_REMOVAL = 0x20;

/**
 * What a page-map task yields when it would sleep. `YIELD_IO`: I/O is in flight (the
 * caller may run other tasks; resuming at once is fine too). `YIELD_BLOCKED`: waiting for a
 * page lock held by another task (resuming re-checks; only another task can release it).
 */
export const YIELD_IO = 0;
export const YIELD_BLOCKED = 1;
/** A page-map operation that can sleep, as a generator (see `runTask`, `TaskScheduler`). */
export type Task<T> = Generator<number, T, void>;

/**
 * Runs a task to completion on the calling stack. I/O waits resume at once (stores are
 * synchronous); a wait for a lock held by another suspended task cannot end here and
 * throws `CursorBusy`.
 */
export function runTask<T>(task: Task<T>): T {
  for (;;) {
    const r = task.next();
    if (r.done === true) return r.value;
    if (r.value === YIELD_BLOCKED) {
      task.return(undefined as T);
      throw new MmError('CursorBusy', 'a page is locked by a suspended task');
    }
  }
}

/** Processes whose TLBs a remover shoots down in one batch (the seed's `PTR_ARR_LEN`). */
export const SHOOTDOWN_BATCH = 10;
/** Dirty pages a remover writes back per batch (the same scratch array in the seed). */
export const WRITEBACK_BATCH = 10;

/**
 * One entry of the reverse map: a mapping of the file in some address space (Akaros's VMR
 * on `pm_vmrs`). The entry is pinned when its mapping is locked (`VM_LOCKED`: mlock,
 * `MAP_LOCKED`): removal leaves every page the mapping covers. The lock is a flag of the
 * mapping, so the pieces of a split and the result of a merge keep it.
 */
export interface RmapEntry {
  readonly vmar: Vmar;
  /** The mapping's id in `vmar.maps` (its fields are read there). */
  readonly mapping: number;
}

/**
 * Page-cache slots, a component family stored in the kernel's layout: the page's frame
 * (-1 while the slot is free), the slot reference count (users of the page, not the
 * frame's count), the removal flag, the page flags (`PG_*`) and the page index in the file.
 */
export const PAGE_SLOT_SCHEMA = {
  name: 'pageSlot',
  fields: {
    pfn: { kind: 'i32', initial: -1 },
    refs: { kind: 'i32' },
    removal: { kind: 'bool' },
    flags: { kind: 'u8' },
    index: { kind: 'f64' },
  },
} as const satisfies ComponentSchema;
type PageSlotStore = ComponentStore<typeof PAGE_SLOT_SCHEMA>;
/** Slots a page map starts with. */
const INITIAL_SLOTS = 16;

const NO_SLOT = -1;
// Read once: a hot loop reading an imported binding may pay for a module getter.
const PERM_BITS = PROP_R | PROP_W | PROP_X;
const DIRTY = PROP_DIRTY;
const MAPPED = QUERY_MAPPED;
const WALK_NOT_PRESENT = 0;
const WALK_DIRTY_UNMAP = 1;
const WALK_HARVEST = 2;
const WALK_UNMAP_ANY = 3;
const WALK_UNMAP_FILE = 4;

/** What a page map reports for `events` (the file name) and its counters. */
export interface PageMapStats {
  /** Pages read from the store, removed by `removeContig`, written back. */
  nrLoads: number;
  nrRemoved: number;
  nrWritebacks: number;
  /** TLB shootdown batches issued by removals. */
  nrShootdownBatches: number;
}

/**
 * A file's page map, as Akaros's `struct page_map` (seed `001`, `kern/src/pagemap.c`):
 * the file's cached pages keyed by page index, the reverse map of the mappings that map
 * the file, and the file size.
 *
 * Slots: the tree maps a page index to a slot number; a slot holds the page's frame, the
 * slot reference count (users of the page: loaders, readers, writers, faulting code — not
 * the frame's count) and the removal flag, plus the page's flags and index (Akaros's
 * `struct page`). Slots are entities of `PAGE_SLOT_SCHEMA` in the kernel's layout (typed
 * arrays in `soa` and `aos`: no object per page there).
 *
 * References: while a page is in the map, the map holds exactly one handle on its frame.
 * Every PTE mapping it holds a frame reference of its own (core's rule), so unlike Akaros
 * a PTE is never a dangling pointer; removal still unmaps every PTE before the page goes.
 *
 * Rules (the 2015 `pm_lock` is implicit: JavaScript runs one task at a time, and tasks
 * only interleave where they yield):
 * - `findPage` takes a slot reference and clears the removal flag: any user aborts a
 *   concurrent removal of that page, even if it drops the reference before the remover
 *   looks again.
 * - A page is inserted locked and not up to date; its creator reads it and unlocks it, so
 *   concurrent loaders wait for the lock and cause one read; a page is never read twice
 *   (that could clobber newer writes).
 * - Only one remover at a time (`removeContig` returns 0 while another runs); the remover
 *   yields only while writing back, as the seed drops `pm_lock` only there.
 * - No data is lost: a page leaves the map only after every PTE mapping it is gone and its
 *   dirty state (PTE dirty bits and `PG_DIRTY`) has been written back.
 */
export class PageMap {
  private readonly tree = new PageIndex();
  /** The pages the running removal marked (slots), by increasing index. */
  private readonly marked = new SlotList();
  /** The slots, in the kernel's layout; grown by doubling. */
  private readonly slots: PageSlotStore;
  private readonly freeSlots = new SlotList();
  private nrSlots = 0;
  private removing = false;
  /** Slots in the map with `PG_DIRTY` set. */
  private nrDirty = 0;
  /**
   * The file's entity in the kernel's control plane (-1 once destroyed): tagged `Dirty`
   * exactly while `nrDirty > 0` and `UnderRemoval` exactly while `removing`.
   */
  private entityId: number;
  private bytes: number;
  private readonly scratch = new Uint8Array(STORE_PAGE_SIZE);
  /** The reverse map (`pm_vmrs`). */
  readonly vmrs: RmapEntry[] = [];
  readonly stats: PageMapStats = { nrLoads: 0, nrRemoved: 0, nrWritebacks: 0, nrShootdownBatches: 0 };
  private readonly page: number;

  constructor(
    readonly kernel: Kernel,
    readonly store: BackingStore,
    /** The file's name, in events. */
    readonly name: string,
  ) {
    this.page = kernel.consts.basePageSize;
    this.slots = kernel.createStore(PAGE_SLOT_SCHEMA, INITIAL_SLOTS);
    if (this.page !== STORE_PAGE_SIZE) throw new MmError('InvalidConfig', 'the page cache needs 4 KiB pages');
    this.bytes = store.size;
    this.entityId = kernel.control.addFile(name);
  }

  /** The file's entity in the kernel's control plane, or -1 once the map is destroyed. */
  get entity(): number {
    return this.entityId;
  }

  /** Pages in the map marked `PG_DIRTY`. */
  get nrDirtyPages(): number {
    return this.nrDirty;
  }

  /** Every write of a slot's flags goes here: keeps `nrDirty` and the `Dirty` tag exact. */
  private setFlags(s: number, flags: number): void {
    const was = this.slots.flags(s) & PG_DIRTY;
    this.slots.setFlags(s, flags);
    if ((flags & PG_DIRTY) === was) return;
    this.nrDirty += was === 0 ? 1 : -1;
    if (this.nrDirty <= 1) this.tag(this.kernel.control.Dirty, this.nrDirty > 0);
  }

  /** Starts or ends a removal: `removing` and the `UnderRemoval` tag. */
  private setRemoving(on: boolean): void {
    this.removing = on;
    this.tag(this.kernel.control.UnderRemoval, on);
  }

  private tag(tag: object, on: boolean): void {
    if (this.entityId >= 0) this.kernel.control.setTag(this.entityId, tag, on);
  }

  /**
   * The dirty count and the entity's tags agree with the slots: `nrDirty` is the number
   * of cached pages marked `PG_DIRTY`, `Dirty` is set exactly when it is not 0 and
   * `UnderRemoval` exactly while a removal runs.
   */
  check(): Violation[] {
    const out: Violation[] = [];
    const l = new SlotList();
    this.tree.all(l);
    let dirty = 0;
    for (let k = 0; k < l.n; k++) if (this.slots.flags(l.buf[k]) & PG_DIRTY) dirty++;
    if (dirty !== this.nrDirty)
      out.push({
        kind: 'page-cache',
        message: `${this.name} has ${dirty} dirty pages but counts ${this.nrDirty}`,
      });
    if (this.entityId < 0) return out;
    const control = this.kernel.control;
    if (control.hasTag(this.entityId, control.Dirty) !== dirty > 0)
      out.push({
        kind: 'entity',
        message: `${this.name} has ${dirty} dirty pages but is ${dirty > 0 ? 'not ' : ''}tagged Dirty`,
      });
    if (control.hasTag(this.entityId, control.UnderRemoval) !== this.removing)
      out.push({
        kind: 'entity',
        message: `${this.name} is ${this.removing ? '' : 'not '}being removed but is ${this.removing ? 'not ' : ''}tagged UnderRemoval`,
      });
    return out;
  }

  // ---- sizes and slots ----

  /** File size in bytes (the inode's size; the store follows it). */
  get size(): number {
    return this.bytes;
  }

  /** Pages of the file: indices at or past it are past the end of the file. */
  get nrFilePages(): number {
    return Math.ceil(this.bytes / this.page);
  }

  /** Pages in the map (`pm_num_pages`). */
  get nrPages(): number {
    return this.tree.size;
  }

  /** Whether a removal is running. */
  get isRemoving(): boolean {
    return this.removing;
  }

  pfnOf(slot: number): number {
    return this.slots.pfn(slot);
  }
  flagsOf(slot: number): number {
    return this.slots.flags(slot);
  }
  refsOf(slot: number): number {
    return this.slots.refs(slot);
  }
  removalOf(slot: number): boolean {
    return this.slots.removal(slot);
  }

  /** The slot of page `index`, or `NO_SLOT` (-1); takes no reference. */
  slotAt(index: number): number {
    return this.tree.get(index);
  }

  /** Frame of page `index` if it is in the map and up to date, else -1; takes no reference. */
  pfnAt(index: number): number {
    const s = this.tree.get(index);
    return s === NO_SLOT || (this.slots.flags(s) & PG_UPTODATE) === 0 ? -1 : this.slots.pfn(s);
  }

  /** Indices of the pages in the map, in increasing order (for tools and tests). */
  indices(): number[] {
    const l = new SlotList();
    this.tree.all(l);
    return Array.from(l.buf.subarray(0, l.n), (s) => this.slots.index(s));
  }

  private allocSlot(): number {
    const free = this.freeSlots;
    if (free.n > 0) return free.buf[--free.n];
    if (this.nrSlots === this.slots.capacity) this.slots.grow(this.nrSlots * 2);
    return this.nrSlots++;
  }

  // ---- lookup, insert, put, load ----

  /**
   * `pm_find_page`: the slot of page `index` with one more slot reference and its removal
   * flag cleared, or -1 if the page is not in the map. Release with `putPage`.
   */
  findPage(index: number): number {
    const s = this.tree.get(index);
    if (s === NO_SLOT) return NO_SLOT;
    this.slots.setRemoval(s, false);
    this.slots.setRefs(s, this.slots.refs(s) + 1);
    return s;
  }

  /** `pm_put_page`: drops a slot reference (the page stays in the map). */
  putPage(slot: number): void {
    if (this.slots.refs(slot) <= 0)
      throw new MmError('BadFrameState', `page-map slot ${slot} has no reference to put`);
    this.slots.setRefs(slot, this.slots.refs(slot) - 1);
  }

  /**
   * `pm_insert_page`: puts a fresh frame (the caller's handle becomes the map's) at
   * `index` with flags `flags` and one slot reference for the caller. The index must be free.
   */
  private insertPage(index: number, pfn: number, flags: number): number {
    if (this.tree.has(index))
      throw new MmError('AlreadyMapped', `page ${index} of ${this.name} is already cached`);
    const s = this.allocSlot();
    this.slots.setPfn(s, pfn);
    this.slots.setRefs(s, 1);
    this.slots.setRemoval(s, false);
    this.setFlags(s, flags);
    this.slots.setIndex(s, index);
    this.tree.set(index, s);
    return s;
  }

  /**
   * `pm_load_page` as a task: returns the slot of page `index`, up to date, with one slot
   * reference. On a miss it inserts a locked, not-up-to-date page and yields `YIELD_IO`
   * while the read is in flight; a loader finding a page not up to date yields
   * `YIELD_BLOCKED` until the page is unlocked, then re-checks (never reads twice).
   * A failed read leaves the page unlocked and not up to date (the next loader retries).
   */
  *loadTask(index: number): Task<number> {
    let s = this.findPage(index);
    if (s === NO_SLOT) {
      s = this.insertPage(index, this.kernel.frames.alloc(FrameType.PageCache), PG_LOCKED | PG_PAGEMAP);
    } else {
      if (this.slots.flags(s) & PG_UPTODATE) return s;
      while (this.slots.flags(s) & PG_LOCKED) yield YIELD_BLOCKED;
      if (this.slots.flags(s) & PG_UPTODATE) return s;
      this.setFlags(s, this.slots.flags(s) | PG_LOCKED);
    }
    try {
      yield YIELD_IO;
    } catch (e) {
      this.setFlags(s, this.slots.flags(s) & ~PG_LOCKED);
      this.putPage(s);
      throw e;
    }
    this.fillLocked(s);
    return s;
  }

  /**
   * `pm_load_page` on the calling stack, as `runTask(loadTask(index))` without the task:
   * nothing else can run while it reads, so the I/O wait is not a yield. A hit allocates
   * nothing; a miss reads through the store; a page locked by a suspended task cannot be
   * waited for here (`CursorBusy`; the lookup still clears the removal flag, but no slot
   * reference is left behind).
   */
  loadPage(index: number): number {
    let s = this.tree.get(index);
    if (s === NO_SLOT) {
      s = this.allocSlot();
      this.slots.setPfn(s, this.kernel.frames.alloc(FrameType.PageCache));
      this.slots.setRefs(s, 1);
      this.slots.setRemoval(s, false);
      this.setFlags(s, PG_LOCKED | PG_PAGEMAP);
      this.slots.setIndex(s, index);
      this.tree.set(index, s);
    } else {
      this.slots.setRemoval(s, false);
      const flags = this.slots.flags(s);
      if (flags & PG_UPTODATE) {
        this.slots.setRefs(s, this.slots.refs(s) + 1);
        return s;
      }
      if (flags & PG_LOCKED) throw new MmError('CursorBusy', 'a page is locked by a suspended task');
      this.slots.setRefs(s, this.slots.refs(s) + 1);
      this.setFlags(s, flags | PG_LOCKED);
    }
    this.fillLocked(s);
    return s;
  }

  /**
   * Reads the locked page of slot `s` (the caller holds a slot reference) and unlocks it up
   * to date; a failed read unlocks it not up to date, drops the reference and rethrows.
   */
  private fillLocked(s: number): void {
    try {
      this.readPage(s);
    } catch (e) {
      this.setFlags(s, this.slots.flags(s) & ~PG_LOCKED);
      this.putPage(s);
      throw e;
    }
    this.setFlags(s, (this.slots.flags(s) | PG_UPTODATE) & ~PG_LOCKED);
  }

  /** `pm_load_page_nowait`: the slot with a reference if the page is cached and up to date, else -1. */
  loadPageNowait(index: number): number {
    const s = this.tree.get(index);
    if (s === NO_SLOT || (this.slots.flags(s) & PG_UPTODATE) === 0) return NO_SLOT;
    return this.findPage(index);
  }

  /**
   * `readpage`: fills the page's frame from the store (the caller holds the page lock). A
   * page the store reports as a hole is not copied: the frame is made to read as zeros.
   */
  private readPage(s: number): void {
    const index = this.slots.index(s);
    const store = this.store;
    const memory = this.kernel.memory;
    const pfn = this.slots.pfn(s);
    // A hole needs no copy: a frame that holds no data reads as zeros.
    if (store.readPageSparse === undefined) {
      store.readPage(index, this.scratch);
      memory.write(pfn, 0, this.scratch);
    } else if (store.readPageSparse(index, this.scratch)) {
      memory.write(pfn, 0, this.scratch);
    } else if (memory.isBacked(pfn)) {
      memory.zeroFrame(pfn);
    }
    this.stats.nrLoads++;
    const events = this.kernel.events;
    if (events.listenerCount('pageCacheLoad') !== 0) events.emit('pageCacheLoad', this.name, index);
  }

  /** `writepage`: stores the page's bytes below the end of the file (the tail past it is zeroed first, as Linux does). */
  private writePage(s: number): void {
    const index = this.slots.index(s);
    const len = Math.min(this.page, this.bytes - index * this.page);
    if (len <= 0) return;
    const memory = this.kernel.memory;
    const pfn = this.slots.pfn(s);
    if (len < this.page) memory.write(pfn, len, new Uint8Array(this.page - len));
    this.store.writePage(index, memory.read(pfn, 0, len), len);
    this.stats.nrWritebacks++;
    const events = this.kernel.events;
    if (events.listenerCount('pageCacheWriteback') !== 0) events.emit('pageCacheWriteback', this.name, index);
  }

  /** Marks a page newer than the store (a `write()` through the cache; the caller holds a slot reference). */
  markDirty(slot: number): void {
    this.setFlags(slot, this.slots.flags(slot) | PG_DIRTY);
  }

  // ---- reverse map ----

  /** `pm_add_vmr`: `m`, a mapping of this file in `vmar`, joins the reverse map. */
  addVmr(vmar: Vmar, m: number): RmapEntry {
    const e = { vmar, mapping: m };
    this.vmrs.push(e);
    return e;
  }

  /** `pm_remove_vmr`. */
  removeVmr(vmar: Vmar, m: number): void {
    const i = this.vmrs.findIndex((e) => e.mapping === m && e.vmar === vmar);
    if (i < 0) throw new MmError('NotMapped', `mapping is not on the reverse map of ${this.name}`);
    this.vmrs.splice(i, 1);
  }

  /**
   * A PTE mapping frame `pfn` at page `index` was unmapped with its dirty bit set: if it
   * mapped this map's page (not a private copy), the page becomes `PG_DIRTY` (Linux's zap;
   * Akaros's munmap since 2018), so the data reaches the store at the next writeback or
   * removal. Whatever the mapping's rights were: a page written before an mprotect to
   * read-only is still dirty.
   */
  takeDirty(index: number, pfn: number): void {
    const s = this.tree.get(index);
    if (s !== NO_SLOT && this.slots.pfn(s) === pfn) this.setFlags(s, this.slots.flags(s) | PG_DIRTY);
  }

  /** `vmr_has_page_idx` over a range: whether the entry maps any page of `[first, end)`. */
  private entryOverlaps(e: RmapEntry, first: number, end: number): boolean {
    const maps = e.vmar.maps;
    const mFirst = maps.vmoPage(e.mapping);
    return mFirst < end && first < mFirst + maps.size(e.mapping) / this.page;
  }

  /** End index of the pinned entry mapping page `index`, or -1 (the seed's pinned skip). */
  private pinnedEnd(index: number): number {
    for (const e of this.vmrs) {
      const maps = e.vmar.maps;
      const m = e.mapping;
      if (!maps.locked(m)) continue;
      const vmoPage = maps.vmoPage(m);
      const end = vmoPage + maps.size(m) / this.page;
      if (vmoPage <= index && index < end) return end;
    }
    return -1;
  }

  /**
   * Walks the PTEs of entry `e` that map file pages `[first, end)` (clipped to the entry:
   * unlike the 2015 seed, which assumed `first` lies inside it) and applies `mode` to those
   * pointing at this map's page of their index:
   * - `WALK_NOT_PRESENT`: pages marked `PG_REMOVAL` lose R/W/X (mapped, not present; the
   *   dirty bit stays);
   * - `WALK_DIRTY_UNMAP`: pages marked `PG_REMOVAL` are unmapped, a PTE dirty bit moving
   *   to `PG_DIRTY`;
   * - `WALK_HARVEST`: dirty PTEs move their dirty bit to `PG_DIRTY`;
   * - `WALK_UNMAP_ANY`: every page of the map is unmapped, and so is every private copy a
   *   private mapping made of one (truncation, Linux's `even_cows`);
   * - `WALK_UNMAP_FILE`: every page of the map is unmapped; private copies stay (hole
   *   punching).
   * Other modes never touch private copies (other frames). Returns the number of PTEs changed.
   */
  private walkEntry(e: RmapEntry, first: number, end: number, mode: number): number {
    const maps = e.vmar.maps;
    const m = e.mapping;
    const mStart = maps.start(m);
    const vmoPage = maps.vmoPage(m);
    const shared = maps.shared(m);
    const page = this.page;
    const lo = Math.max(first, vmoPage);
    const hi = Math.min(end, vmoPage + maps.size(m) / page);
    if (lo >= hi) return 0;
    const vaStart = mStart + (lo - vmoPage) * page;
    const vaEnd = mStart + (hi - vmoPage) * page;
    const c = e.vmar.space.cursorMut(vaStart, vaEnd);
    let n = 0;
    let nrUnmapped = 0;
    try {
      while (c.va < vaEnd) {
        const va = c.findNext(vaEnd - c.va);
        if (va < 0) break;
        if (c.query() !== MAPPED) continue;
        const pfn = c.qPfn;
        const prop = c.qProp;
        const s = this.tree.get(vmoPage + (va - mStart) / page);
        if (s === NO_SLOT || this.slots.pfn(s) !== pfn) {
          // A private copy: truncation drops it too (Linux's `even_cows`).
          if (mode !== WALK_UNMAP_ANY || shared) continue;
          c.jump(va);
          c.unmap(page);
          nrUnmapped++;
          n++;
          if (va + page >= vaEnd) break;
          c.jump(va + page);
          continue;
        }
        const marked = (this.slots.flags(s) & PG_REMOVAL) !== 0;
        if (mode === WALK_NOT_PRESENT) {
          if (!marked || (prop & PERM_BITS) === 0) continue;
          c.jump(va);
          c.setProp(prop & ~PERM_BITS);
        } else if (mode === WALK_HARVEST) {
          if ((prop & DIRTY) === 0) continue;
          this.setFlags(s, this.slots.flags(s) | PG_DIRTY);
          c.jump(va);
          c.setProp(prop & ~DIRTY);
        } else {
          if (mode !== WALK_UNMAP_ANY && mode !== WALK_UNMAP_FILE && !marked) continue;
          if (mode === WALK_DIRTY_UNMAP && prop & DIRTY) this.setFlags(s, this.slots.flags(s) | PG_DIRTY);
          c.jump(va);
          c.unmap(page);
          nrUnmapped++;
        }
        n++;
        if (va + page >= vaEnd) break;
        c.jump(va + page);
      }
    } finally {
      c.drop();
    }
    if (nrUnmapped > 0) e.vmar.addRss(maps.rssType(m), -nrUnmapped);
    return n;
  }

  /** `proc_tlbshootdown(p, 0, 0)` for each process of the batch, then empties it. */
  private shootdown(batch: VmSpace[]): void {
    if (batch.length === 0) return;
    for (let i = 0; i < batch.length; i++) this.kernel.tlb.shootdown(batch[i].tlbSpace);
    this.stats.nrShootdownBatches++;
    batch.length = 0;
  }

  /** Adds a process to the shootdown batch (deduplicated), shooting the batch down first when full. */
  private batchProcess(batch: VmSpace[], space: VmSpace): void {
    if (batch.includes(space)) return;
    if (batch.length === SHOOTDOWN_BATCH) this.shootdown(batch);
    batch.push(space);
  }

  /** Indices of cached pages in `[first, end)`, increasing (the seed walks the range; this skips empty stretches). */
  private cachedIn(first: number, end: number): number[] {
    const l = new SlotList();
    this.tree.collect(first, end, l);
    return Array.from(l.buf.subarray(0, l.n), (s) => this.slots.index(s));
  }

  // ---- removal ----

  /**
   * `pm_remove_contig` as a task: tries to remove pages `[index, index + nrPages)` from
   * the map; returns how many it removed (0 at once if another removal is running).
   *
   * Passes, as the seed: (0) note whether any mapping is pinned; (1) mark: skip pages a
   * pinned mapping covers (and the rest of its range), pages not cached, and pages with
   * users (slot refcount > 0); set the slot's removal flag and `PG_REMOVAL`; (2) make the
   * marked pages not present in every non-pinned mapping that maps part of the range,
   * batching the processes to shoot down, at most `SHOOTDOWN_BATCH` per batch; (3) shoot
   * the last batch down, so that PTE dirty bits are final; (4) unmap the marked pages,
   * moving PTE dirty bits to `PG_DIRTY` — of every mapping, where the seed only looks at
   * mappings that are writable now (a page written before an mprotect to read-only would
   * lose its data); (5) write dirty marked pages
   * back, `WRITEBACK_BATCH` at a time, yielding `YIELD_IO` around each batch (users may
   * come in: a page whose removal flag a user cleared is unmarked and neither written
   * back nor removed); (6) remove every page still marked: its frame handle is dropped.
   */
  *removeContigTask(index: number, nrPages: number): Task<number> {
    if (!this.beginRemoval(index, nrPages)) return 0;
    try {
      if (!this.markAndUnmap(index, index + nrPages)) return 0;
      // Pass 5: write dirty pages back, a batch at a time, with the lock dropped.
      const toWrite: number[] = [];
      let k = 0;
      while (k < this.marked.n) {
        k = this.takeWritebacks(k, toWrite);
        if (toWrite.length === 0) continue;
        yield YIELD_IO;
        for (const s of toWrite) this.writePage(s);
        toWrite.length = 0;
        yield YIELD_IO;
      }
      return this.removeMarked();
    } finally {
      this.marked.n = 0;
      this.setRemoving(false);
    }
  }

  /**
   * `pm_remove_contig` on the calling stack: the passes and rules of `removeContigTask`,
   * without the task (writeback is synchronous, so no other task can come in while it
   * runs; event listeners still can, and are handled as users are).
   */
  removeContig(index: number, nrPages: number): number {
    if (!this.beginRemoval(index, nrPages)) return 0;
    try {
      if (!this.markAndUnmap(index, index + nrPages)) return 0;
      // Pass 5: write dirty pages back, a batch at a time.
      const toWrite: number[] = [];
      let k = 0;
      while (k < this.marked.n) {
        k = this.takeWritebacks(k, toWrite);
        for (const s of toWrite) this.writePage(s);
        toWrite.length = 0;
      }
      return this.removeMarked();
    } finally {
      this.marked.n = 0;
      this.setRemoving(false);
    }
  }

  /** Checks a removal's range; false when there is nothing to do or another removal runs, else it starts. */
  private beginRemoval(index: number, nrPages: number): boolean {
    if (!(Number.isSafeInteger(index) && index >= 0 && Number.isSafeInteger(nrPages) && nrPages >= 0)) {
      throw new MmError('InvalidArgument', `bad page range ${index} + ${nrPages}`);
    }
    if (nrPages === 0 || this.removing) return false;
    this.setRemoving(true);
    return true;
  }

  /**
   * Passes 0 to 4 of a removal of `[index, end)`: the marked pages' slots are left in
   * `marked`, by increasing index. False if nothing was marked.
   */
  private markAndUnmap(index: number, end: number): boolean {
    // Pass 0: pinned mappings.
    let hasPinned = false;
    for (const e of this.vmrs) if (e.vmar.maps.locked(e.mapping)) hasPinned = true;
    // Pass 1: mark (filtering the cached pages of the range in place).
    const marked = this.marked;
    marked.n = 0;
    this.tree.collect(index, end, marked);
    const buf = marked.buf;
    const slots = this.slots;
    let n = 0;
    for (let k = 0; k < marked.n; k++) {
      const s = buf[k];
      if (hasPinned && this.pinnedEnd(this.slots.index(s)) >= 0) continue;
      if (slots.refs(s) !== 0) continue;
      slots.setRemoval(s, true);
      this.setFlags(s, slots.flags(s) | PG_REMOVAL);
      buf[n++] = s;
    }
    marked.n = n;
    if (n === 0) return false;
    // Passes 2 and 3: not present everywhere, batched shootdowns.
    const batch: VmSpace[] = [];
    for (const e of this.vmrs) {
      if (e.vmar.maps.locked(e.mapping) || !this.entryOverlaps(e, index, end)) continue;
      this.walkEntry(e, index, end, WALK_NOT_PRESENT);
      this.batchProcess(batch, e.vmar.space);
    }
    this.shootdown(batch);
    // Pass 4: dirty bits and unmap.
    for (const e of this.vmrs) {
      if (e.vmar.maps.locked(e.mapping) || !this.entryOverlaps(e, index, end)) continue;
      this.walkEntry(e, index, end, WALK_DIRTY_UNMAP);
    }
    return true;
  }

  /**
   * Pass 5, one batch: from `marked[k]` on, unmarks the pages a user came to, and takes up
   * to `WRITEBACK_BATCH` dirty marked pages into `toWrite` (cleaning them); returns where
   * it stopped.
   */
  private takeWritebacks(k: number, toWrite: number[]): number {
    const marked = this.marked;
    const buf = marked.buf;
    const slots = this.slots;
    for (; k < marked.n; k++) {
      const s = buf[k];
      const flags = slots.flags(s);
      if ((flags & PG_REMOVAL) === 0) continue;
      if (!slots.removal(s)) {
        this.setFlags(s, flags & ~PG_REMOVAL);
        continue;
      }
      if (flags & PG_DIRTY) {
        if (toWrite.length === WRITEBACK_BATCH) break;
        toWrite.push(s);
        // Cleared before the write: a later extra writeback is possible, lost data is not.
        this.setFlags(s, flags & ~PG_DIRTY);
      }
    }
    return k;
  }

  /** Pass 6: removes every page still marked (its frame handle is dropped); returns how many. */
  private removeMarked(): number {
    let nrRemoved = 0;
    const frames = this.kernel.frames;
    const events = this.kernel.events;
    const marked = this.marked;
    // Asked once per pass, not per page: the pass's events go to the listeners present
    // when it starts (one that a listener adds meanwhile hears from the next removal).
    const emit = events.listenerCount('pageCacheRemove') !== 0;
    for (let k = 0; k < marked.n; k++) {
      const s = marked.buf[k];
      if ((this.slots.flags(s) & PG_REMOVAL) === 0) continue;
      if (!this.slots.removal(s)) {
        this.setFlags(s, this.slots.flags(s) & ~PG_REMOVAL);
        continue;
      }
      // A user would have cleared the removal flag, and pass 4 unmapped every PTE.
      const pfn = this.slots.pfn(s);
      const i = this.slots.index(s);
      if (this.slots.refs(s) !== 0 || frames.refCount(pfn) !== 1) {
        throw new MmError('BadFrameState', `page ${i} of ${this.name} is still in use at removal`);
      }
      this.freeSlot(i, s);
      frames.put(pfn);
      nrRemoved++;
      if (emit) events.emit('pageCacheRemove', this.name, i);
    }
    this.stats.nrRemoved += nrRemoved;
    return nrRemoved;
  }

  private freeSlot(index: number, s: number): void {
    this.tree.delete(index);
    this.setFlags(s, 0);
    this.slots.setPfn(s, -1);
    this.slots.setRemoval(s, false);
    this.freeSlots.push(s);
  }

  // ---- writeback, resize, teardown ----

  /**
   * Writes back the dirty pages of `[index, index + nrPages)` (msync, fsync), as Akaros's
   * `pm_writeback_pages`: (1) every mapping's dirty PTEs (not only those of mappings that
   * are writable and shared now, for the reason given at `removeContigTask`) move their dirty
   * bit to `PG_DIRTY` and are cleaned; (2) those processes are shot down, so no write
   * goes through a stale dirty translation; (3) every dirty page in the range is cleaned
   * and written through the store. Returns the number of pages written.
   */
  writeback(index: number, nrPages: number): number {
    const end = index + nrPages;
    const batch: VmSpace[] = [];
    for (const e of this.vmrs) {
      if (!this.entryOverlaps(e, index, end)) continue;
      if (this.walkEntry(e, index, end, WALK_HARVEST) > 0) this.batchProcess(batch, e.vmar.space);
    }
    this.shootdown(batch);
    let n = 0;
    for (const i of this.cachedIn(index, end)) {
      const s = this.tree.get(i)!;
      if ((this.slots.flags(s) & PG_DIRTY) === 0) continue;
      this.setFlags(s, this.slots.flags(s) & ~PG_DIRTY);
      this.writePage(s);
      n++;
    }
    return n;
  }

  /**
   * Unmaps file pages `[first, end)` from every mapping (Linux's `unmap_mapping_range`); the
   * pages stay cached. With `evenCows` (truncation) the private copies that private mappings
   * made of them go too; without (hole punching: Linux's `truncate_pagecache_range`) they stay,
   * as the data a process wrote into its own copy is not the file's.
   */
  zapRange(first: number, end: number, evenCows: boolean): void {
    const mode = evenCows ? WALK_UNMAP_ANY : WALK_UNMAP_FILE;
    const batch: VmSpace[] = [];
    for (const e of this.vmrs) {
      if (this.walkEntry(e, first, end, mode) > 0) this.batchProcess(batch, e.vmar.space);
    }
    this.shootdown(batch);
  }

  /**
   * Sets the file size (truncate / extend, Linux's `truncate_setsize`). Shrinking drops
   * the cached pages wholly past the new end without writing them back: they are unmapped
   * from every mapping (pinned ones too: their data is gone), as are the private copies of
   * them that private mappings made, and removed, or, while a user
   * holds one, zeroed and kept; the kept part of the new last page is unchanged and its
   * tail zeroed. The store follows. Refused (`CursorBusy`) while a removal runs.
   */
  resize(size: number): void {
    if (!(Number.isSafeInteger(size) && size >= 0))
      throw new MmError('InvalidArgument', `bad file size ${size}`);
    if (this.removing) throw new MmError('CursorBusy', `${this.name} is being removed from the page cache`);
    const page = this.page;
    if (size < this.bytes) {
      const first = Math.ceil(size / page);
      const end = this.nrFilePages;
      this.zapRange(first, end, true);
      const memory = this.kernel.memory;
      for (const i of this.cachedIn(first, end)) {
        const s = this.tree.get(i)!;
        const pfn = this.slots.pfn(s);
        if (this.slots.refs(s) !== 0) {
          memory.zeroFrame(pfn);
          this.setFlags(s, this.slots.flags(s) & ~PG_DIRTY);
          continue;
        }
        this.freeSlot(i, s);
        this.kernel.frames.put(pfn);
      }
      const tail = size % page;
      const last = tail === 0 ? NO_SLOT : this.tree.get(first - 1);
      if (last !== NO_SLOT) memory.write(this.slots.pfn(last), tail, new Uint8Array(page - tail));
    }
    this.bytes = size;
    this.store.setSize(size);
  }

  /**
   * Drops every page (`pm_destroy`) once nothing maps the file and nobody holds a page;
   * dirty pages are discarded (the file is gone) and the file's entity is removed. Throws
   * `BadFrameState` otherwise.
   */
  destroy(): void {
    if (this.vmrs.length !== 0) throw new MmError('BadFrameState', `${this.name} is still mapped`);
    const l = new SlotList();
    this.tree.all(l);
    for (let k = 0; k < l.n; k++) {
      const s = l.buf[k];
      if (this.slots.refs(s) !== 0)
        throw new MmError('BadFrameState', `page ${this.slots.index(s)} of ${this.name} is in use`);
    }
    for (let k = 0; k < l.n; k++) {
      const s = l.buf[k];
      const pfn = this.slots.pfn(s);
      this.freeSlot(this.slots.index(s), s);
      this.kernel.frames.put(pfn);
    }
    if (this.entityId >= 0) this.kernel.control.removeFile(this.entityId);
    this.entityId = -1;
  }
}
