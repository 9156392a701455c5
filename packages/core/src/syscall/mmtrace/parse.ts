import { MmError } from '../../errors.ts';
import {
  MADV_DONTNEED,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_PRIVATE,
  MAP_SHARED,
  MREMAP_FIXED,
  MREMAP_MAYMOVE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../linux-abi.ts';

/** The header of an mmtrace v1 file (`../shared/spec/mmtrace.md`). */
export interface TraceHeader {
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
  | { op: 'fork' | 'exit' | 'maps'; pid: number }
  | { op: 'file'; name: string; size: bigint }
  | { op: 'pwrite'; name: string; offset: bigint; data: Uint8Array }
  | { op: 'pread' | 'evict'; name: string; offset: bigint; len: bigint };

const U64_MAX = (1n << 64n) - 1n;
const HEX_U64 = /^0x[0-9a-f]+$/;
const HEX_DATA = /^(?:[0-9a-f]{2})*$/;

const MMAP_FLAGS: Record<string, number> = {
  private: MAP_PRIVATE,
  shared: MAP_SHARED,
  anonymous: MAP_ANONYMOUS,
  fixed: MAP_FIXED,
  fixed_noreplace: MAP_FIXED_NOREPLACE,
};
const MREMAP_FLAGS: Record<string, number> = { maymove: MREMAP_MAYMOVE, fixed: MREMAP_FIXED };

/** Fields each op may have (an unknown field is an error, as in the recorder). */
const ALLOWED: Record<string, readonly string[]> = {
  mmap: ['op', 'pid', 'addr', 'len', 'prot', 'flags', 'file', 'offset'],
  munmap: ['op', 'pid', 'addr', 'len'],
  msync: ['op', 'pid', 'addr', 'len'],
  mprotect: ['op', 'pid', 'addr', 'len', 'prot'],
  madvise: ['op', 'pid', 'addr', 'len', 'advice'],
  mremap: ['op', 'pid', 'addr', 'old_len', 'new_len', 'flags', 'new_addr'],
  write: ['op', 'pid', 'addr', 'data'],
  read: ['op', 'pid', 'addr', 'len'],
  fork: ['op', 'pid'],
  exit: ['op', 'pid'],
  maps: ['op', 'pid'],
  file: ['op', 'name', 'size'],
  pwrite: ['op', 'name', 'offset', 'data'],
  pread: ['op', 'name', 'offset', 'len'],
  evict: ['op', 'name', 'offset', 'len'],
};

/** A malformed-trace error naming the 1-based line. */
export function traceError(line: number, message: string): MmError {
  return new MmError('MalformedTrace', `line ${line}: ${message}`);
}

type Json = Record<string, unknown>;

function parseObject(text: string, line: number): Json {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw traceError(line, 'not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw traceError(line, 'not a JSON object');
  return v as Json;
}

function u64(o: Json, key: string, line: number, dflt?: bigint): bigint {
  const v = o[key];
  if (v === undefined) {
    if (dflt !== undefined) return dflt;
    throw traceError(line, `missing field "${key}"`);
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v !== 'string' || !HEX_U64.test(v))
    throw traceError(line, `field "${key}": expected a lower-case 0x hex string`);
  const x = BigInt(v);
  if (x > U64_MAX) throw traceError(line, `field "${key}": ${v} does not fit 64 bits`);
  return x;
}

function pid(o: Json, line: number): number {
  const v = o.pid ?? 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw traceError(line, 'field "pid": expected a process id');
  return v;
}

function prot(o: Json, line: number): number {
  const v = o.prot;
  if (typeof v !== 'string' || !/^[r-][w-][x-]$/.test(v))
    throw traceError(line, 'field "prot": expected three characters like "rw-"');
  return (v[0] === 'r' ? PROT_READ : 0) | (v[1] === 'w' ? PROT_WRITE : 0) | (v[2] === 'x' ? PROT_EXEC : 0);
}

function flags(o: Json, key: string, names: Record<string, number>, line: number, required: boolean): number {
  const v = o[key];
  if (v === undefined && !required) return 0;
  if (!Array.isArray(v)) throw traceError(line, `field "${key}": expected an array of flag names`);
  let bits = 0;
  for (const f of v) {
    if (typeof f !== 'string' || !Object.hasOwn(names, f))
      throw traceError(line, `field "${key}": unknown flag ${JSON.stringify(f)}`);
    bits |= names[f];
  }
  return bits;
}

function hexData(o: Json, line: number): Uint8Array {
  const v = o.data;
  if (typeof v !== 'string' || !HEX_DATA.test(v))
    throw traceError(line, 'field "data": expected lower-case hex bytes');
  return Uint8Array.from(Buffer.from(v, 'hex'));
}

function fileName(o: Json, line: number): string {
  const v = o.name;
  if (typeof v !== 'string' || v === '') throw traceError(line, 'field "name": expected a file name');
  return v;
}

/** Parses the header line (line 1). */
export function parseHeader(text: string): TraceHeader {
  const o = parseObject(text, 1);
  if (o.mmtrace !== 1) throw traceError(1, 'not an mmtrace v1 header ("mmtrace":1 missing)');
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
  return { pageSize, windowLo, windowHi };
}

/** Parses one operation line (`line` is its 1-based number, for errors). */
export function parseOp(text: string, line: number, pageSize: number): TraceOp {
  const o = parseObject(text, line);
  const op = o.op;
  if (typeof op !== 'string') throw traceError(line, 'missing field "op"');
  const allowed = ALLOWED[op];
  if (allowed === undefined) throw traceError(line, `unknown op ${JSON.stringify(op)}`);
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw traceError(line, `op "${op}" has no field "${k}"`);
  }
  const page = BigInt(pageSize);
  switch (op) {
    case 'mmap': {
      const file = o.file;
      if (file !== undefined && typeof file !== 'string')
        throw traceError(line, 'field "file": expected a file name');
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        len: u64(o, 'len', line),
        prot: prot(o, line),
        flags: flags(o, 'flags', MMAP_FLAGS, line, true),
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
      if (o.advice !== 'dontneed')
        throw traceError(line, `field "advice": ${JSON.stringify(o.advice)} is not "dontneed"`);
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        len: u64(o, 'len', line),
        advice: MADV_DONTNEED,
      };
    case 'mremap':
      return {
        op,
        pid: pid(o, line),
        addr: u64(o, 'addr', line),
        oldLen: u64(o, 'old_len', line),
        newLen: u64(o, 'new_len', line),
        flags: flags(o, 'flags', MREMAP_FLAGS, line, false),
        newAddr: u64(o, 'new_addr', line, 0n),
      };
    case 'write': {
      const addr = u64(o, 'addr', line);
      const data = hexData(o, line);
      if (data.length > 0 && addr / page !== (addr + BigInt(data.length) - 1n) / page) {
        throw traceError(line, 'write crosses a page boundary');
      }
      return { op, pid: pid(o, line), addr, data };
    }
    case 'read': {
      const addr = u64(o, 'addr', line);
      const len = u64(o, 'len', line);
      if (len > page || (len > 0n && addr / page !== (addr + len - 1n) / page))
        throw traceError(line, 'read crosses a page boundary');
      return { op, pid: pid(o, line), addr, len: Number(len) };
    }
    case 'fork':
    case 'exit':
    case 'maps':
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
