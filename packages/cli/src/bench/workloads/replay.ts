import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  LinuxSyscalls,
  MS_SYNC,
  parseHeader,
  parseOp,
  ScannedOp,
  scanLineBytes,
  type TraceHeader,
  type TraceOp,
  type U64,
} from '@mmkit/core';
import type { Workload } from '../types.ts';
import { assertClean, benchKernel, perSecond, timeMs } from './common.ts';

/** The Linux-recorded traces without files shipped with mmkit's tests. */
const TRACE_DIR = fileURLToPath(new URL('../../../../core/test/fixtures/traces-nofile/', import.meta.url));
/** Passes over all traces per run: the concatenation is the "long mmtrace". */
const PASSES = 20;
const QUICK_PASSES = 2;

const U64_MASK = (1n << 64n) - 1n;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/** A trace file's bytes with its lines found (as the replay reads the file: a line at a time). */
interface Trace {
  /** The header line, parsed once (not at every pass). */
  header: TraceHeader;
  bytes: Uint8Array;
  /** Line `i` after the header is `bytes[starts[i], ends[i])`, without its line break. */
  starts: number[];
  ends: number[];
}

const NEWLINE = 0x0a;
const utf8 = new TextDecoder();

function loadTraces(): Trace[] {
  const files = readdirSync(TRACE_DIR)
    .filter((f) => f.endsWith('.trace.jsonl'))
    .sort();
  return files.map((f) => {
    const bytes = readFileSync(TRACE_DIR + f);
    const starts: number[] = [];
    const ends: number[] = [];
    for (let start = 0; start < bytes.length; ) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl < 0 ? bytes.length : nl;
      starts.push(start);
      ends.push(end);
      start = end + 1;
    }
    const header = parseHeader(bytes.toString('utf8', starts[0], ends[0]));
    return { header, bytes, starts: starts.slice(1), ends: ends.slice(1) };
  });
}

/**
 * Replays the trace lines on `sys` (parse + system call per line), as mmkit's replayer does
 * but on the bench's kernel, so that every layout replays (the core `Replayer` boots its
 * own `soa` kernel). A line the scanner takes (`scanLineBytes`, numbers) is parsed without
 * BigInt; any other goes through `parseOp`. The trace's pids map to fresh processes; all of
 * them exit at the end. Returns the number of lines executed.
 */
function replayOne(sys: LinuxSyscalls, t: Trace, scanned: ScannedOp, parsed: ScannedOp): number {
  const header = t.header;
  const { mmapMinAddr, taskSize } = sys.abi;
  let shift = 0n;
  if (header.windowLo < BigInt(mmapMinAddr) || header.windowHi > BigInt(taskSize)) {
    const gib = 1n << 30n;
    shift = (1n << BigInt(sys.kernel.consts.addressWidth - 2)) + (header.windowLo % gib) - header.windowLo;
  }
  const shiftNum = Number(shift);
  const addr = (x: bigint): U64 => {
    const v = shift === 0n ? x : (x + shift) & U64_MASK;
    return v <= MAX_SAFE_BIG ? Number(v) : v;
  };
  // A scanned address moved by the shift, as a number where that is exact.
  const addrOf = (x: U64): U64 => {
    if (typeof x === 'bigint') return addr(x);
    if (shift === 0n) return x;
    const v = x + shiftNum;
    return Number.isSafeInteger(shiftNum) && v >= 0 && v <= Number.MAX_SAFE_INTEGER ? v : addr(BigInt(x));
  };
  const pids: number[] = [sys.spawn()];
  const live = new Set(pids);
  let n = 0;
  const { bytes, starts, ends } = t;
  for (let i = 0; i < starts.length; i++) {
    let a = scanned;
    if (!scanLineBytes(bytes, starts[i], ends[i], header, scanned)) {
      const op = parseOp(utf8.decode(bytes.subarray(starts[i], ends[i])), i + 2, header);
      n++;
      if (!argsOf(op, parsed)) continue;
      a = parsed;
    } else {
      n++;
    }
    const pid = pids[a.pid];
    switch (a.op) {
      case 'mmap':
        sys.mmap(pid, addrOf(a.addr), a.len, a.prot, a.flags, a.offset);
        break;
      case 'munmap':
        sys.munmap(pid, addrOf(a.addr), a.len);
        break;
      case 'mprotect':
        sys.mprotect(pid, addrOf(a.addr), a.len, a.prot);
        break;
      case 'madvise':
        sys.madvise(pid, addrOf(a.addr), a.len, a.advice);
        break;
      case 'msync':
        sys.msync(pid, addrOf(a.addr), a.len, MS_SYNC);
        break;
      case 'mremap':
        sys.mremap(pid, addrOf(a.addr), a.oldLen, a.newLen, a.flags, addrOf(a.newAddr));
        break;
      case 'write':
        sys.writeMemory(pid, Number(addrOf(a.addr)), a.data as Uint8Array);
        break;
      case 'read':
        sys.readMemory(pid, Number(addrOf(a.addr)), readBuffer(Number(a.len)));
        break;
      case 'fork': {
        const child = sys.fork(pid);
        pids.push(child);
        live.add(child);
        break;
      }
      case 'exit':
        sys.exit(pid);
        live.delete(pid);
        break;
      case 'maps':
        sys.procs.require(pid).vmar.mappings.find(0, taskSize);
        break;
    }
  }
  for (const pid of live) sys.exit(pid);
  return n;
}

/**
 * Fills `a` as the scanner would from a line `parseOp` read (64-bit values as `U64`, moved by
 * the shift at dispatch). False for a line the workload skips: a file operation (no process)
 * or a file mapping.
 */
function argsOf(op: TraceOp, a: ScannedOp): boolean {
  if (!('pid' in op)) return false;
  a.op = op.op;
  a.pid = op.pid;
  switch (op.op) {
    case 'mmap':
      if (op.file !== null) return false;
      a.addr = op.addr;
      a.len = u64(op.len);
      a.prot = op.prot;
      a.flags = op.flags;
      a.offset = u64(op.offset);
      break;
    case 'munmap':
    case 'msync':
    case 'mincore':
    case 'munlock':
      a.addr = op.addr;
      a.len = u64(op.len);
      break;
    case 'mprotect':
      a.addr = op.addr;
      a.len = u64(op.len);
      a.prot = op.prot;
      break;
    case 'madvise':
      a.addr = op.addr;
      a.len = u64(op.len);
      a.advice = op.advice;
      break;
    case 'mremap':
      a.addr = op.addr;
      a.oldLen = u64(op.oldLen);
      a.newLen = u64(op.newLen);
      a.flags = op.flags;
      a.newAddr = op.newAddr;
      break;
    case 'write':
      a.addr = op.addr;
      a.data = op.data;
      break;
    case 'read':
      a.addr = op.addr;
      a.len = op.len;
      break;
  }
  return true;
}

/** Where loads land: `READ_VIEWS[n]` is its first `n` bytes (a view made once per length). */
const READ_BUFFER = new Uint8Array(4096);
const READ_VIEWS: Uint8Array[] = [];

/** A buffer of `len` bytes for a load (a load stays within a page). */
function readBuffer(len: number): Uint8Array {
  if (len > READ_BUFFER.length) return new Uint8Array(len);
  let view = READ_VIEWS[len];
  if (view === undefined) {
    view = READ_BUFFER.subarray(0, len);
    READ_VIEWS[len] = view;
  }
  return view;
}

/** A 64-bit length as a number where that is exact. */
function u64(x: bigint): U64 {
  return x <= MAX_SAFE_BIG ? Number(x) : x;
}

export const replay: Workload = {
  name: 'replay',
  description: `replay throughput: every Linux-recorded mmtrace of mmkit's fixtures (no files), concatenated ${PASSES} times (parse + system call per line)`,
  metrics: [{ metric: 'ops_per_s', unit: 'ops/s', higherIsBetter: true }],
  unavailable: () => null,
  setup(ctx) {
    const traces = loadTraces();
    if (traces.length === 0) throw new Error(`replay: no traces in ${TRACE_DIR}`);
    const kernel = benchKernel(ctx, 256 << 20);
    const sys = new LinuxSyscalls(kernel);
    const passes = ctx.quick ? QUICK_PASSES : PASSES;
    return {
      run() {
        let ops = 0;
        const scanned = new ScannedOp();
        const parsed = new ScannedOp();
        const ms = timeMs(() => {
          for (let p = 0; p < passes; p++) for (const t of traces) ops += replayOne(sys, t, scanned, parsed);
        });
        if (kernel.frames.nrInUse !== kernel.nrBootFrames) throw new Error('replay: frames leaked');
        return { ops_per_s: perSecond(ops, ms) };
      },
      finish: () => assertClean(kernel, 'replay'),
    };
  },
};
