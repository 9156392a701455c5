import { PROP_DIRTY, PROP_PERMS, PROP_W } from '../arch/page-prop.ts';
import { MmError } from '../errors.ts';
import type { Violation } from '../kernel/check.ts';
import type { PageTableContext } from '../page-table/context.ts';
import { type ResolvedTlbConfig, resolveTlbConfig, type TlbConfig } from './config.ts';
import { TlbArray } from './tlb-array.ts';
import { type LeafTranslation, readLeaf } from './walk.ts';

/** A flush of this many pages or more becomes a flush of the whole address space, as in OSTD. */
export const FLUSH_ALL_PAGES_THRESHOLD = 32;
/** Stale hits recorded with their details (further ones are only counted). */
const MAX_RECORDED_STALE_HITS = 64;

/** Flush kinds: some pages of one address space, a whole address space, every TLB entirely. */
export type TlbFlushKind = 'page' | 'asid' | 'all';

/**
 * An address space as the TLB sees it: its address space id (PCID/ASID), the CPU its
 * process runs on, the root of its page table, and the CPUs whose TLBs may hold its entries
 * (Linux's `mm_cpumask`, one bit per CPU).
 *
 * `cpu` is the CPU of the thread running in the space now (`Tlb.switchTo`): accesses look
 * up and fill that CPU's TLB and flushes are requested from it. A single-threaded process
 * stays on `homeCpu`.
 */
export class TlbSpace {
  /** Bit `c` set: CPU `c` cached an entry of this space, or ran a thread of it, since its last flush there. */
  cpuMask = 0;
  live = true;
  /** The CPU the space's running thread is on. */
  cpu: number;
  constructor(
    public asid: number,
    readonly homeCpu: number,
    readonly rootPfn: number,
  ) {
    this.cpu = homeCpu;
  }
}

/**
 * The TLB model: per simulated CPU an L1 dTLB and an L2 STLB (`TlbArray`s, geometry from
 * `TlbConfig`), entries tagged with the address space id of the page table they came from.
 *
 * - Accesses: a user access first looks its page up (`lookup`: L1, then L2, which refills
 *   L1); on a miss the page table is walked (and a fault may map the page) and the result
 *   is cached in both levels (`fill`). A single-threaded process runs on its space's home CPU; the threads of a process run on their own CPUs (`switchTo`).
 * - Flushes name the address space and the pages (`flushPages`, `flushPage`, `flushSpace`,
 *   `shootdown`) and reach every CPU in the space's `cpuMask`; each CPU other than the
 *   initiator's is a shootdown (an IPI). Running out of ASIDs renumbers the live spaces
 *   and flushes every TLB (a full flush), as ASID rollover does on arm64 and RISC-V.
 * - Stale translations: a hit on an entry that no longer matches the page table (another
 *   frame, rights the PTE no longer grants, a dirty bit cleared under it) means some path
 *   changed a PTE without flushing. It is recorded and `check()` reports it, together with
 *   any such entry still cached.
 *
 * The model never changes results: accesses still take their frame from the page table.
 * With `enabled: false`, flush requests are counted and nothing else is done.
 */
export class Tlb {
  readonly config: ResolvedTlbConfig;
  readonly enabled: boolean;
  /** Per CPU: the L1 dTLB and the L2 STLB. */
  readonly l1: readonly TlbArray[];
  readonly l2: readonly TlbArray[];

  nrL1Hits = 0;
  nrL2Hits = 0;
  /** Lookups that found no usable entry (a page walk followed). */
  nrMisses = 0;
  nrL1Evictions = 0;
  nrL2Evictions = 0;
  /** Flush operations by kind, and the pages named by page flushes. */
  nrPageFlushes = 0;
  nrPagesFlushed = 0;
  nrAsidFlushes = 0;
  nrFullFlushes = 0;
  /** Flushes delivered to a CPU other than the one that requested them. */
  nrShootdowns = 0;
  /** Per CPU: the shootdowns it received (they add up to `nrShootdowns`). */
  readonly nrShootdownsTo: number[];
  /** Hits on entries that no longer matched the page table. */
  nrStaleHits = 0;
  /** Optional observer (the kernel's event bus), called once per flush operation. */
  onFlush: ((kind: TlbFlushKind, nrPages: number) => void) | null = null;

  private readonly staleHits: Violation[] = [];
  private readonly spaces = new Map<number, TlbSpace>();
  private nextAsid = 1;
  private nrSpacesCreated = 0;
  private readonly leaf: LeafTranslation = { pfn: 0, prop: 0 };

  constructor(config?: TlbConfig) {
    this.config = resolveTlbConfig(config);
    this.enabled = this.config.enabled;
    const cpus = this.enabled ? this.config.cpus : 0;
    this.l1 = Array.from({ length: cpus }, () => new TlbArray(this.config.l1, this.config.asids));
    this.l2 = Array.from({ length: cpus }, () => new TlbArray(this.config.l2, this.config.asids));
    this.nrShootdownsTo = new Array<number>(this.config.cpus).fill(0);
  }

  get nrHits(): number {
    return this.nrL1Hits + this.nrL2Hits;
  }

  get nrFlushes(): number {
    return this.nrPageFlushes + this.nrAsidFlushes + this.nrFullFlushes;
  }

  /** Registers the address space of page table `rootPfn`; its process runs on CPUs round-robin. */
  newSpace(rootPfn: number): TlbSpace {
    if (this.nextAsid === this.config.asids) this.rollOver();
    const space = new TlbSpace(this.nextAsid++, this.nrSpacesCreated++ % this.config.cpus, rootPfn);
    this.spaces.set(space.asid, space);
    return space;
  }

  /**
   * A thread of `space` starts running on `cpu` (Linux's `switch_mm`): its accesses use that
   * CPU's TLB from now on, and the CPU joins the space's mask, so every later flush of the
   * space reaches it until a flush of the whole space clears the mask.
   */
  switchTo(space: TlbSpace, cpu: number): void {
    if (!(Number.isInteger(cpu) && cpu >= 0 && cpu < this.config.cpus))
      throw new MmError('InvalidArgument', `no CPU ${cpu} (the TLB model has ${this.config.cpus})`);
    space.cpu = cpu;
    space.cpuMask |= 1 << cpu;
  }

  /** The address space is gone: its entries are flushed and its ASID may be reused. */
  releaseSpace(space: TlbSpace): void {
    this.flushSpace(space, space.cpu);
    space.live = false;
    this.spaces.delete(space.asid);
  }

  /** ASIDs ran out: live spaces are renumbered from 1 and every TLB is flushed. */
  private rollOver(): void {
    if (this.spaces.size >= this.config.asids - 1)
      throw new MmError(
        'InvalidConfig',
        `more than ${this.config.asids - 1} live address spaces (tlb.asids)`,
      );
    const live = [...this.spaces.values()];
    this.spaces.clear();
    this.nextAsid = 1;
    for (const s of live) {
      s.asid = this.nextAsid++;
      s.cpuMask = 0;
      this.spaces.set(s.asid, s);
    }
    for (let cpu = 0; cpu < this.l1.length; cpu++) {
      this.l1[cpu].invalidateAll();
      this.l2[cpu].invalidateAll();
    }
    this.nrFullFlushes++;
    if (this.onFlush !== null) this.onFlush('all', 0);
  }

  /**
   * The lookup an access to page `vpn` of `space` makes before any page walk, on the
   * CPU of the space's running thread. `need` are the rights the access needs (`PROP_R`, `PROP_W`, `PROP_X`);
   * `ptePfn`/`pteProp` are what the page table holds now (`ptePfn` -1: nothing mapped).
   * Returns true on a usable hit (then nothing needs to be filled). An entry lacking
   * `need` is dropped (the spurious-fault path) and counts as a miss; a stale entry is
   * recorded, dropped, and the access proceeds as a miss.
   */
  lookup(space: TlbSpace, vpn: number, need: number, ptePfn: number, pteProp: number): boolean {
    const cpu = space.cpu;
    const l1 = this.l1[cpu];
    let at = l1.find(space.asid, vpn);
    let array = l1;
    if (at < 0) {
      array = this.l2[cpu];
      at = array.find(space.asid, vpn);
    }
    if (at < 0) {
      this.nrMisses++;
      return false;
    }
    const cached = array.prop[at];
    if ((cached & need) !== need) {
      this.invalidate(cpu, space.asid, vpn);
      this.nrMisses++;
      return false;
    }
    const stale = this.staleness(array.pfn[at], cached, ptePfn, pteProp);
    if (stale !== null) {
      this.recordStale(space, vpn, stale);
      this.invalidate(cpu, space.asid, vpn);
      this.nrMisses++;
      return false;
    }
    if (array === l1) {
      this.nrL1Hits++;
    } else {
      this.nrL2Hits++;
      if (l1.insert(space.asid, vpn, array.pfn[at], cached)) this.nrL1Evictions++;
    }
    // A store through an entry without D makes the MMU walk to set D: the entry then has it.
    if (need & PROP_W && (cached & PROP_DIRTY) === 0) this.setDirty(cpu, space.asid, vpn);
    return true;
  }

  /** Caches the translation `vpn` → `pfn` with `prop` of `space` in the L1 and L2 of the space's current CPU. */
  fill(space: TlbSpace, vpn: number, pfn: number, prop: number): void {
    const cpu = space.cpu;
    if (this.l1[cpu].insert(space.asid, vpn, pfn, prop)) this.nrL1Evictions++;
    if (this.l2[cpu].insert(space.asid, vpn, pfn, prop)) this.nrL2Evictions++;
    space.cpuMask |= 1 << cpu;
  }

  /**
   * Flushes pages `[startVa, endVa)` of `space` after `nrPages` of them changed (pages of
   * `pageSize` bytes); `FLUSH_ALL_PAGES_THRESHOLD` pages or more flush the whole space.
   * `initiator` is the CPU requesting it (-1: none of the space's, e.g. a kernel thread).
   */
  flushPages(
    space: TlbSpace,
    startVa: number,
    endVa: number,
    nrPages: number,
    pageSize: number,
    initiator: number,
  ): void {
    if (nrPages <= 0) return;
    if (nrPages >= FLUSH_ALL_PAGES_THRESHOLD) {
      this.flushSpace(space, initiator);
      return;
    }
    this.nrPageFlushes++;
    this.nrPagesFlushed += nrPages;
    if (this.onFlush !== null) this.onFlush('page', nrPages);
    const startVpn = Math.floor(startVa / pageSize);
    const endVpn = Math.ceil(endVa / pageSize);
    const asid = space.asid;
    let mask = this.reachedCpus(space, initiator);
    for (let cpu = 0; mask !== 0; cpu++, mask >>>= 1) {
      if ((mask & 1) === 0) continue;
      this.l1[cpu].invalidateRange(asid, startVpn, endVpn);
      this.l2[cpu].invalidateRange(asid, startVpn, endVpn);
    }
  }

  /** Flushes one page of `space` (the page at `va`). */
  flushPage(space: TlbSpace, va: number, pageSize: number, initiator: number): void {
    this.flushPages(space, va, va + pageSize, 1, pageSize, initiator);
  }

  /** Flushes every entry of `space` (a flush by ASID) on every CPU that may hold some. */
  flushSpace(space: TlbSpace, initiator: number): void {
    this.nrAsidFlushes++;
    if (this.onFlush !== null) this.onFlush('asid', 0);
    const asid = space.asid;
    let mask = this.reachedCpus(space, initiator);
    for (let cpu = 0; mask !== 0; cpu++, mask >>>= 1) {
      if ((mask & 1) === 0) continue;
      this.l1[cpu].invalidateAsid(asid);
      this.l2[cpu].invalidateAsid(asid);
    }
    space.cpuMask = 0;
  }

  /** Shoots down `space` from outside it (Akaros `proc_tlbshootdown`): every CPU it ran on gets an IPI. */
  shootdown(space: TlbSpace): void {
    this.flushSpace(space, -1);
  }

  /**
   * Stale translations: the hits recorded so far, and every cached translation that does
   * not match its page table now, once per CPU and page (an L2 entry is only looked at
   * when L1 does not hold the page too). `ctx` reads the tables without locks: call between
   * operations only.
   */
  check(ctx: PageTableContext): Violation[] {
    const out = this.staleHits.slice();
    if (this.nrStaleHits > this.staleHits.length)
      out.push({
        kind: 'tlb-stale-hit',
        message: `${this.nrStaleHits - this.staleHits.length} more stale TLB hit(s) not listed`,
      });
    const leaf = this.leaf;
    for (let cpu = 0; cpu < this.l1.length; cpu++) {
      for (const array of [this.l1[cpu], this.l2[cpu]]) {
        for (let i = 0; i < array.nrEntries; i++) {
          if (!array.isValid(i)) continue;
          const vpn = array.vpn[i];
          if (array !== this.l1[cpu] && this.l1[cpu].holds(array.asid[i], vpn)) continue;
          const space = this.spaces.get(array.asid[i]);
          // Built only for a violation: most checks find none.
          const where = (): string =>
            `CPU ${cpu}: the TLB entry for page 0x${vpn.toString(16)} of ASID ${array.asid[i]}`;
          if (space === undefined) {
            out.push({ kind: 'tlb-stale-entry', message: `${where()} outlived its address space` });
            continue;
          }
          const mapped = readLeaf(ctx, space.rootPfn, vpn, leaf);
          const stale = this.staleness(array.pfn[i], array.prop[i], mapped ? leaf.pfn : -1, leaf.prop);
          if (stale !== null) out.push({ kind: 'tlb-stale-entry', message: `${where()}: ${stale}` });
        }
      }
    }
    return out;
  }

  /** Why an entry caching `pfn`/`prop` does not match the PTE now, or null if it does. */
  private staleness(pfn: number, prop: number, ptePfn: number, pteProp: number): string | null {
    if (ptePfn < 0) return `caches frame ${pfn}, the page is no longer mapped`;
    if (ptePfn !== pfn) return `caches frame ${pfn}, the page table maps ${ptePfn}`;
    const extra = prop & PROP_PERMS & ~pteProp;
    if (extra !== 0) return `grants rights 0x${extra.toString(16)} the PTE no longer has`;
    if (prop & PROP_DIRTY && (pteProp & PROP_DIRTY) === 0)
      return 'caches the dirty bit the PTE no longer has (stores would go unrecorded)';
    return null;
  }

  private recordStale(space: TlbSpace, vpn: number, why: string): void {
    this.nrStaleHits++;
    if (this.staleHits.length < MAX_RECORDED_STALE_HITS)
      this.staleHits.push({
        kind: 'tlb-stale-hit',
        message: `an access to page 0x${vpn.toString(16)} of ASID ${space.asid} hit a stale TLB entry that ${why}: a flush is missing`,
      });
  }

  /**
   * The CPUs a flush of `space` reaches (its mask; none with the model off), as a bit mask
   * for the caller's loop; those other than `initiator` are counted as shootdowns. (A mask
   * and a loop in each caller, not a callback: a flush then allocates nothing.)
   */
  private reachedCpus(space: TlbSpace, initiator: number): number {
    const reached = this.enabled ? space.cpuMask : 0;
    for (let cpu = 0, mask = reached; mask !== 0; cpu++, mask >>>= 1) {
      if ((mask & 1) === 0 || cpu === initiator) continue;
      this.nrShootdowns++;
      this.nrShootdownsTo[cpu]++;
    }
    return reached;
  }

  private invalidate(cpu: number, asid: number, vpn: number): void {
    const a = this.l1[cpu].find(asid, vpn);
    if (a >= 0) this.l1[cpu].invalidateAt(a);
    const b = this.l2[cpu].find(asid, vpn);
    if (b >= 0) this.l2[cpu].invalidateAt(b);
  }

  private setDirty(cpu: number, asid: number, vpn: number): void {
    const a = this.l1[cpu].find(asid, vpn);
    if (a >= 0) this.l1[cpu].prop[a] |= PROP_DIRTY;
    const b = this.l2[cpu].find(asid, vpn);
    if (b >= 0) this.l2[cpu].prop[b] |= PROP_DIRTY;
  }
}
