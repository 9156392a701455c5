import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MREMAP_DONTUNMAP,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from '../linux-abi.ts';
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
import type { TraceContext, TraceOp } from './parse.ts';

/*
 * The fast path of `parseOp`: one pass over a line as the recorder writes it, without
 * `JSON.parse` and without an intermediate object. It accepts only a subset of what the
 * JSON path accepts and gives the same `TraceOp` for it: `"op"` first, no whitespace, no
 * escapes, no duplicate field, 64-bit fields of at most 16 hex digits, no file names.
 * For anything else, valid or not, it returns null and the JSON path decides (and words
 * any error), so the two never disagree.
 *
 * It reads the line's bytes (UTF-8): a replay straight from a file's buffer scans it in
 * place (`scanLineBytes`), and a string is encoded first (`scanLine`). Every character the
 * subset has is ASCII, so a byte of a multi-byte character matches nothing and such a line
 * goes to the JSON path, as it did when strings were scanned.
 */

/** Field bits (a line's fields as a mask). */
const F_PID = 1;
const F_ADDR = 2;
const F_LEN = 4;
const F_PROT = 8;
const F_FLAGS = 16;
const F_ADVICE = 32;
const F_OLD_LEN = 64;
const F_NEW_LEN = 128;
const F_NEW_ADDR = 256;
const F_DATA = 512;
const F_OFFSET = 1024;
const F_DELTA = 2048;

/** Hex digits of a 64-bit field read exactly as a double (below 2^52). */
const MAX_HEX_DIGITS = 13;
/**
 * Below this (2^52), a value the scanner read is what the JSON path's checks of loads,
 * stores and `mincore` take as a number: those lines with a larger address or length go to
 * the JSON path.
 */
const NARROW = 2 ** 52;
/** Hex digits of any 64-bit value (more go to the JSON path, which words the overflow). */
const MAX_U64_HEX_DIGITS = 16;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
/** Past any user address on any Linux (as `parse.ts`). */
const USER_LIMIT_LA57 = 0x00fffffffffff000;

/**
 * A table of names found by a number made of a name's length and some of its characters
 * (`nameKey`), then confirmed by one comparison: no substring, no string hashing. Building
 * it throws if two names share a key.
 */
class Names {
  private readonly byKey = new Map<
    number,
    { readonly name: string; readonly bytes: Uint8Array; readonly value: number }
  >();
  constructor(...tables: Record<string, number>[]) {
    for (const table of tables)
      for (const [name, value] of Object.entries(table)) {
        const key = nameKey(name, 0, name.length);
        if (this.byKey.has(key))
          throw new Error(`mmtrace scanner: names ${name} and ${this.byKey.get(key)?.name} collide`);
        this.byKey.set(key, { name, bytes: ascii(name), value });
      }
  }

  /** The value of the name in bytes `b[start, end)`, or -1 if it is none of the table's. */
  find(b: Uint8Array, start: number, end: number): number {
    const n = end - start;
    const key = nameKeyOf(n, b[start], n > 1 ? b[start + 1] : 0, b[end - 1]);
    const e = this.byKey.get(key);
    return e !== undefined && e.bytes.length === n && holdsAt(b, end, start, e.bytes) ? e.value : -1;
  }
}

/** The lookup key of a (non-empty) name: its length, first, second and last character. */
function nameKey(name: string, start: number, end: number): number {
  const n = end - start;
  return nameKeyOf(
    n,
    name.charCodeAt(start),
    n > 1 ? name.charCodeAt(start + 1) : 0,
    name.charCodeAt(end - 1),
  );
}

function nameKeyOf(length: number, first: number, second: number, last: number): number {
  return length + 64 * (first + 256 * (second + 256 * (last & 0x7f)));
}

const MMAP_NAMES = new Names(MMAP_FLAGS);
const V2_MMAP_NAMES = new Names(V2_MMAP_FLAGS);
const MREMAP_NAMES = new Names(MREMAP_FLAGS);
const V2_MREMAP_NAMES = new Names(V2_MREMAP_FLAGS);
const MLOCK_NAMES = new Names(MLOCK_FLAGS);
const MLOCKALL_NAMES = new Names(MLOCKALL_FLAGS);
const ADVICE_NAMES = new Names(ADVICE);
const V2_ADVICE_NAMES = new Names(V2_ADVICE);
const NO_NAMES = new Names();

/** Ops the scanner reads, with the fields each may have; v2 ops have `v2` set. */
interface OpSpec {
  readonly op: TraceOp['op'];
  readonly fields: number;
  readonly v2: boolean;
}
const OPS: readonly OpSpec[] = [
  { op: 'read', fields: F_PID | F_ADDR | F_LEN, v2: false },
  { op: 'maps', fields: F_PID, v2: false },
  { op: 'write', fields: F_PID | F_ADDR | F_DATA, v2: false },
  { op: 'mremap', fields: F_PID | F_ADDR | F_OLD_LEN | F_NEW_LEN | F_FLAGS | F_NEW_ADDR, v2: false },
  { op: 'mmap', fields: F_PID | F_ADDR | F_LEN | F_PROT | F_FLAGS | F_OFFSET, v2: false },
  { op: 'mprotect', fields: F_PID | F_ADDR | F_LEN | F_PROT, v2: false },
  { op: 'madvise', fields: F_PID | F_ADDR | F_LEN | F_ADVICE, v2: false },
  { op: 'munmap', fields: F_PID | F_ADDR | F_LEN, v2: false },
  { op: 'msync', fields: F_PID | F_ADDR | F_LEN, v2: false },
  { op: 'fork', fields: F_PID, v2: false },
  { op: 'exit', fields: F_PID, v2: false },
  { op: 'mincore', fields: F_PID | F_ADDR | F_LEN, v2: true },
  { op: 'rss', fields: F_PID, v2: true },
  { op: 'mlock', fields: F_PID | F_ADDR | F_LEN | F_FLAGS, v2: true },
  { op: 'munlock', fields: F_PID | F_ADDR | F_LEN, v2: true },
  { op: 'mlockall', fields: F_PID | F_FLAGS, v2: true },
  { op: 'munlockall', fields: F_PID, v2: true },
  { op: 'brk', fields: F_PID | F_DELTA, v2: true },
];
/** Op names → index in `OPS`. */
const OP_NAMES = new Names(Object.fromEntries(OPS.map((o, i) => [o.op, i])));
/** Field names → field bit. */
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
/**
 * The fields by the first character of their name, each as the text after the opening quote
 * up to the value (`pid":`) with its bit: a field is found by one or two comparisons.
 */
const FIELDS_BY_FIRST: readonly (readonly { readonly text: Uint8Array; readonly bit: number }[])[] = (() => {
  const out: { text: Uint8Array; bit: number }[][] = Array.from({ length: 128 }, () => []);
  for (const [name, bit] of Object.entries(FIELD_BITS))
    out[name.charCodeAt(0)].push({ text: ascii(`${name}":`), bit });
  return out;
})();

const OP_PREFIX = ascii('{"op":"');
const QUOTE = 0x22;
const COMMA = 0x2c;
const BRACE_CLOSE = 0x7d;
const BRACKET_OPEN = 0x5b;
const BRACKET_CLOSE = 0x5d;

/**
 * Scans one line of bytes, `b[pos, end)`; single-threaded and reentrant per call (its fields
 * are the state of the line being scanned). `pos` is the next byte; a failed step sets `ok`
 * false. Reads past `end` see -1, which matches nothing.
 */
class LineScanner {
  b: Uint8Array = new Uint8Array(0);
  end = 0;
  pos = 0;
  ok = true;
  /** Sharing types among the last scanned flag list (`private`, `shared`, `shared_validate`). */
  nrSharingTypes = 0;

  /** The byte at `i`, or -1 past the line's end. */
  at(i: number): number {
    return i < this.end ? this.b[i] : -1;
  }

  /** The position of the next `"` from `from` on, or -1. */
  quoteFrom(from: number): number {
    const b = this.b;
    for (let i = from; i < this.end; i++) if (b[i] === QUOTE) return i;
    return -1;
  }

  /** The digits of a non-negative JSON integer (no sign, fraction or exponent). */
  integer(): number {
    const b = this.b;
    const start = this.pos;
    let v = 0;
    let i = start;
    for (; i < this.end; i++) {
      const c = b[i];
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
    }
    const n = i - start;
    // JSON has no leading zeros; 15 digits stay exact; a sign, fraction or exponent goes to JSON.parse.
    if (n === 0 || n > 15 || (n > 1 && b[start] === 0x30)) this.ok = false;
    this.pos = i;
    return v;
  }

  /**
   * A `"0x…"` field of up to 16 lower-case hex digits (64 bits): a number up to
   * `MAX_HEX_DIGITS` digits, whose value a double holds exactly; longer, a bigint unless it
   * is a safe integer (made of two exact halves, only on the rare lines that have one).
   */
  hex(): U64 {
    const b = this.b;
    let i = this.pos;
    if (this.at(i) !== QUOTE || this.at(i + 1) !== 0x30 || this.at(i + 2) !== 0x78) {
      this.ok = false;
      return 0;
    }
    i += 3;
    const start = i;
    let v = 0;
    for (; i < this.end; i++) {
      const c = b[i];
      if (c >= 0x30 && c <= 0x39) v = v * 16 + (c - 0x30);
      else if (c >= 0x61 && c <= 0x66) v = v * 16 + (c - 0x57);
      else break;
    }
    const n = i - start;
    if (n === 0 || n > MAX_U64_HEX_DIGITS || this.at(i) !== QUOTE) this.ok = false;
    this.pos = i + 1;
    if (n <= MAX_HEX_DIGITS || !this.ok) return v;
    const big = (BigInt(hexValue(b, start, i - 8)) << 32n) | BigInt(hexValue(b, i - 8, i));
    return big <= MAX_SAFE_BIG ? Number(big) : big;
  }

  /** A quoted name of `names` (or of `v2Names` when `v2` allows): its value; `ok` false otherwise. */
  name(names: Names, v2Names: Names, v2: boolean): number {
    if (this.at(this.pos) !== QUOTE) {
      this.ok = false;
      return 0;
    }
    const start = this.pos + 1;
    const end = this.quoteFrom(start);
    if (end <= start) {
      this.ok = false;
      return 0;
    }
    let v = names.find(this.b, start, end);
    if (v < 0 && v2) v = v2Names.find(this.b, start, end);
    if (v < 0) {
      this.ok = false;
      return 0;
    }
    this.pos = end + 1;
    return v;
  }

  /** A JSON array of flag names: their bits ORed; counts the sharing types (`nrSharingTypes`). */
  flags(names: Names, v2Names: Names, v2: boolean): number {
    const b = this.b;
    const lineEnd = this.end;
    this.nrSharingTypes = 0;
    if (this.at(this.pos) !== BRACKET_OPEN) {
      this.ok = false;
      return 0;
    }
    this.pos++;
    let bits = 0;
    if (this.at(this.pos) === BRACKET_CLOSE) {
      this.pos++;
      return 0;
    }
    for (;;) {
      const at = this.pos + 1;
      if (
        holdsAt(b, lineEnd, at, PRIVATE_FLAG) ||
        holdsAt(b, lineEnd, at, SHARED_FLAG) ||
        holdsAt(b, lineEnd, at, SHARED_VALIDATE_FLAG)
      )
        this.nrSharingTypes++;
      bits |= this.name(names, v2Names, v2);
      if (!this.ok) return 0;
      const c = this.at(this.pos++);
      if (c === BRACKET_CLOSE) return bits;
      if (c !== COMMA) {
        this.ok = false;
        return 0;
      }
    }
  }

  /** `"rwx"`-style protection: three characters, each the letter or `-`. */
  prot(): number {
    const i = this.pos;
    const dash = 0x2d;
    const r = this.at(i + 1);
    const w = this.at(i + 2);
    const x = this.at(i + 3);
    if (
      this.at(i) !== QUOTE ||
      this.at(i + 4) !== QUOTE ||
      (r !== 0x72 && r !== dash) ||
      (w !== 0x77 && w !== dash) ||
      (x !== 0x78 && x !== dash)
    ) {
      this.ok = false;
      return 0;
    }
    this.pos = i + 5;
    return (r !== dash ? PROT_READ : 0) | (w !== dash ? PROT_WRITE : 0) | (x !== dash ? PROT_EXEC : 0);
  }

  /** `"…"` of lower-case hex byte pairs, decoded into `into`'s buffer. */
  bytes(into: ScannedOp): Uint8Array | null {
    const b = this.b;
    if (this.at(this.pos) !== QUOTE) {
      this.ok = false;
      return null;
    }
    this.pos++;
    const end = this.quoteFrom(this.pos);
    const n = end - this.pos;
    if (end < 0 || n % 2 !== 0) {
      this.ok = false;
      return null;
    }
    const out = into.bufferOf(n / 2);
    const from = this.pos;
    for (let i = 0; i < out.length; i++) {
      const hi = hexDigit(b[from + 2 * i]);
      const lo = hexDigit(b[from + 2 * i + 1]);
      if (hi < 0 || lo < 0) {
        this.ok = false;
        return null;
      }
      out[i] = (hi << 4) | lo;
    }
    this.pos = end + 1;
    return out;
  }

  /** A field name with its quotes and colon: its bit, 0 if unknown. */
  field(): number {
    if (this.at(this.pos) !== QUOTE) return 0;
    const start = this.pos + 1;
    const first = this.at(start);
    if (!(first >= 0 && first < 128)) return 0;
    for (const f of FIELDS_BY_FIRST[first])
      if (holdsAt(this.b, this.end, start, f.text)) {
        this.pos = start + f.text.length;
        return f.bit;
      }
    return 0;
  }
}

/** Whether bytes `b[at, end)` begin with the bytes `lit`. */
function holdsAt(b: Uint8Array, end: number, at: number, lit: Uint8Array): boolean {
  const n = lit.length;
  if (at + n > end) return false;
  for (let i = 0; i < n; i++) if (b[at + i] !== lit[i]) return false;
  return true;
}

/** The bytes of ASCII text `text` (the scanner compares bytes with bytes). */
function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

const PRIVATE_FLAG = ascii('private"');
const SHARED_FLAG = ascii('shared"');
const SHARED_VALIDATE_FLAG = ascii('shared_validate"');

/** The value of the lower-case hex digits `b[start, end)` (at most 13 of them: exact). */
function hexValue(b: Uint8Array, start: number, end: number): number {
  let v = 0;
  for (let i = start; i < end; i++) v = v * 16 + hexDigit(b[i]);
  return v;
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const scanner = new LineScanner();

/**
 * A line as the scanner read it: the op and its fields, the 64-bit ones as numbers when they
 * are safe integers (below 2^53, so exact) and as bigints above (rare: absurd lengths and
 * addresses past user space). `scanLine` overwrites every field, so one object serves line
 * after line and a replay loop allocates nothing per line (but bigints). Fields the op
 * has not are 0 (`data` null, `hasDelta` false).
 */
export class ScannedOp {
  op: TraceOp['op'] = 'maps';
  pid = 0;
  addr: U64 = 0;
  len: U64 = 0;
  prot = 0;
  flags = 0;
  advice = 0;
  oldLen: U64 = 0;
  newLen: U64 = 0;
  newAddr: U64 = 0;
  offset: U64 = 0;
  delta: U64 = 0;
  /** Whether a `brk` line has a `delta` (without one it reads the break). */
  hasDelta = false;
  /**
   * A write's bytes: a view of this object's own buffer, valid until the next line is
   * scanned into it (a `TraceOp` made from it gets a copy).
   */
  data: Uint8Array | null = null;
  /** Where writes' bytes are decoded, and its views by length (made once each). */
  #buffer = new Uint8Array(4096);
  #views: Uint8Array[] = [];

  /** The first `n` bytes of the buffer `data` views (grown, and its views dropped, for a longer write). */
  bufferOf(n: number): Uint8Array {
    if (n > this.#buffer.length) {
      this.#buffer = new Uint8Array(n);
      this.#views = [];
    }
    let view = this.#views[n];
    if (view === undefined) {
      view = this.#buffer.subarray(0, n);
      this.#views[n] = view;
    }
    return view;
  }
}

/** Where `scanLine` encodes a string line (grown for a longer one). */
let encoded = new Uint8Array(512);
const encoder = new TextEncoder();

/**
 * Scans `text` into `out`: true when the line is in the scanner's subset and valid (see the
 * module comment), and `out` then holds what `parseOp` gives, with numbers for bigints;
 * false otherwise, with `out` overwritten, and the caller parses the line with `parseOp`.
 */
export function scanLine(text: string, ctx: TraceContext, out: ScannedOp): boolean {
  if (text.length * 3 > encoded.length) encoded = new Uint8Array(text.length * 3);
  const n = encoder.encodeInto(text, encoded).written;
  return scanLineBytes(encoded, 0, n, ctx, out);
}

/**
 * `scanLine` of the UTF-8 line `b[start, end)` (no line break), scanned in place: for
 * replaying from a file's bytes, where a line becomes a string only if the scanner leaves
 * it to `parseOp`.
 */
export function scanLineBytes(
  b: Uint8Array,
  start: number,
  end: number,
  ctx: TraceContext,
  out: ScannedOp,
): boolean {
  const nameAt = start + OP_PREFIX.length;
  if (!holdsAt(b, end, start, OP_PREFIX)) return false;
  const s = scanner;
  s.b = b;
  s.end = end;
  const opEnd = s.quoteFrom(nameAt);
  if (opEnd <= nameAt) return false;
  const index = OP_NAMES.find(b, nameAt, opEnd);
  if (index < 0) return false;
  const op = OPS[index];
  const version = ctx.version;
  if (op.v2 && version < 2) return false;
  const v2 = version >= 2;
  s.pos = opEnd + 1;
  s.ok = true;
  out.op = op.op;
  out.pid = 0;
  out.addr = 0;
  out.len = 0;
  out.prot = 0;
  out.flags = 0;
  out.advice = 0;
  out.oldLen = 0;
  out.newLen = 0;
  out.newAddr = 0;
  out.offset = 0;
  out.delta = 0;
  out.data = null;
  let seen = 0;
  let nrSharingTypes = 0;
  for (;;) {
    const c = s.at(s.pos++);
    if (c === BRACE_CLOSE) break;
    if (c !== COMMA) return false;
    const field = s.field();
    if (field === 0 || (field & op.fields) === 0 || (field & seen) !== 0) return false;
    seen |= field;
    switch (field) {
      case F_PID:
        out.pid = s.integer();
        break;
      case F_ADDR:
        out.addr = s.hex();
        break;
      case F_LEN:
        out.len = s.hex();
        break;
      case F_PROT:
        out.prot = s.prot();
        break;
      case F_FLAGS:
        if (op.op === 'mmap') out.flags = s.flags(MMAP_NAMES, V2_MMAP_NAMES, v2);
        else if (op.op === 'mremap') out.flags = s.flags(MREMAP_NAMES, V2_MREMAP_NAMES, v2);
        else out.flags = s.flags(op.op === 'mlock' ? MLOCK_NAMES : MLOCKALL_NAMES, NO_NAMES, false);
        nrSharingTypes = s.nrSharingTypes;
        break;
      case F_ADVICE:
        out.advice = s.name(ADVICE_NAMES, V2_ADVICE_NAMES, v2);
        break;
      case F_OLD_LEN:
        out.oldLen = s.hex();
        break;
      case F_NEW_LEN:
        out.newLen = s.hex();
        break;
      case F_NEW_ADDR:
        out.newAddr = s.hex();
        break;
      case F_DATA:
        out.data = s.bytes(out);
        break;
      case F_OFFSET:
        out.offset = s.hex();
        break;
      default:
        out.delta = s.hex();
        break;
    }
    if (!s.ok) return false;
  }
  out.hasDelta = (seen & F_DELTA) !== 0;
  return s.pos === end && valid(out, seen, nrSharingTypes, ctx);
}

/** `parse.ts`'s checks for a scanned line's op: false where one fails or a field is missing. */
function valid(s: ScannedOp, seen: number, nrSharingTypes: number, ctx: TraceContext): boolean {
  const page = ctx.pageSize;
  switch (s.op) {
    case 'read': {
      if (!has(seen, F_ADDR | F_LEN) || !(s.addr < NARROW && s.len < NARROW)) return false;
      const addr = s.addr as number;
      const len = s.len as number;
      if (len > page || (len > 0 && Math.floor(addr / page) !== Math.floor((addr + len - 1) / page)))
        return false;
      return inWindow(ctx, addr, len);
    }
    case 'write': {
      if (!has(seen, F_ADDR | F_DATA) || s.data === null || !(s.addr < NARROW)) return false;
      const addr = s.addr as number;
      const n = s.data.length;
      if (n > 0 && Math.floor(addr / page) !== Math.floor((addr + n - 1) / page)) return false;
      return inWindow(ctx, addr, n);
    }
    case 'maps':
    case 'fork':
    case 'exit':
    case 'rss':
    case 'munlockall':
    case 'brk':
      return true;
    case 'mremap':
      return (
        has(seen, F_ADDR | F_OLD_LEN | F_NEW_LEN) && !(s.flags & MREMAP_DONTUNMAP && !has(seen, F_NEW_ADDR))
      );
    case 'mmap':
      // `checkMmapFlags` without a file: one sharing type, one fixed kind, `anonymous`.
      return (
        has(seen, F_ADDR | F_LEN | F_PROT | F_FLAGS) &&
        nrSharingTypes === 1 &&
        !(s.flags & MAP_FIXED && s.flags & MAP_FIXED_NOREPLACE) &&
        (s.flags & MAP_ANONYMOUS) !== 0
      );
    case 'mprotect':
      return has(seen, F_ADDR | F_LEN | F_PROT);
    case 'madvise':
      return has(seen, F_ADDR | F_LEN | F_ADVICE);
    case 'mincore': {
      if (!has(seen, F_ADDR | F_LEN) || !(s.addr < NARROW && s.len < NARROW)) return false;
      const addr = s.addr as number;
      const len = s.len as number;
      const absurd = addr + len > USER_LIMIT_LA57;
      return !(addr % page === 0 && len > 0 && !absurd && !inWindow(ctx, addr, Math.ceil(len / page) * page));
    }
    case 'mlockall':
      return has(seen, F_FLAGS);
    default:
      // munmap, msync, munlock, mlock
      return has(seen, F_ADDR | F_LEN);
  }
}

/** The line `scanOp` last scanned. */
const lastScanned = new ScannedOp();

/**
 * `parseOp`'s result for `text` when the line is in the scanner's subset and valid, else
 * null (see the module comment): the caller then parses it with `JSON.parse`.
 */
export function scanOp(text: string, ctx: TraceContext): TraceOp | null {
  return scanLine(text, ctx, lastScanned) ? traceOpOf(lastScanned) : null;
}

/** The `TraceOp` of a line `scanLine` accepted. */
function traceOpOf(s: ScannedOp): TraceOp {
  const { op, pid } = s;
  switch (op) {
    case 'read':
      return { op, pid, addr: BigInt(s.addr), len: Number(s.len) };
    case 'write':
      return { op, pid, addr: BigInt(s.addr), data: (s.data as Uint8Array).slice() };
    case 'maps':
    case 'fork':
    case 'exit':
    case 'rss':
    case 'munlockall':
      return { op, pid };
    case 'mremap':
      return {
        op,
        pid,
        addr: BigInt(s.addr),
        oldLen: BigInt(s.oldLen),
        newLen: BigInt(s.newLen),
        flags: s.flags,
        newAddr: BigInt(s.newAddr),
      };
    case 'mmap':
      return {
        op,
        pid,
        addr: BigInt(s.addr),
        len: BigInt(s.len),
        prot: s.prot,
        flags: s.flags,
        offset: BigInt(s.offset),
        file: null,
      };
    case 'mprotect':
      return { op, pid, addr: BigInt(s.addr), len: BigInt(s.len), prot: s.prot };
    case 'madvise':
      return { op, pid, addr: BigInt(s.addr), len: BigInt(s.len), advice: s.advice };
    case 'mlock':
      return { op, pid, addr: BigInt(s.addr), len: BigInt(s.len), flags: s.flags };
    case 'mlockall':
      return { op, pid, flags: s.flags };
    case 'munmap':
    case 'msync':
      return { op, pid, addr: BigInt(s.addr), len: BigInt(s.len) };
    case 'munlock':
    case 'mincore':
      return { op, pid, addr: BigInt(s.addr), len: BigInt(s.len) };
    default:
      return { op: 'brk', pid, delta: s.hasDelta ? BigInt(s.delta) : null };
  }
}

/** Whether every field of `fields` is in `seen`. */
function has(seen: number, fields: number): boolean {
  return (seen & fields) === fields;
}

/** The window of the last context seen, as doubles (`inWindow`). */
let windowOf: TraceContext | null = null;
let windowLoBig = 0n;
let windowHiBig = 0n;
let windowLo = 0;
let windowHi = 0;

/**
 * Whether `[addr, addr + len)` lies in the window. Exact: `addr + len` is below 2^53, and a
 * window end rounded to a double stays on the same side of it.
 */
function inWindow(ctx: TraceContext, addr: number, len: number): boolean {
  if (ctx !== windowOf || ctx.windowLo !== windowLoBig || ctx.windowHi !== windowHiBig) {
    windowOf = ctx;
    windowLoBig = ctx.windowLo;
    windowHiBig = ctx.windowHi;
    windowLo = Number(windowLoBig);
    windowHi = Number(windowHiBig);
  }
  return !(addr < windowLo || addr + len > windowHi);
}
