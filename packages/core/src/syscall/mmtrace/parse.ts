import { MmError } from '../../errors.ts';
import { MREMAP_DONTUNMAP, PROT_EXEC, PROT_READ, PROT_WRITE } from '../linux-abi.ts';
import {
  ADVICE,
  ALLOWED,
  MLOCK_FLAGS,
  MLOCKALL_FLAGS,
  MMAP_FLAGS,
  MREMAP_FLAGS,
  V2_ADVICE,
  V2_MMAP_FLAGS,
  V2_MREMAP_FLAGS,
  V2_OPS,
} from './names.ts';
import { scanOp } from './scan.ts';

/** The header of an mmtrace v1 or v2 file (`../shared/spec/mmtrace.md`). */
export interface TraceHeader {
  /** 1 or 2: a v1 trace may not use anything of v2. */
  version: number;
  pageSize: number;
  /** The window `[lo, hi)` the trace touches; `maps` is clipped to it. */
  windowLo: bigint;
  windowHi: bigint;
}

/** One parsed trace line. 64-bit fields are bigints (the edge); Linux flag values are numbers. */
export type TraceOp =
  | {
      op: 'mmap';
      pid: number;
      addr: bigint;
      len: bigint;
      prot: number;
      flags: number;
      offset: bigint;
      file: string | null;
    }
  | { op: 'munmap' | 'msync'; pid: number; addr: bigint; len: bigint }
  | { op: 'mprotect'; pid: number; addr: bigint; len: bigint; prot: number }
  | { op: 'madvise'; pid: number; addr: bigint; len: bigint; advice: number }
  | {
      op: 'mremap';
      pid: number;
      addr: bigint;
      oldLen: bigint;
      newLen: bigint;
      flags: number;
      newAddr: bigint;
    }
  | { op: 'write'; pid: number; addr: bigint; data: Uint8Array }
  | { op: 'read'; pid: number; addr: bigint; len: number }
  | { op: 'fork' | 'exit' | 'maps' | 'rss' | 'munlockall'; pid: number }
  | { op: 'mincore' | 'munlock'; pid: number; addr: bigint; len: bigint }
  | { op: 'mlock'; pid: number; addr: bigint; len: bigint; flags: number }
  | { op: 'mlockall'; pid: number; flags: number }
  | { op: 'brk'; pid: number; delta: bigint | null }
  | { op: 'file'; name: string; size: bigint }
  | { op: 'pwrite'; name: string; offset: bigint; data: Uint8Array }
  | { op: 'pread' | 'evict'; name: string; offset: bigint; len: bigint };

const U64_MAX = (1n << 64n) - 1n;
const HEX_DATA = /^(?:[0-9a-f]{2})*$/;

/** The trace's window and version, which decide what a line may contain. */
export interface TraceContext {
  version: number;
  pageSize: number;
  windowLo: bigint;
  windowHi: bigint;
}

/** Ends of user space on any Linux (5-level paging): a range reaching past it is absurd, not out of the window. */
const USER_LIMIT_LA57 = 0x00fffffffffff000n;

/** A malformed-trace error naming the 1-based line. */
export function traceError(line: number, message: string): MmError {
  return new MmError('MalformedTrace', `line ${line}: ${message}`);
}

type Json = Record<string, unknown>;

function parseObject(text: string, line: number): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    // A blank line is not JSON either: told apart only here, off the per-line path.
    if (text.trim() === '') throw traceError(line, 'blank line (every line must be one JSON object)');
    throw traceError(line, `not valid JSON: ${jsonErrorReason(text, e)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw traceError(line, 'not a JSON object');
  return v as Json;
}

/**
 * `JSON.parse`'s complaint with the 1-based column of the first character that cannot
 * continue valid JSON (found by parsing growing prefixes: a prefix fails only at its end
 * until it takes in that character; lines are short), or the end of the line.
 */
function jsonErrorReason(text: string, e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const reason = message.replace(/ in JSON at position \d+.*$/, '');
  return `column ${jsonErrorColumn(text)}: ${reason}`;
}

function jsonErrorColumn(text: string): number {
  for (let k = 1; k <= text.length; k++) {
    try {
      JSON.parse(text.slice(0, k));
    } catch (e) {
      const message = e instanceof Error ? e.message : '';
      const at = /position (\d+)/.exec(message);
      const atEnd = /end of JSON input/.test(message) || (at !== null && Number(at[1]) >= k);
      if (!atEnd) return k;
    }
  }
  return text.length + 1;
}

function u64(o: Json, key: string, line: number, dflt?: bigint): bigint {
  const v = o[key];
  if (v === undefined) {
    if (dflt !== undefined) return dflt;
    throw traceError(line, `missing field "${key}"`);
  }
  if (typeof v !== 'string' || !isLowerHex(v))
    throw traceError(line, `field "${key}": expected a lower-case 0x hex string, got ${JSON.stringify(v)}`);
  // Up to 13 hex digits (below 2^52) the value is exact as a number, which converts to a
  // bigint much faster than the string does; most fields are that short.
  if (v.length <= 15) return BigInt(Number.parseInt(v, 16));
  const x = BigInt(v);
  if (x > U64_MAX) throw traceError(line, `field "${key}": ${v} does not fit 64 bits`);
  return x;
}

/** Whether `v` is `0x` followed by at least one lower-case hex digit (`HEX_U64`), without a regular expression. */
function isLowerHex(v: string): boolean {
  const n = v.length;
  if (n < 3 || v.charCodeAt(0) !== 0x30 || v.charCodeAt(1) !== 0x78) return false;
  for (let i = 2; i < n; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function pid(o: Json, line: number): number {
  const v = o.pid ?? 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw traceError(line, 'field "pid": expected a process id');
  return v;
}

function prot(o: Json, line: number): number {
  const v = o.prot;
  if (typeof v !== 'string' || v.length !== 3) throw badProt(line);
  const r = v.charCodeAt(0);
  const w = v.charCodeAt(1);
  const x = v.charCodeAt(2);
  const dash = 0x2d;
  if ((r !== 0x72 && r !== dash) || (w !== 0x77 && w !== dash) || (x !== 0x78 && x !== dash))
    throw badProt(line);
  return (r !== dash ? PROT_READ : 0) | (w !== dash ? PROT_WRITE : 0) | (x !== dash ? PROT_EXEC : 0);
}

function badProt(line: number): MmError {
  return traceError(line, 'field "prot": expected three characters like "rw-"');
}

function flags(
  o: Json,
  key: string,
  names: Record<string, number>,
  line: number,
  required: boolean,
  v2Names: Record<string, number> = {},
  version = 1,
): number {
  const v = o[key];
  if (v === undefined && !required) return 0;
  if (!Array.isArray(v)) throw traceError(line, `field "${key}": expected an array of flag names`);
  let bits = 0;
  for (const f of v) {
    if (typeof f === 'string' && Object.hasOwn(names, f)) {
      bits |= names[f];
    } else if (typeof f === 'string' && Object.hasOwn(v2Names, f)) {
      if (version < 2) throw traceError(line, `field "${key}": flag "${f}" needs an mmtrace v2 header`);
      bits |= v2Names[f];
    } else {
      throw traceError(line, `field "${key}": unknown flag ${JSON.stringify(f)}`);
    }
  }
  return bits;
}

/**
 * The spec's rules for mmap flags: exactly one sharing type, at most one fixed kind,
 * `anonymous` iff no file. A name given twice counts once (flags are bits, and the Linux
 * recorder reads the list so).
 */
function checkMmapFlags(o: Json, line: number, hasFile: boolean): void {
  const names = o.flags as string[];
  const types = new Set(names.filter((f) => f === 'private' || f === 'shared' || f === 'shared_validate'));
  if (types.size !== 1)
    throw traceError(line, `field "flags": expected exactly one of "private", "shared", "shared_validate"`);
  if (names.includes('fixed') && names.includes('fixed_noreplace'))
    throw traceError(line, 'field "flags": "fixed" and "fixed_noreplace" exclude each other');
  if (names.includes('anonymous') === hasFile)
    throw traceError(line, 'field "flags": "anonymous" is required without "file" and forbidden with it');
}

/** The advice of a madvise line (v2 names only in a v2 trace). */
function advice(o: Json, line: number, version: number): number {
  const v = o.advice;
  if (typeof v === 'string' && Object.hasOwn(ADVICE, v)) return ADVICE[v];
  if (typeof v === 'string' && Object.hasOwn(V2_ADVICE, v)) {
    if (version < 2) throw traceError(line, `field "advice": "${v}" needs an mmtrace v2 header`);
    return V2_ADVICE[v];
  }
  throw traceError(line, `field "advice": unknown advice ${JSON.stringify(v)}`);
}

/** A page-bounded access (`read`, `write`) must lie in the window. */
function checkInWindow(ctx: TraceContext, addr: bigint, len: bigint, line: number): void {
  if (addr < ctx.windowLo || addr + len > ctx.windowHi)
    throw traceError(line, `address 0x${addr.toString(16)} is outside the trace's window`);
}

function hexData(o: Json, line: number): Uint8Array {
  const v = o.data;
  if (typeof v !== 'string' || !HEX_DATA.test(v))
    throw traceError(line, 'field "data": expected lower-case hex bytes');
  return new Uint8Array(Buffer.from(v, 'hex'));
}

function fileName(o: Json, line: number): string {
  const v = o.name;
  if (typeof v !== 'string' || v === '') throw traceError(line, 'field "name": expected a file name');
  return v;
}

/** Parses the header line (line 1) into a frozen `TraceHeader`. */
export function parseHeader(text: string): TraceHeader {
  const o = parseObject(text, 1);
  const version = o.mmtrace;
  if (version !== 1 && version !== 2)
    throw traceError(1, 'not an mmtrace header ("mmtrace":1 or "mmtrace":2 missing)');
  const pageSize = o.page_size;
  if (pageSize !== 4096)
    throw traceError(1, `page_size ${JSON.stringify(pageSize)} is not supported (4096 only)`);
  const w = o.window;
  if (!Array.isArray(w) || w.length !== 2) throw traceError(1, 'field "window": expected ["0x…","0x…"]');
  const windowLo = u64({ lo: w[0] }, 'lo', 1);
  const windowHi = u64({ hi: w[1] }, 'hi', 1);
  if (!(windowLo < windowHi) || windowLo % 4096n !== 0n || windowHi % 4096n !== 0n) {
    throw traceError(1, 'field "window": expected a non-empty page-aligned range');
  }
  // Frozen: a header's window never changes (the scanner keeps it as doubles while the header is the same).
  return Object.freeze({ version, pageSize, windowLo, windowHi });
}

/**
 * Parses one operation line (`line` is its 1-based number, for errors) of a trace with
 * header `ctx`: v2 ops, flags and advice need a v2 header; loads and stores must lie in the
 * window, and so must a `mincore` range (unless it is absurd: past any user address).
 *
 * A line as the recorder writes it is read in one pass (`scanOp`); any other line, and
 * every line in error, goes through `JSON.parse` (`parseOpJson`), which alone words the
 * errors. Both give the same result for every line the scanner takes.
 */
export function parseOp(text: string, line: number, ctx: TraceContext): TraceOp {
  return scanOp(text, ctx) ?? parseOpJson(text, line, ctx);
}

/** `parseOp` through `JSON.parse`, for any line (exported to test the scanner against it). */
export function parseOpJson(text: string, line: number, ctx: TraceContext): TraceOp {
  const o = parseObject(text, line);
  const op = o.op;
  if (typeof op !== 'string') throw traceError(line, 'missing field "op"');
  const allowed = ALLOWED[op];
  if (allowed === undefined) throw traceError(line, `unknown op ${JSON.stringify(op)}`);
  if (V2_OPS.has(op) && ctx.version < 2) throw traceError(line, `op "${op}" needs an mmtrace v2 header`);
  const version = ctx.version;
  const pageSize = ctx.pageSize;
  // `for in` over a JSON.parse result sees exactly its own keys, without an array per line.
  for (const k in o) {
    if (!allowed.includes(k)) throw traceError(line, `op "${op}" has no field "${k}"`);
  }
  const page = BigInt(pageSize);
  switch (op) {
    case 'mmap': {
      const file = o.file;
      if (file !== undefined && typeof file !== 'string')
        throw traceError(line, 'field "file": expected a file name');
      const bits = flags(o, 'flags', MMAP_FLAGS, line, true, V2_MMAP_FLAGS, version);
      checkMmapFlags(o, line, file !== undefined);
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        len: u64(o, 'len', line),
        prot: prot(o, line),
        flags: bits,
        offset: u64(o, 'offset', line, 0n),
        file: file ?? null,
      };
    }
    case 'munmap':
    case 'msync':
      return { op, pid: pid(o, line), addr: u64(o, 'addr', line), len: u64(o, 'len', line) };
    case 'mprotect':
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        len: u64(o, 'len', line),
        prot: prot(o, line),
      };
    case 'madvise':
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        len: u64(o, 'len', line),
        advice: advice(o, line, version),
      };
    case 'mremap': {
      const bits = flags(o, 'flags', MREMAP_FLAGS, line, false, V2_MREMAP_FLAGS, version);
      if (bits & MREMAP_DONTUNMAP && o.new_addr === undefined)
        throw traceError(line, '"dontunmap" needs "new_addr"');
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        oldLen: u64(o, 'old_len', line),
        newLen: u64(o, 'new_len', line),
        flags: bits,
        newAddr: u64(o, 'new_addr', line, 0n),
      };
    }
    case 'mincore': {
      const addr = u64(o, 'addr', line);
      const len = u64(o, 'len', line);
      const absurd = addr + len > USER_LIMIT_LA57;
      if (addr % page === 0n && len > 0n && !absurd)
        checkInWindow(ctx, addr, ((len + page - 1n) / page) * page, line);
      return { op, pid: pid(o, line), addr, len };
    }
    case 'munlock':
      return { op, pid: pid(o, line), addr: u64(o, 'addr', line), len: u64(o, 'len', line) };
    case 'mlock':
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        len: u64(o, 'len', line),
        flags: flags(o, 'flags', MLOCK_FLAGS, line, false),
      };
    case 'mlockall':
      return { op, pid: pid(o, line), flags: flags(o, 'flags', MLOCKALL_FLAGS, line, true) };
    case 'brk':
      return { op, pid: pid(o, line), delta: o.delta === undefined ? null : u64(o, 'delta', line) };
    case 'write': {
      const addr = u64(o, 'addr', line);
      const data = hexData(o, line);
      if (data.length > 0 && addr / page !== (addr + BigInt(data.length) - 1n) / page) {
        throw traceError(line, 'write crosses a page boundary');
      }
      checkInWindow(ctx, addr, BigInt(data.length), line);
      return { op, pid: pid(o, line), addr, data };
    }
    case 'read': {
      const addr = u64(o, 'addr', line);
      const len = u64(o, 'len', line);
      if (len > page || (len > 0n && addr / page !== (addr + len - 1n) / page))
        throw traceError(line, 'read crosses a page boundary');
      checkInWindow(ctx, addr, len, line);
      return { op, pid: pid(o, line), addr, len: Number(len) };
    }
    case 'fork':
    case 'exit':
    case 'maps':
    case 'rss':
    case 'munlockall':
      return { op, pid: pid(o, line) };
    case 'file':
      return { op, name: fileName(o, line), size: u64(o, 'size', line) };
    case 'pwrite':
      return { op, name: fileName(o, line), offset: u64(o, 'offset', line), data: hexData(o, line) };
    case 'pread':
      return { op, name: fileName(o, line), offset: u64(o, 'offset', line), len: u64(o, 'len', line) };
    default: {
      const len = u64(o, 'len', line);
      if (len === 0n) throw traceError(line, 'evict needs a non-zero "len"');
      return { op: 'evict', name: fileName(o, line), offset: u64(o, 'offset', line), len };
    }
  }
}
