import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../linux-abi.ts';
import type { U64 } from '../u64.ts';
import type { TraceContext, TraceOp } from './parse.ts';
import {
  ADVICE_NAMES,
  F_ADDR,
  F_ADVICE,
  F_DATA,
  F_DELTA,
  F_FLAGS,
  F_LEN,
  F_NEW_ADDR,
  F_NEW_LEN,
  F_OFFSET,
  F_OLD_LEN,
  F_PID,
  F_PROT,
  FIELDS_BY_FIRST,
  HEX_VALUE,
  MLOCK_NAMES,
  MLOCKALL_NAMES,
  MMAP_NAMES,
  MREMAP_NAMES,
  type NameEntry,
  type NameTable,
  OP_MLOCK,
  OP_MMAP,
  OP_MREMAP,
  OPS,
  opCode,
  wideHex,
} from './scan-names.ts';
import { NOT_RECORDED, scanRecorded, TAKEN } from './scan-recorded.ts';
import { valid } from './scan-valid.ts';

/*
 * The fast path of `parseOp`: one pass over a line as the recorder writes it, without
 * `JSON.parse` and without an intermediate object. It accepts only a subset of what the
 * JSON path accepts and gives the same `TraceOp` for it: `"op"` first, no whitespace, no
 * escapes, no duplicate field, 64-bit fields of at most 16 hex digits, no file names.
 * For anything else, valid or not, it returns null and the JSON path decides (and words
 * any error), so the two never disagree.
 *
 * A line is read in one of two ways, which take the same lines and give the same fields: a
 * line exactly as the recorder writes it (its fields in the recorder's order) as its op's
 * template (`scan-recorded.ts`: literal texts compared four bytes at a time, no field name
 * looked up); any other line field by field below (`LineScanner`, names found by their
 * first byte), which also decides every line the template path does not take.
 *
 * It reads the line's bytes (UTF-8): a replay straight from a file's buffer scans it in
 * place (`scanLineBytes`), and a string is encoded first (`scanLine`). Every character the
 * subset has is ASCII, so a byte of a multi-byte character matches nothing and such a line
 * goes to the JSON path, as it did when strings were scanned.
 */

/** Hex digits of a 64-bit field read exactly as a double (below 2^52). */
const MAX_HEX_DIGITS = 13;
/** Hex digits of any 64-bit value (more go to the JSON path, which words the overflow). */
const MAX_U64_HEX_DIGITS = 16;

const BRACE_OPEN = 0x7b;
const QUOTE = 0x22;
const COLON = 0x3a;
const COMMA = 0x2c;
const BRACE_CLOSE = 0x7d;
const BRACKET_OPEN = 0x5b;
const BRACKET_CLOSE = 0x5d;
const LETTER_O = 0x6f;
const LETTER_P = 0x70;
const DIGIT_0 = 0x30;
const LETTER_X = 0x78;
const DASH = 0x2d;

/**
 * Scans one line of bytes, `b[pos, end)`; single-threaded and reentrant per call (its fields
 * are the state of the line being scanned). `pos` is the next byte; a failed step sets `ok`
 * false. No read goes past `end`.
 */
class LineScanner {
  b: Uint8Array = new Uint8Array(0);
  end = 0;
  pos = 0;
  ok = true;
  /** Sharing types among the last scanned flag list (`private`, `shared`, `shared_validate`). */
  nrSharingTypes = 0;

  /** The position of the next `"` from `from` on, or -1. */
  quoteFrom(from: number): number {
    const b = this.b;
    const end = this.end;
    for (let i = from; i < end; i++) if (b[i] === QUOTE) return i;
    return -1;
  }

  /** The digits of a non-negative JSON integer (no sign, fraction or exponent). */
  integer(): number {
    const b = this.b;
    const end = this.end;
    const start = this.pos;
    let v = 0;
    let i = start;
    for (; i < end; i++) {
      const d = b[i] - DIGIT_0;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    const n = i - start;
    // JSON has no leading zeros; 15 digits stay exact; a sign, fraction or exponent goes to JSON.parse.
    if (n === 0 || n > 15 || (n > 1 && b[start] === DIGIT_0)) this.ok = false;
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
    const end = this.end;
    const start = this.pos + 3;
    if (start >= end || b[start - 3] !== QUOTE || b[start - 2] !== DIGIT_0 || b[start - 1] !== LETTER_X) {
      this.ok = false;
      return 0;
    }
    let v = 0;
    let i = start;
    for (; i < end; i++) {
      const d = HEX_VALUE[b[i]];
      if (d < 0) break;
      v = v * 16 + d;
    }
    const n = i - start;
    this.pos = i + 1;
    if (n === 0 || n > MAX_U64_HEX_DIGITS || i === end || b[i] !== QUOTE) {
      this.ok = false;
      return 0;
    }
    return n <= MAX_HEX_DIGITS ? v : wideHex(b, start, i);
  }

  /** A quoted name of `names` (a v2 one only when `v2`): its entry, or null with `ok` false. */
  name(names: NameTable, v2: boolean): NameEntry | null {
    const start = this.pos + 1;
    const end = start < this.end && this.b[start - 1] === QUOTE ? this.quoteFrom(start) : -1;
    const e = end > start ? names.find(this.b, start, end, v2) : null;
    if (e === null) {
      this.ok = false;
      return null;
    }
    this.pos = end + 1;
    return e;
  }

  /** A JSON array of flag names: their bits ORed; counts the sharing types (`nrSharingTypes`). */
  flags(names: NameTable, v2: boolean): number {
    const b = this.b;
    const end = this.end;
    this.nrSharingTypes = 0;
    let i = this.pos;
    if (i + 1 >= end || b[i] !== BRACKET_OPEN) {
      this.ok = false;
      return 0;
    }
    this.pos = i + 1;
    if (b[i + 1] === BRACKET_CLOSE) {
      this.pos = i + 2;
      return 0;
    }
    let bits = 0;
    let nrSharingTypes = 0;
    for (;;) {
      const e = this.name(names, v2);
      if (e === null) return 0;
      bits |= e.value;
      if (e.sharing) nrSharingTypes++;
      i = this.pos;
      this.pos = i + 1;
      const c = i < end ? b[i] : -1;
      if (c === BRACKET_CLOSE) break;
      if (c !== COMMA) {
        this.ok = false;
        return 0;
      }
    }
    this.nrSharingTypes = nrSharingTypes;
    return bits;
  }

  /** `"rwx"`-style protection: three characters, each the letter or `-`. */
  prot(): number {
    const b = this.b;
    const i = this.pos;
    if (i + 4 >= this.end || b[i] !== QUOTE || b[i + 4] !== QUOTE) {
      this.ok = false;
      return 0;
    }
    const r = b[i + 1];
    const w = b[i + 2];
    const x = b[i + 3];
    if ((r !== 0x72 && r !== DASH) || (w !== 0x77 && w !== DASH) || (x !== LETTER_X && x !== DASH)) {
      this.ok = false;
      return 0;
    }
    this.pos = i + 5;
    return (r !== DASH ? PROT_READ : 0) | (w !== DASH ? PROT_WRITE : 0) | (x !== DASH ? PROT_EXEC : 0);
  }

  /** `"…"` of lower-case hex byte pairs, decoded into `into`'s buffer. */
  bytes(into: ScannedOp): Uint8Array | null {
    const b = this.b;
    const from = this.pos + 1;
    const end = from <= this.end && b[from - 1] === QUOTE ? this.quoteFrom(from) : -1;
    const n = end - from;
    if (end < 0 || (n & 1) !== 0) {
      this.ok = false;
      return null;
    }
    const out = into.bufferOf(n >> 1);
    for (let i = 0, j = from; j < end; i++, j += 2) {
      const hi = HEX_VALUE[b[j]];
      const lo = HEX_VALUE[b[j + 1]];
      if ((hi | lo) < 0) {
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
    const b = this.b;
    const end = this.end;
    const start = this.pos + 1;
    if (start >= end || b[start - 1] !== QUOTE) return 0;
    for (const f of FIELDS_BY_FIRST[b[start]])
      if (holdsAt(b, end, start, f.text)) {
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

/** Whether `b[start, end)` begins with `{"op":"` and has a byte after it. */
function opensWithOp(b: Uint8Array, start: number, end: number): boolean {
  return (
    start + 7 < end &&
    b[start] === BRACE_OPEN &&
    b[start + 1] === QUOTE &&
    b[start + 2] === LETTER_O &&
    b[start + 3] === LETTER_P &&
    b[start + 4] === QUOTE &&
    b[start + 5] === COLON &&
    b[start + 6] === QUOTE
  );
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
  const taken = scanRecorded(b, start, end, ctx, out);
  return taken !== NOT_RECORDED ? taken === TAKEN : scanAnyOrder(b, start, end, ctx, out);
}

/** `scanLineBytes` of a line not as the recorder writes it: field by field, in any order. */
function scanAnyOrder(b: Uint8Array, start: number, end: number, ctx: TraceContext, out: ScannedOp): boolean {
  if (!opensWithOp(b, start, end)) return false;
  const nameAt = start + 7;
  const s = scanner;
  s.b = b;
  s.end = end;
  const opEnd = s.quoteFrom(nameAt);
  if (opEnd < 0) return false;
  const code = opCode(b, nameAt, opEnd);
  if (code < 0) return false;
  const op = OPS[code];
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
    const at = s.pos;
    if (at >= end) return false;
    const c = b[at];
    s.pos = at + 1;
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
        out.flags = s.flags(
          code === OP_MMAP
            ? MMAP_NAMES
            : code === OP_MREMAP
              ? MREMAP_NAMES
              : code === OP_MLOCK
                ? MLOCK_NAMES
                : MLOCKALL_NAMES,
          v2,
        );
        nrSharingTypes = s.nrSharingTypes;
        break;
      case F_ADVICE: {
        const e = s.name(ADVICE_NAMES, v2);
        out.advice = e === null ? 0 : e.value;
        break;
      }
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
  return s.pos === end && valid(out, code, seen, nrSharingTypes, ctx);
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
