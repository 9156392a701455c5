import { type Process, RSS_ANON, RSS_FILE } from '@mmkit/core';
import { UsageError } from '../archs.ts';
import { FileTable } from './files.ts';
import { type FramesView, framesView } from './frames.ts';
import { type PtNode, pageTableTree } from './page-table.ts';
import type { TraceSession } from './session.ts';
import { type SmapsFigures, totals, type VmaView, vmaViews } from './vmas.ts';

/**
 * TLB counters of the kernel's TLB model (all CPUs): lookups, flush operations by kind and
 * shootdowns. This is the one place the views read the TLB model.
 */
export interface TlbView {
  hits: number;
  misses: number;
  evictions: number;
  flushes: number;
  pageFlushes: number;
  asidFlushes: number;
  fullFlushes: number;
  shootdowns: number;
  staleHits: number;
}

/** Everything `mmkit inspect` shows about one process at one line of a trace. */
export interface InspectState {
  trace: string;
  arch: string;
  /** Last executed line (1 = the header). */
  line: number;
  nrLines: number;
  /** Result line of the last executed line. */
  lastResult: string;
  pid: number;
  livePids: number[];
  /** The model's RSS counters of the process, in pages. */
  rssPages: { anon: number; file: number };
  vmas: VmaView[];
  totals: SmapsFigures & { size: number };
  /** The address range the page-table tree is cut to. */
  range: { start: number; end: number };
  pageTable: PtNode;
  frames: FramesView;
  tlb: TlbView;
  /** `kernel.check()`'s violations (empty: every invariant holds). */
  violations: string[];
}

export interface InspectOptions {
  /** Process to show (default: the lowest live pid). */
  pid?: number;
  /** Page-table range (default: the whole user half). */
  range?: { start: number; end: number };
}

/** The live process `pid` (default the lowest live one); a `UsageError` if there is none. */
export function chooseProcess(session: TraceSession, pid: number | undefined): Process {
  const live = session.replayer.sys.procs.live;
  const where = `after line ${session.line}`;
  if (live.length === 0) throw new UsageError(`no live process ${where}`);
  if (pid === undefined) return live[0];
  const p = live.find((q) => q.pid === pid);
  if (p === undefined)
    throw new UsageError(`pid ${pid} is not live ${where} (live: ${live.map((q) => q.pid).join(', ')})`);
  return p;
}

/** Gathers the state of the model after the session's last executed line. */
export function inspectState(session: TraceSession, lastResult: string, opts: InspectOptions): InspectState {
  const { kernel, sys } = session.replayer;
  const p = chooseProcess(session, opts.pid);
  const files = new FileTable(kernel);
  const vmas = vmaViews(kernel, p, files);
  const pt = p.vmar.space.pt;
  const range = opts.range ?? { start: pt.lower, end: pt.upper };
  const tlb = kernel.tlb;
  return {
    trace: session.path,
    arch: kernel.consts.name,
    line: session.line,
    nrLines: session.nrLines,
    lastResult,
    pid: p.pid,
    livePids: sys.procs.live.map((q) => q.pid),
    rssPages: { anon: p.vmar.rss[RSS_ANON], file: p.vmar.rss[RSS_FILE] },
    vmas,
    totals: totals(vmas),
    range,
    pageTable: pageTableTree(kernel, pt, range.start, range.end),
    frames: framesView(kernel, files),
    tlb: {
      hits: tlb.nrHits,
      misses: tlb.nrMisses,
      evictions: tlb.nrL1Evictions + tlb.nrL2Evictions,
      flushes: tlb.nrFlushes,
      pageFlushes: tlb.nrPageFlushes,
      asidFlushes: tlb.nrAsidFlushes,
      fullFlushes: tlb.nrFullFlushes,
      shootdowns: tlb.nrShootdowns,
      staleHits: tlb.nrStaleHits,
    },
    violations: kernel.check().map((v) => `[${v.kind}] ${v.message}`),
  };
}

/** Parses `--range A-B`: two hex addresses, with or without `0x`. */
export function parseRange(text: string): { start: number; end: number } {
  const m = /^\s*(?:0x)?([0-9a-fA-F]+)\s*-\s*(?:0x)?([0-9a-fA-F]+)\s*$/.exec(text);
  const start = m ? Number.parseInt(m[1], 16) : Number.NaN;
  const end = m ? Number.parseInt(m[2], 16) : Number.NaN;
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start < end)) {
    throw new UsageError(
      `bad range '${text}': expected START-END in hex with START < END (e.g. 0x100000000000-0x100000010000)`,
    );
  }
  return { start, end };
}

/** Parses a `--pid` option (undefined stays undefined: the default process). */
export function parsePid(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const pid = Number(text);
  if (!(text.trim() !== '' && Number.isInteger(pid) && pid >= 0))
    throw new UsageError(`bad --pid '${text}': expected a process id`);
  return pid;
}
