import {
  dirtyFileNames,
  type Kernel,
  type LinuxSyscalls,
  type LockModeStats,
  nodesPerLevel,
  rssByProcess,
} from '@mmkit/core';
import { formatBytes } from '../units.ts';
import type { RunConfig } from './config.ts';
import { type RunStats, type TlbSummary, tlbSummary } from './stats.ts';
import type { ThreadedRun, ThreadsSummary } from './threads.ts';

/** Everything `mmkit run` reports, as printed with `--json`. */
export interface RunSummary {
  workload: string;
  arch: string;
  memoryBytes: number;
  layout: string;
  plugins: string[];
  operations: { total: number; byKind: Record<string, number> };
  faults: { total: number; byKind: Record<string, number> };
  cowBreaks: { copied: number; reclaimed: number };
  tlb: TlbSummary;
  /** Threads, mmap_lock contention: a threaded workload's only (null for the others). */
  threads: ThreadsSummary | null;
  framesByType: Record<string, number>;
  pageTableNodesPerLevel: Record<string, number>;
  rssPages: { pid: number; anon: number; file: number }[];
  /** Page-cache counters, and the files that end the run holding pages marked dirty. */
  pageCache: { loads: number; removals: number; writebacks: number; dirtyFiles: string[] };
  seconds: number;
  check: { ok: boolean; violations: string[] };
  afterExit: {
    framesInUse: number;
    bootFrames: number;
    leaked: number;
    check: { ok: boolean; violations: string[] };
  };
}

function sorted(map: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...map.entries()].sort((a, b) => b[1] - a[1]));
}

/** Takes the snapshot of a finished run (before the processes are torn down). */
export function summarize(
  config: RunConfig,
  kernel: Kernel,
  sys: LinuxSyscalls,
  stats: RunStats,
  seconds: number,
  threaded?: ThreadedRun,
): RunSummary {
  const violations = kernel.check().map((v) => v.message);
  const levels = nodesPerLevel(kernel);
  return {
    workload: config.workload,
    arch: config.arch,
    memoryBytes: config.memory,
    layout: config.layout,
    plugins: kernel.plugins.names,
    operations: { total: stats.nrOps, byKind: sorted(stats.ops) },
    faults: { total: stats.nrFaults, byKind: sorted(stats.faults) },
    cowBreaks: { copied: stats.cowCopies, reclaimed: stats.cowReclaims },
    tlb: tlbSummary(kernel),
    threads: threaded?.summary() ?? null,
    framesByType: kernel.frames.usageByType(),
    pageTableNodesPerLevel: Object.fromEntries(levels.slice(1).map((n, i) => [`L${i + 1}`, n])),
    rssPages: rssByProcess(sys.procs),
    pageCache: {
      loads: stats.pageCacheLoads,
      removals: stats.pageCacheRemovals,
      writebacks: stats.pageCacheWritebacks,
      dirtyFiles: dirtyFileNames(kernel.control),
    },
    seconds,
    check: { ok: violations.length === 0, violations: violations.slice(0, 20) },
    afterExit: {
      framesInUse: 0,
      bootFrames: kernel.nrBootFrames,
      leaked: 0,
      check: { ok: true, violations: [] },
    },
  };
}

/** Exits every process and records what is left (a leak shows as frames above the boot frames). */
export function teardown(summary: RunSummary, kernel: Kernel, sys: LinuxSyscalls): void {
  for (const p of sys.procs.live) sys.exit(p.pid);
  const violations = kernel.check().map((v) => v.message);
  const inUse = kernel.frames.nrInUse - kernel.frames.usageByType()['page-cache'];
  summary.afterExit = {
    framesInUse: kernel.frames.nrInUse,
    bootFrames: kernel.nrBootFrames,
    leaked: inUse - kernel.nrBootFrames,
    check: { ok: violations.length === 0, violations: violations.slice(0, 20) },
  };
}

function line(label: string, value: string): string {
  return `${label.padEnd(18)} ${value}`;
}

function kinds(rec: Record<string, number>): string {
  const parts = Object.entries(rec).map(([k, v]) => `${k} ${v}`);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** The TLB lines of the summary. */
function formatTlb(t: TlbSummary): string[] {
  const f = t.flushes;
  const flushes = line(
    'TLB flushes',
    `${f.total} (by page ${f.page} for ${f.pagesFlushed} pages, by ASID ${f.asid}, full ${f.full}), shootdowns ${t.shootdowns}`,
  );
  const perCpu = line('shootdowns to', t.shootdownsByCpu.map((n, cpu) => `CPU ${cpu} ${n}`).join(', '));
  if (!t.modelled) return [line('TLB', 'not modelled (tlb.enabled false)'), flushes];
  return [
    line('TLB', `${t.cpus} CPU(s), each L1 ${t.l1} + L2 ${t.l2}`),
    line(
      'TLB lookups',
      `${t.lookups}: hits ${t.hits.l1 + t.hits.l2} (L1 ${t.hits.l1}, L2 ${t.hits.l2}, ${(100 * t.hitRate).toFixed(1)}%), misses ${t.misses}, evictions L1 ${t.evictions.l1}, L2 ${t.evictions.l2}`,
    ),
    flushes,
    perCpu,
    line('stale TLB hits', t.staleHits === 0 ? 'none' : `${t.staleHits} (a flush is missing)`),
  ];
}

/** Lock figures of one mode: acquisitions, then the waits. */
function lockMode(s: LockModeStats): string {
  if (s.waited === 0) return `${s.acquired} (none waited)`;
  return `${s.acquired} (${s.waited} waited, ${s.waitSteps} steps in all, longest ${s.maxWaitSteps})`;
}

/** The thread lines of the summary (none for a workload without threads). */
function formatThreads(t: ThreadsSummary | null): string[] {
  if (t === null) return [];
  const l = t.mmapLock;
  return [
    line(
      'threads',
      `${t.count}, ${t.steps} scheduler steps (seed ${t.seed}), faults under ${t.perVmaLocks ? 'per-VMA locks where possible' : 'the mmap_lock'}`,
    ),
    ...t.perThread.map((p) =>
      line(`  tid ${p.tid}`, `pid ${p.pid}, CPU ${p.cpu}: ${p.ops} ops${kinds(p.byKind)}`),
    ),
    line('mmap_lock reads', lockMode(l.reads)),
    line('mmap_lock writes', `${lockMode(l.writes)}, ${l.downgrades} downgraded to read`),
  ];
}

/** The summary as text for a terminal. */
export function formatSummary(s: RunSummary): string {
  const rss = s.rssPages.map((r) => `pid ${r.pid}: anon ${r.anon}, file ${r.file}`).join('; ');
  const frames = Object.entries(s.framesByType)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const nodes = Object.entries(s.pageTableNodesPerLevel)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const verdict = (c: { ok: boolean; violations: string[] }) =>
    c.ok ? 'ok' : `${c.violations.length} violation(s): ${c.violations[0]}`;
  return [
    `mmkit run: workload ${s.workload} on ${s.arch}, ${formatBytes(s.memoryBytes)}, layout ${s.layout}, plugins ${s.plugins.join(', ') || 'none'}`,
    line('operations', `${s.operations.total}${kinds(s.operations.byKind)}`),
    line('page faults', `${s.faults.total}${kinds(s.faults.byKind)}`),
    line(
      'COW breaks',
      `${s.cowBreaks.copied + s.cowBreaks.reclaimed} (copied ${s.cowBreaks.copied}, reclaimed in place ${s.cowBreaks.reclaimed})`,
    ),
    ...formatThreads(s.threads),
    ...formatTlb(s.tlb),
    line('frames in use', frames),
    line('page-table nodes', nodes),
    line('RSS (pages)', rss || 'no live process'),
    line(
      'page cache',
      `loads ${s.pageCache.loads}, removals ${s.pageCache.removals}, writebacks ${s.pageCache.writebacks}, dirty files ${s.pageCache.dirtyFiles.length}`,
    ),
    line(
      'time',
      `${s.seconds.toFixed(3)} s (${Math.round(s.operations.total / Math.max(s.seconds, 1e-9)).toLocaleString('en-US')} ops/s)`,
    ),
    line('kernel.check()', verdict(s.check)),
    line(
      'after exit',
      `${s.afterExit.leaked === 0 ? 'no frame leaked' : `${s.afterExit.leaked} frame(s) leaked`}; kernel.check() ${verdict(s.afterExit.check)}`,
    ),
  ].join('\n');
}
