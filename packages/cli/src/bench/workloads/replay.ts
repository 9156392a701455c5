import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LinuxSyscalls, MS_SYNC, parseHeader, parseOp, type U64 } from '@mmkit/core';
import type { Workload } from '../types.ts';
import { assertClean, benchKernel, perSecond, timeMs } from './common.ts';

/** The Linux-recorded traces without files shipped with mmkit's tests. */
const TRACE_DIR = fileURLToPath(new URL('../../../../core/test/fixtures/traces-nofile/', import.meta.url));
/** Passes over all traces per run: the concatenation is the "long mmtrace". */
const PASSES = 20;
const QUICK_PASSES = 2;

const U64_MASK = (1n << 64n) - 1n;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

interface Trace {
  header: string;
  lines: string[];
}

function loadTraces(): Trace[] {
  const files = readdirSync(TRACE_DIR)
    .filter((f) => f.endsWith('.trace.jsonl'))
    .sort();
  return files.map((f) => {
    const all = readFileSync(TRACE_DIR + f, 'utf8').split('\n');
    if (all[all.length - 1] === '') all.pop();
    return { header: all[0], lines: all.slice(1) };
  });
}

/**
 * Replays the trace lines on `sys` (parse + system call per line), as mmkit's replayer does
 * but on the bench's kernel, so that every layout replays (the core `Replayer` boots its
 * own `soa` kernel). The trace's pids map to fresh processes; all of them exit at the end.
 * Returns the number of lines executed.
 */
function replayOne(sys: LinuxSyscalls, t: Trace): number {
  const header = parseHeader(t.header);
  const { mmapMinAddr, taskSize } = sys.abi;
  let shift = 0n;
  if (header.windowLo < BigInt(mmapMinAddr) || header.windowHi > BigInt(taskSize)) {
    const gib = 1n << 30n;
    shift = (1n << BigInt(sys.kernel.consts.addressWidth - 2)) + (header.windowLo % gib) - header.windowLo;
  }
  const addr = (x: bigint): U64 => {
    const v = shift === 0n ? x : (x + shift) & U64_MASK;
    return v <= MAX_SAFE_BIG ? Number(v) : v;
  };
  const pids: number[] = [sys.spawn()];
  const live = new Set(pids);
  const buf = new Uint8Array(4096);
  let n = 0;
  for (let i = 0; i < t.lines.length; i++) {
    const op = parseOp(t.lines[i], i + 2, header);
    n++;
    if (!('pid' in op)) continue;
    const pid = pids[op.pid];
    switch (op.op) {
      case 'mmap':
        if (op.file === null) sys.mmap(pid, addr(op.addr), op.len, op.prot, op.flags, op.offset);
        break;
      case 'munmap':
        sys.munmap(pid, addr(op.addr), op.len);
        break;
      case 'mprotect':
        sys.mprotect(pid, addr(op.addr), op.len, op.prot);
        break;
      case 'madvise':
        sys.madvise(pid, addr(op.addr), op.len, op.advice);
        break;
      case 'msync':
        sys.msync(pid, addr(op.addr), op.len, MS_SYNC);
        break;
      case 'mremap':
        sys.mremap(pid, addr(op.addr), op.oldLen, op.newLen, op.flags, addr(op.newAddr));
        break;
      case 'write':
        sys.writeMemory(pid, Number(addr(op.addr)), op.data);
        break;
      case 'read':
        sys.readMemory(
          pid,
          Number(addr(op.addr)),
          op.len <= buf.length ? buf.subarray(0, op.len) : new Uint8Array(op.len),
        );
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
        const ms = timeMs(() => {
          for (let p = 0; p < passes; p++) for (const t of traces) ops += replayOne(sys, t);
        });
        if (kernel.frames.nrInUse !== kernel.nrBootFrames) throw new Error('replay: frames leaked');
        return { ops_per_s: perSecond(ops, ms) };
      },
      finish: () => assertClean(kernel, 'replay'),
    };
  },
};
