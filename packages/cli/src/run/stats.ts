import type { Kernel } from '@mmkit/core';

/** The TLB model's counters, as `mmkit run` reports them. */
export interface TlbSummary {
  /** Whether entries were modelled (otherwise only flushes were counted). */
  modelled: boolean;
  cpus: number;
  /** Geometry per CPU, e.g. `64 entries, 4-way`. */
  l1: string;
  l2: string;
  lookups: number;
  hits: { l1: number; l2: number };
  misses: number;
  /** Hits over lookups (0 when there were none). */
  hitRate: number;
  evictions: { l1: number; l2: number };
  flushes: { total: number; page: number; pagesFlushed: number; asid: number; full: number };
  shootdowns: number;
  /** Shootdowns received, per CPU. */
  shootdownsByCpu: number[];
  staleHits: number;
}

/** Reads the kernel TLB model's counters. */
export function tlbSummary(kernel: Kernel): TlbSummary {
  const t = kernel.tlb;
  const lookups = t.nrHits + t.nrMisses;
  const geometry = (g: { entries: number; ways: number }) => `${g.entries} entries, ${g.ways}-way`;
  return {
    modelled: t.enabled,
    cpus: t.config.cpus,
    l1: geometry(t.config.l1),
    l2: geometry(t.config.l2),
    lookups,
    hits: { l1: t.nrL1Hits, l2: t.nrL2Hits },
    misses: t.nrMisses,
    hitRate: lookups === 0 ? 0 : t.nrHits / lookups,
    evictions: { l1: t.nrL1Evictions, l2: t.nrL2Evictions },
    flushes: {
      total: t.nrFlushes,
      page: t.nrPageFlushes,
      pagesFlushed: t.nrPagesFlushed,
      asid: t.nrAsidFlushes,
      full: t.nrFullFlushes,
    },
    shootdowns: t.nrShootdowns,
    shootdownsByCpu: [...t.nrShootdownsTo],
    staleHits: t.nrStaleHits,
  };
}

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

  op(kind: string, n = 1): void {
    this.ops.set(kind, (this.ops.get(kind) ?? 0) + n);
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
