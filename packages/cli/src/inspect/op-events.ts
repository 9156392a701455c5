import { FRAME_TYPE_NAMES, FrameType, type Kernel } from '@mmkit/core';

/** A page fault as the kernel reported it. */
export interface FaultEvent {
  pid: number;
  va: number;
  access: string;
  kind: string;
}

/** What happened inside the kernel during one operation, from its event bus. */
export interface OpEvents {
  faults: FaultEvent[];
  cowBreaks: { copied: number; reclaimed: number };
  /** Frames taken from and returned to the allocator, by frame type (page-table frames included). */
  framesAllocated: Record<string, number>;
  framesFreed: Record<string, number>;
  /** Page-table nodes created and freed, by level (`L1`…). */
  nodesCreated: Record<string, number>;
  nodesFreed: Record<string, number>;
  /** TLB flush operations by kind (one page, one address space, everything), and the pages named. */
  tlbFlushes: { page: number; asid: number; all: number; pages: number };
  pageCache: {
    loads: { file: string; index: number }[];
    removals: { file: string; index: number }[];
    writebacks: { file: string; index: number }[];
  };
}

function emptyEvents(): OpEvents {
  return {
    faults: [],
    cowBreaks: { copied: 0, reclaimed: 0 },
    framesAllocated: {},
    framesFreed: {},
    nodesCreated: {},
    nodesFreed: {},
    tlbFlushes: { page: 0, asid: 0, all: 0, pages: 0 },
    pageCache: { loads: [], removals: [], writebacks: [] },
  };
}

function bump(rec: Record<string, number>, key: string): void {
  rec[key] = (rec[key] ?? 0) + 1;
}

/**
 * Listens to a kernel's event bus and sorts what it hears by operation: `take` returns what
 * happened since the last `take`. A node's level is set after its frame is allocated, so
 * created nodes are counted by level when they are taken; freed ones when freed (the level
 * stays in the frame's metadata until the frame is reused). `detach` removes every listener.
 */
export class OpEventRecorder {
  private current = emptyEvents();
  private readonly createdNodes: number[] = [];
  private readonly detachers: (() => void)[] = [];

  constructor(private readonly kernel: Kernel) {
    const ev = kernel.events;
    const on = <E extends Parameters<typeof ev.on>[0]>(name: E, f: Parameters<typeof ev.on<E>>[1]): void => {
      ev.on(name, f);
      this.detachers.push(() => ev.off(name, f));
    };
    on('fault', (pid, va, access, kind) => {
      this.current.faults.push({ pid, va, access, kind });
    });
    on('cowBreak', (_pid, _va, copied) => {
      if (copied) this.current.cowBreaks.copied++;
      else this.current.cowBreaks.reclaimed++;
    });
    on('frameAlloc', (pfn, type) => {
      bump(this.current.framesAllocated, FRAME_TYPE_NAMES[type]);
      if (type === FrameType.PageTable) this.createdNodes.push(pfn);
    });
    on('frameFree', (pfn, type) => {
      bump(this.current.framesFreed, FRAME_TYPE_NAMES[type]);
      if (type === FrameType.PageTable) bump(this.current.nodesFreed, `L${kernel.meta.level(pfn)}`);
    });
    on('tlbFlush', (kind, nrPages) => {
      this.current.tlbFlushes[kind]++;
      this.current.tlbFlushes.pages += nrPages;
    });
    on('pageCacheLoad', (file, index) => this.current.pageCache.loads.push({ file, index }));
    on('pageCacheRemove', (file, index) => this.current.pageCache.removals.push({ file, index }));
    on('pageCacheWriteback', (file, index) => this.current.pageCache.writebacks.push({ file, index }));
  }

  /** What happened since the last call. */
  take(): OpEvents {
    const out = this.current;
    for (const pfn of this.createdNodes) bump(out.nodesCreated, `L${this.kernel.meta.level(pfn)}`);
    this.createdNodes.length = 0;
    this.current = emptyEvents();
    return out;
  }

  detach(): void {
    for (const d of this.detachers.splice(0)) d();
  }
}

function counts(rec: Record<string, number>): string {
  return Object.entries(rec)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

function pages(list: { file: string; index: number }[]): string {
  return list.map((p) => `${p.file}[${p.index}]`).join(' ');
}

/** The events of one operation as indented text lines (none when nothing happened inside). */
export function formatOpEvents(e: OpEvents): string[] {
  const out: string[] = [];
  for (const f of e.faults) out.push(`fault: pid ${f.pid} ${f.access} at 0x${f.va.toString(16)}: ${f.kind}`);
  if (e.cowBreaks.copied + e.cowBreaks.reclaimed > 0)
    out.push(`COW breaks: copied ${e.cowBreaks.copied}, reclaimed in place ${e.cowBreaks.reclaimed}`);
  if (Object.keys(e.framesAllocated).length > 0) out.push(`frames allocated: ${counts(e.framesAllocated)}`);
  if (Object.keys(e.framesFreed).length > 0) out.push(`frames freed: ${counts(e.framesFreed)}`);
  if (Object.keys(e.nodesCreated).length > 0) out.push(`page-table nodes created: ${counts(e.nodesCreated)}`);
  if (Object.keys(e.nodesFreed).length > 0) out.push(`page-table nodes freed: ${counts(e.nodesFreed)}`);
  const t = e.tlbFlushes;
  if (t.page + t.asid + t.all > 0)
    out.push(`TLB flushes: page ${t.page}, address space ${t.asid}, full ${t.all} (${t.pages} pages named)`);
  if (e.pageCache.loads.length > 0) out.push(`page cache loads: ${pages(e.pageCache.loads)}`);
  if (e.pageCache.removals.length > 0) out.push(`page cache removals: ${pages(e.pageCache.removals)}`);
  if (e.pageCache.writebacks.length > 0) out.push(`page cache writebacks: ${pages(e.pageCache.writebacks)}`);
  return out;
}
