import type { Arch } from '../../arch/arch.ts';
import type { Violation } from '../../kernel/check.ts';
import { createKernel, type Kernel } from '../../kernel/kernel.ts';
import type { PluginSpec } from '../../kernel/plugin.ts';
import type { ForkStrategy } from '../../process/fork-strategy.ts';
import { FAULT_SIGBUS } from '../../vmar/page-fault.ts';
import { formatPerms } from '../../vmar/vm-perms.ts';
import type { Vmo } from '../../vmar/vmo.ts';
import { EFBIG, errnoName } from '../errno.ts';
import { type FileOp, HOOK_FILE_OP, HOOK_LOOKUP_FILE } from '../file-ops.ts';
import { MLOCK_ONFAULT, MS_SYNC } from '../linux-abi.ts';
import { LinuxSyscalls } from '../linux-syscalls.ts';
import type { U64 } from '../u64.ts';
import { parseHeader, parseOpJson, type TraceHeader, type TraceOp, traceError } from './parse.ts';
import { ScannedOp, scanLine } from './scan.ts';

export interface ReplayOptions {
  arch: Arch;
  /** Physical memory of the replaying kernel in bytes (default 256 MiB). */
  memory?: number;
  /** Storage layout of frame metadata (default `soa`). */
  layout?: string;
  /** Fork strategy (default: the eager copy). */
  forkStrategy?: ForkStrategy;
  /** Plugins of the replaying kernel; file operations need one with files (the page cache). */
  plugins?: readonly PluginSpec[];
}

const U64_MASK = (1n << 64n) - 1n;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/** Default physical memory of a replay: far more than any trace touches. */
export const REPLAY_MEMORY = 256 << 20;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/**
 * Replays an mmtrace v1 or v2 trace on a fresh kernel, one line at a time, producing the result
 * line of each (`../shared/spec/mmtrace.md`) exactly as Linux's recorder prints it.
 *
 * Process 0 exists from the start; `fork` creates pids in order. An op on a pid that is not
 * live is a malformed trace: `step` throws `MmError` `MalformedTrace` naming the line. File
 * operations and file mappings go to the plugin with files (`HOOK_FILE_OP`,
 * `HOOK_LOOKUP_FILE`: the page cache); without one they are malformed too.
 *
 * Window relocation: when the trace's window does not fit the architecture's user space
 * (Sv39 has 2^38 bytes, the traces use 0x100000000000), every address from the window's
 * start up is shifted by a constant so that the window lands at 2^(width-2) plus the same
 * offset within 1 GiB, and shifted back in results. Addresses below the window and
 * lengths are not shifted, so low and absurd values keep their meaning.
 *
 * A line comes either as a `TraceOp` (`step`) or as the byte scanner read it
 * (`stepScanned`, 64-bit values as numbers where they are exact): both give the same result
 * line for the same trace line.
 */
export class Replayer {
  readonly kernel: Kernel;
  readonly sys: LinuxSyscalls;
  readonly header: TraceHeader;
  /** Model address = trace address + `shift` (a multiple of 1 GiB) for trace addresses from the window's start up. */
  private readonly shift: bigint;
  /** `shift` as a number (exact: below 2^48 in magnitude), for results. */
  private readonly shiftNum: number;
  private readonly windowLo: bigint;
  /** `windowLo` as a number: exact up to 2^53, above every safe integer otherwise (`addrOf`). */
  private readonly windowLoNum: number;
  private readonly lo: number;
  private readonly hi: number;
  /** Where loads land, and its views by length (`loadBuffer`). */
  private readonly loadBytes: Uint8Array;
  private readonly loadViews: Uint8Array[] = [];

  constructor(headerLine: string, opts: ReplayOptions) {
    this.header = parseHeader(headerLine);
    this.kernel = createKernel({
      arch: opts.arch,
      memory: opts.memory ?? REPLAY_MEMORY,
      layout: opts.layout,
      plugins: opts.plugins,
    });
    this.sys = new LinuxSyscalls(this.kernel, { forkStrategy: opts.forkStrategy });
    if (this.header.pageSize !== this.sys.abi.pageSize)
      throw traceError(1, "page_size differs from the architecture's");
    const { windowLo, windowHi } = this.header;
    const { mmapMinAddr, taskSize } = this.sys.abi;
    let shift = 0n;
    if (windowLo < BigInt(mmapMinAddr) || windowHi > BigInt(taskSize)) {
      const gib = 1n << 30n;
      const base = (1n << BigInt(this.kernel.consts.addressWidth - 2)) + (windowLo % gib);
      if (base + (windowHi - windowLo) > BigInt(taskSize)) {
        throw traceError(1, `the window does not fit the ${this.kernel.consts.name} user address space`);
      }
      shift = base - windowLo;
    }
    this.shift = shift;
    this.shiftNum = Number(shift);
    this.windowLo = windowLo;
    this.windowLoNum = Number(windowLo);
    this.lo = Number(windowLo + shift);
    this.hi = Number(windowHi + shift);
    this.loadBytes = new Uint8Array(this.header.pageSize);
    this.sys.spawn();
  }

  /** The result line of the header. */
  headerResult(): string {
    return `{"mmtrace":${this.header.version}}`;
  }

  private addr(x: bigint): U64 {
    const v = x >= this.windowLo && this.shift !== 0n ? (x + this.shift) & U64_MASK : x;
    return v <= MAX_SAFE_BIG ? Number(v) : v;
  }

  /**
   * `addr` of a scanned value: a number stays a number, with no bigint made, wherever the
   * result is a safe integer (the shift is below 2^48 in magnitude, so the sum is exact).
   */
  private addrOf(x: U64): U64 {
    if (typeof x === 'bigint') return this.addr(x);
    if (this.shift === 0n || x < this.windowLoNum) return x;
    const v = x + this.shiftNum;
    return v >= 0 && v <= Number.MAX_SAFE_INTEGER ? v : this.addr(BigInt(x));
  }

  private traceAddr(modelAddr: number): string {
    // Model addresses are below 2^48 and map back to trace addresses below 2^53: exact in doubles.
    return `0x${(modelAddr >= this.lo ? modelAddr - this.shiftNum : modelAddr).toString(16)}`;
  }

  private retAddr(ret: number): string {
    return ret < 0 ? `{"errno":"${errnoName(ret)}"}` : `{"ret":"${this.traceAddr(ret)}"}`;
  }

  private ret0(ret: number): string {
    return ret < 0 ? `{"errno":"${errnoName(ret)}"}` : '{"ret":0}';
  }

  private fault(sig: number): string {
    return sig === FAULT_SIGBUS ? '{"fault":"SIGBUS"}' : '{"fault":"SIGSEGV"}';
  }

  /** Executes the op of trace line `line`; returns its result line. */
  step(op: TraceOp, line: number): string {
    if (!('pid' in op)) return this.fileOp(op, line);
    if (this.sys.procs.get(op.pid) === undefined)
      throw traceError(line, `pid ${op.pid} is not a live process`);
    const sys = this.sys;
    switch (op.op) {
      case 'mmap': {
        let file: Vmo | null = null;
        if (op.file !== null) {
          this.needFiles(line, 'mmap of a file');
          // A name never created is a bad descriptor.
          file = this.kernel.plugins.first(HOOK_LOOKUP_FILE, op.file) ?? null;
        }
        return this.retAddr(sys.mmap(op.pid, this.addr(op.addr), op.len, op.prot, op.flags, op.offset, file));
      }
      case 'munmap':
        return this.ret0(sys.munmap(op.pid, this.addr(op.addr), op.len));
      case 'mprotect':
        return this.ret0(sys.mprotect(op.pid, this.addr(op.addr), op.len, op.prot));
      case 'madvise':
        return this.ret0(sys.madvise(op.pid, this.addr(op.addr), op.len, op.advice));
      case 'msync':
        return this.ret0(sys.msync(op.pid, this.addr(op.addr), op.len, MS_SYNC));
      case 'mremap':
        return this.retAddr(
          sys.mremap(op.pid, this.addr(op.addr), op.oldLen, op.newLen, op.flags, this.addr(op.newAddr)),
        );
      case 'write': {
        const sig = sys.writeMemory(op.pid, Number(this.addr(op.addr)), op.data);
        return sig === 0 ? '{"ret":0}' : this.fault(sig);
      }
      case 'read':
        return this.read(op.pid, this.addr(op.addr), op.len);
      case 'fork':
        return `{"ret":${sys.fork(op.pid)}}`;
      case 'exit':
        sys.exit(op.pid);
        return '{"ret":0}';
      case 'maps':
        return this.maps(op.pid);
      case 'mincore': {
        const vec = sys.mincore(op.pid, this.addr(op.addr), op.len);
        return typeof vec === 'number' ? this.ret0(vec) : `{"vec":"${vec.join('')}"}`;
      }
      case 'rss': {
        const r = sys.rss(op.pid, this.lo, this.hi);
        return `{"rss":{"anon":${r.anon},"file":${r.file},"shmem":${r.shmem}}}`;
      }
      case 'mlock':
        return this.ret0(sys.mlock(op.pid, this.addr(op.addr), op.len, (op.flags & MLOCK_ONFAULT) !== 0));
      case 'munlock':
        return this.ret0(sys.munlock(op.pid, this.addr(op.addr), op.len));
      case 'mlockall':
        return this.ret0(sys.mlockall(op.pid, op.flags));
      case 'munlockall':
        return this.ret0(sys.munlockall(op.pid));
      case 'brk':
        // The break is relative to the heap's start, outside the window: never shifted.
        return `{"ret":"0x${sys.brk(op.pid, op.delta).toString(16)}"}`;
    }
  }

  /**
   * Executes trace line `line` as the scanner read it (`scanLine` accepted it); returns its
   * result line, the one `step` gives for the `TraceOp` `parseOp` makes of that line.
   */
  stepScanned(s: ScannedOp, line: number): string {
    const pid = s.pid;
    if (this.sys.procs.get(pid) === undefined) throw traceError(line, `pid ${pid} is not a live process`);
    const sys = this.sys;
    switch (s.op) {
      case 'mmap':
        // The scanner takes only anonymous mappings (a file mapping names its file).
        return this.retAddr(sys.mmap(pid, this.addrOf(s.addr), s.len, s.prot, s.flags, s.offset, null));
      case 'munmap':
        return this.ret0(sys.munmap(pid, this.addrOf(s.addr), s.len));
      case 'mprotect':
        return this.ret0(sys.mprotect(pid, this.addrOf(s.addr), s.len, s.prot));
      case 'madvise':
        return this.ret0(sys.madvise(pid, this.addrOf(s.addr), s.len, s.advice));
      case 'msync':
        return this.ret0(sys.msync(pid, this.addrOf(s.addr), s.len, MS_SYNC));
      case 'mremap':
        return this.retAddr(
          sys.mremap(pid, this.addrOf(s.addr), s.oldLen, s.newLen, s.flags, this.addrOf(s.newAddr)),
        );
      case 'write': {
        const sig = sys.writeMemory(pid, Number(this.addrOf(s.addr)), s.data as Uint8Array);
        return sig === 0 ? '{"ret":0}' : this.fault(sig);
      }
      case 'read':
        return this.read(pid, this.addrOf(s.addr), Number(s.len));
      case 'fork':
        return `{"ret":${sys.fork(pid)}}`;
      case 'exit':
        sys.exit(pid);
        return '{"ret":0}';
      case 'maps':
        return this.maps(pid);
      case 'mincore': {
        const vec = sys.mincore(pid, this.addrOf(s.addr), s.len);
        return typeof vec === 'number' ? this.ret0(vec) : `{"vec":"${vec.join('')}"}`;
      }
      case 'rss': {
        const r = sys.rss(pid, this.lo, this.hi);
        return `{"rss":{"anon":${r.anon},"file":${r.file},"shmem":${r.shmem}}}`;
      }
      case 'mlock':
        return this.ret0(sys.mlock(pid, this.addrOf(s.addr), s.len, (s.flags & MLOCK_ONFAULT) !== 0));
      case 'munlock':
        return this.ret0(sys.munlock(pid, this.addrOf(s.addr), s.len));
      case 'mlockall':
        return this.ret0(sys.mlockall(pid, s.flags));
      case 'munlockall':
        return this.ret0(sys.munlockall(pid));
      case 'brk':
        return `{"ret":"0x${sys.brk(pid, s.hasDelta ? s.delta : null).toString(16)}"}`;
      default:
        throw traceError(line, `op "${s.op}" is not one the scanner reads`);
    }
  }

  /** A load of `len` bytes at model address `addr`: its data or its fault. */
  private read(pid: number, addr: U64, len: number): string {
    const out = this.loadBuffer(len);
    const sig = this.sys.readMemory(pid, Number(addr), out);
    return sig === 0 ? `{"data":"${toHex(out)}"}` : this.fault(sig);
  }

  /**
   * `len` bytes for a load to land in, turned into its result at once: a view of one
   * page-sized buffer made once per length (a load stays within a page), so a load
   * allocates no array.
   */
  private loadBuffer(len: number): Uint8Array {
    if (len > this.loadBytes.length) return new Uint8Array(len);
    let view = this.loadViews[len];
    if (view === undefined) {
      view = this.loadBytes.subarray(0, len);
      this.loadViews[len] = view;
    }
    return view;
  }

  /** Throws `MalformedTrace` unless a plugin provides files. */
  private needFiles(line: number, what: string): void {
    if (this.kernel.plugins.with(HOOK_FILE_OP).length === 0) {
      throw traceError(
        line,
        `${what} needs the page-cache plugin (--plugins pagecache), which this kernel does not have`,
      );
    }
  }

  /**
   * A file operation, run by the plugin that has files. Sizes and offsets past 2^53 (an
   * engine limit) are too large for a file (`EFBIG`), except for a `pread`, which reads
   * nothing there.
   */
  private fileOp(op: Extract<TraceOp, { name: string }>, line: number): string {
    this.needFiles(line, `op "${op.op}"`);
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    let req: FileOp;
    switch (op.op) {
      case 'file':
        if (op.size > max) return `{"errno":"${errnoName(-EFBIG)}"}`;
        req = { op: 'file', name: op.name, size: Number(op.size) };
        break;
      case 'pwrite':
        if (op.offset + BigInt(op.data.length) > max) return `{"errno":"${errnoName(-EFBIG)}"}`;
        req = { op: 'pwrite', name: op.name, offset: Number(op.offset), data: op.data };
        break;
      default: {
        const offset = op.offset > max ? max : op.offset;
        const len = op.len > max - offset ? max - offset : op.len;
        req = { op: op.op, name: op.name, offset: Number(offset), len: Number(len) };
      }
    }
    const r = this.kernel.plugins.first(HOOK_FILE_OP, req)!;
    if (typeof r !== 'number') return `{"data":"${toHex(r)}"}`;
    return this.ret0(r);
  }

  /** The page-level view of the window: maximal runs of mapped pages with equal permissions. */
  private maps(pid: number): string {
    const vmar = this.sys.procs.require(pid).vmar;
    const runs: string[] = [];
    let runStart = -1;
    let runEnd = -1;
    let runPerms = '';
    const flush = (): void => {
      if (runStart >= 0)
        runs.push(`["${this.traceAddr(runStart)}","${this.traceAddr(runEnd)}","${runPerms}"]`);
    };
    const maps = vmar.maps;
    for (const m of vmar.mappings.find(this.lo, this.hi)) {
      const s = Math.max(maps.start(m), this.lo);
      const e = Math.min(maps.end(m), this.hi);
      const perms = formatPerms(maps.perms(m), maps.shared(m));
      if (s === runEnd && perms === runPerms) {
        runEnd = e;
      } else {
        flush();
        runStart = s;
        runEnd = e;
        runPerms = perms;
      }
    }
    flush();
    return `{"maps":[${runs.join(',')}]}`;
  }

  /** Every violated invariant of the kernel and of the processes' address spaces. */
  check(): Violation[] {
    return this.kernel.check();
  }
}

/**
 * Replays a whole trace given as lines (the first is the header); yields one result line
 * per trace line. A final empty line (the file's last newline) is ignored. With `check`,
 * `onViolations` is called after every op with the violations found (when any) and the
 * replay stops there.
 */
export function* replayLines(
  lines: readonly string[],
  opts: ReplayOptions & { check?: boolean; onViolations?: (line: number, v: Violation[]) => void },
): Generator<string> {
  const n = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  if (n === 0) throw traceError(1, 'empty trace (no header)');
  const r = new Replayer(lines[0], opts);
  yield r.headerResult();
  // A line the scanner takes needs no `TraceOp` (nor its bigints); `parseOp` gives the
  // `JSON.parse` result for any other, which is what is left to do here.
  const scanned = new ScannedOp();
  for (let i = 1; i < n; i++) {
    yield scanLine(lines[i], r.header, scanned)
      ? r.stepScanned(scanned, i + 1)
      : r.step(parseOpJson(lines[i], i + 1, r.header), i + 1);
    if (opts.check) {
      const v = r.check();
      if (v.length > 0) {
        opts.onViolations?.(i + 1, v);
        return;
      }
    }
  }
}
