import {
  formatPerms,
  formatProp,
  type Kernel,
  mappingRuns,
  type Process,
  RSS_ANON,
  RSS_FILE,
} from '@mmkit/core';
import { FileTable } from '../inspect/files.ts';
import { formatOpEvents, OpEventRecorder } from '../inspect/op-events.ts';
import { decodePteBits, pteBits, pteHex } from '../inspect/pte-bits.ts';
import type { TraceSession } from '../inspect/session.ts';
import { mappingIdentity } from '../inspect/vmas.ts';

/** A mapping as the page shows it: start, end, `rw-p` permissions, name ('' for anonymous memory). */
export type UiVma = [start: number, end: number, perms: string, name: string];

/** A leaf PTE: address, raw word (hex), hardware bits, decoded property, frame, page size. */
export type UiLeaf = [va: number, raw: string, bits: string, prop: string, pfn: number, size: number];

/** Mappings removed (by start address) and added in one line. */
export type UiVmaChange = [removedStarts: number[], added: UiVma[]];

/**
 * What changed during one trace line. Absent keys mean "no change": `v` and `p` hold, per
 * pid, the mappings removed and added and the leaves added or changed (`[va]` alone:
 * removed); a pid mapped to `null` exited. `f` lists frames whose type changed, as pairs
 * `pfn, type`.
 */
export interface UiStep {
  v?: Record<number, UiVmaChange | null>;
  p?: Record<number, (UiLeaf | [number])[] | null>;
  f?: number[];
  /** Events of the line, as text (see `formatOpEvents`). */
  e?: string[];
}

/**
 * The compact event log the page replays: the trace, each line's result and changes, the
 * frame types at the start, and per-line series for the charts. The page rebuilds the state
 * at any line by applying the steps in order (a diff per line is far smaller than a snapshot).
 */
export interface UiTimeline {
  trace: string;
  arch: string;
  nrLevels: number;
  /** Bytes one entry covers at each level (index = level). */
  levelSizes: number[];
  nrFrames: number;
  /** Frames the frame map shows: up to the highest frame in use at any line. */
  framesShown: number;
  /** Frame types after the header, run-length encoded: `type, count, type, count, …`. */
  framesAtStart: number[];
  lines: string[];
  /** Result lines, cut to `RESULT_CHARS` characters. */
  results: string[];
  steps: UiStep[];
  /** Per line: RSS of all processes (pages), faults and TLB flushes during the line. */
  rss: number[];
  faults: number[];
  flushes: number[];
}

function frameTypesRle(kernel: Kernel): number[] {
  const out: number[] = [];
  const n = kernel.frames.nrFrames;
  for (let pfn = 0; pfn < n; ) {
    const t = kernel.frames.type(pfn);
    let end = pfn + 1;
    while (end < n && kernel.frames.type(end) === t) end++;
    out.push(t, end - pfn);
    pfn = end;
  }
  return out;
}

interface ProcessView {
  /** Mappings keyed by their `UiVma` as JSON (what the diff compares). */
  vmas: Map<string, UiVma>;
  leaves: Map<number, UiLeaf>;
}

/** The mappings and present leaves of process `p`. */
function processView(kernel: Kernel, p: Process, files: FileTable): ProcessView {
  const codec = kernel.arch.codec;
  const bits = pteBits(kernel.consts.name);
  const sizes = kernel.ctx.sizes;
  const page = kernel.consts.basePageSize;
  const leaves = new Map<number, UiLeaf>();
  const vmas = new Map<string, UiVma>();
  for (const m of p.vmar.views()) {
    const vma: UiVma = [m.start, m.end, formatPerms(m.perms, m.shared), mappingIdentity(m, files).name];
    vmas.set(JSON.stringify(vma), vma);
    for (const r of mappingRuns(p.vmar.space.pt, m.start, m.end)) {
      let level = 1;
      while (sizes[level] < r.pageSize) level++;
      for (let i = 0; i < r.count; i++) {
        const pfn = r.paddr / page + (i * r.pageSize) / page;
        // Re-encoding gives the stored word: codecs round-trip every representable property.
        const lo = codec.leafLo(pfn, r.prop, level);
        const hi = codec.leafHi(pfn, r.prop, level);
        const va = r.va + i * r.pageSize;
        leaves.set(va, [
          va,
          pteHex(lo, hi),
          decodePteBits(bits, lo, hi),
          formatProp(r.prop),
          pfn,
          r.pageSize,
        ]);
      }
    }
  }
  return { vmas, leaves };
}

/**
 * Pids whose mappings or PTEs line `text` may have changed: the op's process (and the child
 * a fork created) and every process that faulted; file ops and msync may unmap or clean
 * pages of any process mapping the file, so they mark every live process.
 */
function touchedPids(text: string, result: string, faultPids: number[], live: number[]): number[] {
  const op = JSON.parse(text) as { op: string; pid?: number };
  if (op.pid === undefined || op.op === 'msync') return live;
  const pids = new Set([op.pid, ...faultPids]);
  if (op.op === 'fork') pids.add((JSON.parse(result) as { ret: number }).ret);
  return [...pids];
}

/** Result lines longer than this are cut for the page (long `data` and `maps` results). */
const RESULT_CHARS = 160;

/**
 * Replays the whole session and records its timeline; `onLine` hears the progress after
 * each line. The session must be at line 1 (only the header executed).
 */
export function buildTimeline(
  session: TraceSession,
  onLine?: (done: number, total: number) => void,
): UiTimeline {
  const { kernel, sys } = session.replayer;
  const files = new FileTable(kernel);
  const touched = new Set<number>();
  let highest = 0;
  const onFrame = (pfn: number): void => {
    touched.add(pfn);
    if (pfn > highest) highest = pfn;
  };
  kernel.events.on('frameAlloc', onFrame);
  kernel.events.on('frameFree', onFrame);
  const recorder = new OpEventRecorder(kernel);
  const t: UiTimeline = {
    trace: session.path,
    arch: kernel.consts.name,
    nrLevels: kernel.consts.nrLevels,
    levelSizes: Array.from(kernel.ctx.sizes).slice(0, kernel.consts.nrLevels + 1),
    nrFrames: kernel.frames.nrFrames,
    framesShown: 0,
    framesAtStart: frameTypesRle(kernel),
    lines: [...session.lines],
    results: ['{"mmtrace":1}'],
    steps: [{}],
    rss: [0],
    faults: [0],
    flushes: [0],
  };
  const views = new Map<number, ProcessView>();
  for (const p of sys.procs.live) views.set(p.pid, processView(kernel, p, files));
  try {
    while (!session.atEnd) {
      const { text, result } = session.next();
      const events = recorder.take();
      const step: UiStep = {};
      const live = sys.procs.live.map((q) => q.pid);
      const v: Record<number, UiVmaChange | null> = {};
      const p: Record<number, (UiLeaf | [number])[] | null> = {};
      for (const pid of [...views.keys()]) {
        if (live.includes(pid)) continue;
        views.delete(pid);
        v[pid] = null;
        p[pid] = null;
      }
      const faultPids = events.faults.map((f) => f.pid);
      for (const pid of touchedPids(text, result, faultPids, live)) {
        const proc = sys.procs.get(pid);
        if (proc === undefined) continue;
        const old = views.get(pid) ?? { vmas: new Map(), leaves: new Map() };
        const cur = processView(kernel, proc, files);
        views.set(pid, cur);
        const removed = [...old.vmas.keys()].filter((k) => !cur.vmas.has(k)).map((k) => old.vmas.get(k)![0]);
        const added = [...cur.vmas.entries()].filter(([k]) => !old.vmas.has(k)).map(([, m]) => m);
        if (removed.length + added.length > 0) v[pid] = [removed, added];
        const changes: (UiLeaf | [number])[] = [];
        for (const [va, leaf] of cur.leaves) {
          const o = old.leaves.get(va);
          if (o === undefined || o[1] !== leaf[1]) changes.push(leaf);
        }
        for (const va of old.leaves.keys()) if (!cur.leaves.has(va)) changes.push([va]);
        if (changes.length > 0) p[pid] = changes;
      }
      if (Object.keys(v).length > 0) step.v = v;
      if (Object.keys(p).length > 0) step.p = p;
      if (touched.size > 0) {
        step.f = [];
        for (const pfn of touched) step.f.push(pfn, kernel.frames.type(pfn));
        touched.clear();
      }
      const inside = formatOpEvents(events);
      if (inside.length > 0) step.e = inside;
      t.steps.push(step);
      t.results.push(result.length > RESULT_CHARS ? `${result.slice(0, RESULT_CHARS)}…` : result);
      let rss = 0;
      for (const q of sys.procs.live) rss += q.vmar.rss[RSS_ANON] + q.vmar.rss[RSS_FILE];
      t.rss.push(rss);
      t.faults.push(events.faults.length);
      t.flushes.push(events.tlbFlushes.page + events.tlbFlushes.asid + events.tlbFlushes.all);
      onLine?.(session.line, session.nrLines);
    }
  } finally {
    recorder.detach();
    kernel.events.off('frameAlloc', onFrame);
    kernel.events.off('frameFree', onFrame);
  }
  for (let pfn = 0; pfn < kernel.frames.nrFrames; pfn++)
    if (kernel.frames.isInUse(pfn) && pfn > highest) highest = pfn;
  t.framesShown = highest + 1;
  return t;
}
