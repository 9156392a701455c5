import type { U64 } from '../u64.ts';
import {
  ADVICE,
  MLOCK_FLAGS,
  MLOCKALL_FLAGS,
  MMAP_FLAGS,
  MREMAP_FLAGS,
  V2_ADVICE,
  V2_MMAP_FLAGS,
  V2_MREMAP_FLAGS,
} from './names.ts';
import type { TraceOp } from './parse.ts';

/*
 * The scanner's tables (`scan.ts`, `scan-recorded.ts`), built once from `names.ts`: op
 * names found by their length and second byte, flag and advice names by their first byte,
 * field names by their first byte and in the order the recorder writes them; and the hex
 * digit values. Every lookup confirms each byte of what it finds, so a table finds exactly
 * the names of `names.ts` and nothing else; building a table throws if two names would
 * share a slot.
 */

/** `HEX_VALUE[c]`: the value of lower-case hex digit `c`, -1 for any other byte. */
export const HEX_VALUE: Int8Array = (() => {
  const out = new Int8Array(256).fill(-1);
  for (let d = 0; d < 16; d++) out[d.toString(16).charCodeAt(0)] = d;
  return out;
})();

/** Field bits (a line's fields as a mask). */
export const F_PID = 1;
export const F_ADDR = 2;
export const F_LEN = 4;
export const F_PROT = 8;
export const F_FLAGS = 16;
export const F_ADVICE = 32;
export const F_OLD_LEN = 64;
export const F_NEW_LEN = 128;
export const F_NEW_ADDR = 256;
export const F_DATA = 512;
export const F_OFFSET = 1024;
export const F_DELTA = 2048;

/** Field names (as a trace writes them) → field bit. */
const FIELD_BITS: Readonly<Record<string, number>> = {
  pid: F_PID,
  addr: F_ADDR,
  len: F_LEN,
  prot: F_PROT,
  flags: F_FLAGS,
  advice: F_ADVICE,
  old_len: F_OLD_LEN,
  new_len: F_NEW_LEN,
  new_addr: F_NEW_ADDR,
  data: F_DATA,
  offset: F_OFFSET,
  delta: F_DELTA,
};

/** A field as the scanner meets it: the text after its opening quote up to its value (`pid":`), and its bit. */
export interface FieldKey {
  readonly text: Uint8Array;
  readonly bit: number;
}

function fieldKey(name: string): FieldKey {
  const bit = FIELD_BITS[name];
  if (bit === undefined) throw new Error(`mmtrace scanner: no field ${name}`);
  return { text: ascii(`${name}":`), bit };
}

/** The fields by the first byte of their name (an empty list for every other byte). */
export const FIELDS_BY_FIRST: readonly (readonly FieldKey[])[] = (() => {
  const out: FieldKey[][] = Array.from({ length: 256 }, () => []);
  for (const name of Object.keys(FIELD_BITS)) out[name.charCodeAt(0)].push(fieldKey(name));
  return out;
})();

/** Op codes: an op's index in `OPS`, which `scan.ts` switches on. */
export const OP_READ = 0;
export const OP_MAPS = 1;
export const OP_WRITE = 2;
export const OP_MREMAP = 3;
export const OP_MMAP = 4;
export const OP_MPROTECT = 5;
export const OP_MADVISE = 6;
export const OP_MUNMAP = 7;
export const OP_MSYNC = 8;
export const OP_FORK = 9;
export const OP_EXIT = 10;
export const OP_MINCORE = 11;
export const OP_RSS = 12;
export const OP_MLOCK = 13;
export const OP_MUNLOCK = 14;
export const OP_MLOCKALL = 15;
export const OP_MUNLOCKALL = 16;
export const OP_BRK = 17;

/** An op the scanner reads. */
export interface OpSpec {
  readonly op: TraceOp['op'];
  /** Its name's bytes. */
  readonly name: Uint8Array;
  /** The fields it may have (bits). */
  readonly fields: number;
  /** Whether only a v2 trace may use it. */
  readonly v2: boolean;
  /** Its fields after `op` in the order the recorder writes them (`order[k]` is the k-th). */
  readonly order: readonly FieldKey[];
}

function opSpec(op: TraceOp['op'], order: readonly string[], v2: boolean): OpSpec {
  const keys = order.map(fieldKey);
  return { op, name: ascii(op), fields: keys.reduce((m, k) => m | k.bit, 0), v2, order: keys };
}

/** Ops the scanner reads, indexed by their code; `order` is the recorder's (`ALLOWED` without `op` and `file`). */
export const OPS: readonly OpSpec[] = [
  opSpec('read', ['pid', 'addr', 'len'], false),
  opSpec('maps', ['pid'], false),
  opSpec('write', ['pid', 'addr', 'data'], false),
  opSpec('mremap', ['pid', 'addr', 'old_len', 'new_len', 'flags', 'new_addr'], false),
  opSpec('mmap', ['pid', 'addr', 'len', 'prot', 'flags', 'offset'], false),
  opSpec('mprotect', ['pid', 'addr', 'len', 'prot'], false),
  opSpec('madvise', ['pid', 'addr', 'len', 'advice'], false),
  opSpec('munmap', ['pid', 'addr', 'len'], false),
  opSpec('msync', ['pid', 'addr', 'len'], false),
  opSpec('fork', ['pid'], false),
  opSpec('exit', ['pid'], false),
  opSpec('mincore', ['pid', 'addr', 'len'], true),
  opSpec('rss', ['pid'], true),
  opSpec('mlock', ['pid', 'addr', 'len', 'flags'], true),
  opSpec('munlock', ['pid', 'addr', 'len'], true),
  opSpec('mlockall', ['pid', 'flags'], true),
  opSpec('munlockall', ['pid'], true),
  opSpec('brk', ['pid', 'delta'], true),
];

/** Longest op name. */
const MAX_OP_NAME = 15;
/** `OP_BY_SHAPE[(length << 7) | (second byte & 0x7f)]`: the code of the only op name of that shape, or -1. */
const OP_BY_SHAPE: Int8Array = (() => {
  const out = new Int8Array((MAX_OP_NAME + 1) << 7).fill(-1);
  OPS.forEach((o, code) => {
    const slot = (o.name.length << 7) | (o.name[1] & 0x7f);
    if (o.name.length > MAX_OP_NAME || out[slot] >= 0)
      throw new Error(`mmtrace scanner: op name ${o.op} has no slot of its own`);
    out[slot] = code;
  });
  return out;
})();

/** The code of the op named by bytes `b[start, end)`, or -1 if it is none the scanner reads. */
export function opCode(b: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n < 2 || n > MAX_OP_NAME) return -1;
  const code = OP_BY_SHAPE[(n << 7) | (b[start + 1] & 0x7f)];
  if (code < 0) return -1;
  const name = OPS[code].name;
  for (let i = 0; i < n; i++) if (b[start + i] !== name[i]) return -1;
  return code;
}

/** A flag or advice name of a `NameTable`. */
export interface NameEntry {
  readonly bytes: Uint8Array;
  /** Its Linux value. */
  readonly value: number;
  /** Whether only a v2 trace may use it. */
  readonly v2: boolean;
  /** Whether it is an mmap sharing type (`private`, `shared`, `shared_validate`). */
  readonly sharing: boolean;
}

const SHARING_TYPES = new Set(['private', 'shared', 'shared_validate']);

/** The names a field may hold (v1's and v2's): found by their first byte, then confirmed. */
export class NameTable {
  /** `byFirst[c]`: the names beginning with byte `c`. */
  readonly byFirst: NameEntry[][] = Array.from({ length: 256 }, () => []);

  constructor(v1: Record<string, number>, v2: Record<string, number> = {}) {
    for (const [table, isV2] of [
      [v1, false],
      [v2, true],
    ] as const)
      for (const [name, value] of Object.entries(table)) {
        const list = this.byFirst[name.charCodeAt(0)];
        if (list.some((e) => e.bytes.length === name.length && String.fromCharCode(...e.bytes) === name))
          throw new Error(`mmtrace scanner: name ${name} twice in one table`);
        list.push({
          bytes: ascii(name),
          value,
          v2: isV2,
          sharing: SHARING_TYPES.has(name),
        });
      }
  }

  /**
   * The name in bytes `b[start, end)` (a v2 one only when `v2`), or null. `start < end`, both
   * within the line.
   */
  find(b: Uint8Array, start: number, end: number, v2: boolean): NameEntry | null {
    const list = this.byFirst[b[start]];
    const n = end - start;
    for (let k = 0; k < list.length; k++) {
      const e = list[k];
      const bytes = e.bytes;
      if (bytes.length !== n || (e.v2 && !v2)) continue;
      let i = 1;
      while (i < n && b[start + i] === bytes[i]) i++;
      if (i === n) return e;
    }
    return null;
  }
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The value of the 14 to 16 lower-case hex digits `b[start, end)`: a number if it is a safe
 * integer, else a bigint (made of two exact halves).
 */
export function wideHex(b: Uint8Array, start: number, end: number): U64 {
  const big = (BigInt(hexValue(b, start, end - 8)) << 32n) | BigInt(hexValue(b, end - 8, end));
  return big <= MAX_SAFE_BIG ? Number(big) : big;
}

/** The value of the lower-case hex digits `b[start, end)` (at most 13 of them: exact). */
function hexValue(b: Uint8Array, start: number, end: number): number {
  let v = 0;
  for (let i = start; i < end; i++) v = v * 16 + HEX_VALUE[b[i]];
  return v;
}

export const MMAP_NAMES = new NameTable(MMAP_FLAGS, V2_MMAP_FLAGS);
export const MREMAP_NAMES = new NameTable(MREMAP_FLAGS, V2_MREMAP_FLAGS);
export const MLOCK_NAMES = new NameTable(MLOCK_FLAGS);
export const MLOCKALL_NAMES = new NameTable(MLOCKALL_FLAGS);
export const ADVICE_NAMES = new NameTable(ADVICE, V2_ADVICE);

/** The bytes of ASCII text `text` (the scanner compares bytes with bytes). */
export function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}
