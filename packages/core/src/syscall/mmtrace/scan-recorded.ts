import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../linux-abi.ts';
import type { U64 } from '../u64.ts';
import type { TraceContext, TraceOp } from './parse.ts';
import type { ScannedOp } from './scan.ts';
import {
  ADVICE_NAMES,
  ascii,
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
  HEX_VALUE,
  MLOCK_NAMES,
  MLOCKALL_NAMES,
  MMAP_NAMES,
  MREMAP_NAMES,
  type NameTable,
  OP_BRK,
  OP_MLOCK,
  OP_MLOCKALL,
  OP_MMAP,
  OP_MREMAP,
  OPS,
  wideHex,
} from './scan-names.ts';
import { valid } from './scan-valid.ts';

/*
 * The scanner's fast path for a line exactly as the recorder writes it: `op` first, then
 * the op's fields in the recorder's order (`OpSpec.order`), no whitespace, no escapes.
 * Such a line is its op's template, literal texts between values, so it is read by
 * comparing each literal four bytes at a time and reading each value once, with no lookup
 * of field names. It either matches a template through the line's last byte, and then
 * holds the fields that `scan.ts`'s general path would read from it, or it answers "not
 * recorded" and the general path reads the line from its start (and declines whatever it
 * declines): which lines the scanner takes, and what it makes of them, do not depend on
 * this path. A line it matches gets the same checks against the header (`valid`) here.
 */

/** How a value is read and where it goes. Hex values (`"0x…"`) are `K_ADDR`…`K_DELTA`. */
const K_PID = 0;
const K_ADDR = 1;
const K_LEN = 2;
const K_OLD_LEN = 3;
const K_NEW_LEN = 4;
const K_NEW_ADDR = 5;
const K_OFFSET = 6;
const K_DELTA = 7;
const K_PROT = 8;
const K_FLAGS = 9;
const K_ADVICE = 10;
const K_DATA = 11;

/** A field's value kind, and the text before and after the value proper. */
const VALUE_FORMS: Readonly<Record<number, { kind: number; open: string; close: string }>> = {
  [F_PID]: { kind: K_PID, open: '', close: '' },
  [F_ADDR]: { kind: K_ADDR, open: '"0x', close: '"' },
  [F_LEN]: { kind: K_LEN, open: '"0x', close: '"' },
  [F_OLD_LEN]: { kind: K_OLD_LEN, open: '"0x', close: '"' },
  [F_NEW_LEN]: { kind: K_NEW_LEN, open: '"0x', close: '"' },
  [F_NEW_ADDR]: { kind: K_NEW_ADDR, open: '"0x', close: '"' },
  [F_OFFSET]: { kind: K_OFFSET, open: '"0x', close: '"' },
  [F_DELTA]: { kind: K_DELTA, open: '"0x', close: '"' },
  [F_PROT]: { kind: K_PROT, open: '"', close: '"' },
  // The name readers take the closing `]` or `"` themselves.
  [F_FLAGS]: { kind: K_FLAGS, open: '[', close: '' },
  [F_ADVICE]: { kind: K_ADVICE, open: '"', close: '' },
  [F_DATA]: { kind: K_DATA, open: '"', close: '"' },
};

/*
 * The templates and the flag and advice names live in one array of 32-bit words, `CODE`,
 * so that a line is read from a few cache lines of it. A literal text is its length `n`
 * and then, for `n >= 4`, its little-endian 32-bit words at offsets 0, 4, 8, … with the
 * last one ending at its last byte (overlapping the one before); for `n < 4`, its bytes.
 * An op's template is its literals and value kinds in turn: literal 0 (the op's name, its
 * closing quote and the first field's name), kind 0, literal 1, …, the last literal, and
 * `K_END`, then for an op whose last field may be absent the literal that ends a line
 * without it (`END_WITHOUT_AT`). A name is its literal (the name and its closing quote), its value, its
 * attributes (`NAME_V2`, `NAME_SHARING`) and where the next name with its first byte is.
 */
const words: number[] = [];

function emitLiteral(text: string): void {
  const bytes = ascii(text);
  const n = bytes.length;
  words.push(n);
  if (n < 4) {
    words.push(...bytes);
    return;
  }
  const view = new DataView(bytes.buffer);
  const nrWords = (n + 3) >> 2;
  for (let k = 0; k < nrWords; k++) words.push(view.getInt32(k === nrWords - 1 ? n - 4 : 4 * k, true));
}

/** Words a literal of `n` bytes takes in `CODE`, its length included. */
function literalWords(n: number): number {
  return 1 + (n < 4 ? n : (n + 3) >> 2);
}

/** Ends a template. */
const K_END = -1;
/** Ops whose last field the recorder may leave out: `offset`, `new_addr`, `delta`, `flags`. */
const OPTIONAL_LAST = new Set([OP_MMAP, OP_MREMAP, OP_BRK, OP_MLOCK]);
/** Where each op's template starts in `CODE`. */
const TEMPLATE_AT = new Int32Array(OPS.length);
/** Where the literal before an op's optional last value starts, -1 where every field is written. */
const OPTIONAL_AT = new Int32Array(OPS.length).fill(-1);
/** Where the literal that ends a line without that value starts (the value before's close and `}`). */
const END_WITHOUT_AT = new Int32Array(OPS.length).fill(-1);
/** An op's fields when all are written, and with its optional last one left out. */
const FIELDS = new Int32Array(OPS.length);
const FIELDS_WITHOUT = new Int32Array(OPS.length);

OPS.forEach((spec, op) => {
  const forms = spec.order.map((f) => VALUE_FORMS[f.bit]);
  const n = forms.length;
  TEMPLATE_AT[op] = words.length;
  let before = `${spec.op}"`;
  let endWithout: string | null = null;
  forms.forEach((form, i) => {
    if (i === n - 1 && OPTIONAL_LAST.has(op)) {
      OPTIONAL_AT[op] = words.length;
      endWithout = `${before}}`;
    }
    emitLiteral(`${before},"${String.fromCharCode(...spec.order[i].text)}${form.open}`);
    words.push(form.kind);
    before = form.close;
  });
  emitLiteral(`${before}}`);
  words.push(K_END);
  if (endWithout !== null) {
    END_WITHOUT_AT[op] = words.length;
    emitLiteral(endWithout);
  }
  FIELDS[op] = spec.fields;
  FIELDS_WITHOUT[op] = OPTIONAL_AT[op] < 0 ? spec.fields : spec.fields & ~spec.order[n - 1].bit;
});

const NAME_V2 = 1;
const NAME_SHARING = 2;

/** A name table in `CODE`: `first[c]` is where the first name beginning with byte `c` is, or -1. */
function flatNames(names: NameTable): Int32Array {
  const first = new Int32Array(256).fill(-1);
  names.byFirst.forEach((list, c) => {
    let link = -1;
    for (const e of list) {
      const at = words.length;
      if (link < 0) first[c] = at;
      else words[link] = at;
      emitLiteral(`${String.fromCharCode(...e.bytes)}"`);
      words.push(e.value, (e.v2 ? NAME_V2 : 0) | (e.sharing ? NAME_SHARING : 0), -1);
      link = words.length - 1;
    }
  });
  return first;
}

const MMAP_FIRST = flatNames(MMAP_NAMES);
const MREMAP_FIRST = flatNames(MREMAP_NAMES);
const MLOCK_FIRST = flatNames(MLOCK_NAMES);
const MLOCKALL_FIRST = flatNames(MLOCKALL_NAMES);
const ADVICE_FIRST = flatNames(ADVICE_NAMES);

/** `FLAG_NAMES[op]`: the flag names of op `op` (no names for an op without `flags`). */
const FLAG_NAMES: readonly Int32Array[] = OPS.map((_, op) =>
  op === OP_MMAP
    ? MMAP_FIRST
    : op === OP_MREMAP
      ? MREMAP_FIRST
      : op === OP_MLOCK
        ? MLOCK_FIRST
        : op === OP_MLOCKALL
          ? MLOCKALL_FIRST
          : new Int32Array(256).fill(-1),
);

const CODE = Int32Array.from(words);

/** Each op's name, and whether only a v2 trace may use it. */
const OP_NAMES: readonly TraceOp['op'][] = OPS.map((o) => o.op);
const V2_ONLY = Uint8Array.from(OPS, (o) => (o.v2 ? 1 : 0));

/** `FIRST_BY_PREFIX[(first << 7) | second]`: an op whose name begins with those two bytes, or -1; `NEXT_BY_PREFIX[op]` the next. */
const FIRST_BY_PREFIX = new Int8Array(1 << 14).fill(-1);
const NEXT_BY_PREFIX = new Int8Array(OPS.length).fill(-1);
for (let op = OPS.length - 1; op >= 0; op--) {
  const name = OPS[op].name;
  const key = (name[0] << 7) | name[1];
  NEXT_BY_PREFIX[op] = FIRST_BY_PREFIX[key];
  FIRST_BY_PREFIX[key] = op;
}

/**
 * The position after the literal at `CODE[at]` if the line's bytes from `p` (before `end`)
 * begin with it, else -1. `view` views the same bytes as `b`.
 */
function literalEnd(view: DataView, b: Uint8Array, p: number, end: number, at: number): number {
  const n = CODE[at];
  if (p + n > end) return -1;
  if (n < 4) {
    for (let i = 0; i < n; i++) if (b[p + i] !== CODE[at + 1 + i]) return -1;
    return p + n;
  }
  const last = at + ((n + 3) >> 2);
  for (let k = at + 1, q = p; k < last; k++, q += 4) if (view.getInt32(q, true) !== CODE[k]) return -1;
  return view.getInt32(p + n - 4, true) === CODE[last] ? p + n : -1;
}

/**
 * The name of table `first` at `p` (its first byte; a v2 name only when `v2`), with its
 * closing quote: where it is in `CODE` (its literal), or -1.
 */
function findName(
  view: DataView,
  b: Uint8Array,
  p: number,
  end: number,
  first: Int32Array,
  v2: boolean,
): number {
  if (p >= end) return -1;
  for (let at = first[b[p]]; at >= 0; ) {
    const after = at + literalWords(CODE[at]);
    if ((v2 || (CODE[after + 1] & NAME_V2) === 0) && literalEnd(view, b, p, end, at) >= 0) return at;
    at = CODE[after + 2];
  }
  return -1;
}

/** `HEX_PAIR[c0 | (c1 << 8)]`: the value of the two lower-case hex digits `c0 c1`, -1 unless both are such digits. */
const HEX_PAIR: Int16Array = (() => {
  const out = new Int16Array(1 << 16).fill(-1);
  for (let c0 = 0; c0 < 256; c0++)
    for (let c1 = 0; c1 < 256; c1++)
      if (HEX_VALUE[c0] >= 0 && HEX_VALUE[c1] >= 0) out[c0 | (c1 << 8)] = HEX_VALUE[c0] * 16 + HEX_VALUE[c1];
  return out;
})();

/** Hex digits a double holds exactly, and of any 64-bit value (a longer one is the general path's). */
const MAX_HEX_DIGITS = 13;
const MAX_U64_HEX_DIGITS = 16;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BRACKET_CLOSE = 0x5d;
const DIGIT_0 = 0x30;
const DASH = 0x2d;

/** `scanRecorded`'s answers: the line taken, declined (a value fails a check), or not in the recorder's form. */
export const TAKEN = 1;
export const DECLINED = 0;
export const NOT_RECORDED = -1;

/**
 * The bytes last scanned, and a `DataView` of them (literals are read four bytes at a time);
 * made again when other bytes are scanned.
 */
let viewed: Uint8Array = new Uint8Array(0);
let view = new DataView(viewed.buffer);

/** `{"op` and `p":"` as 32-bit words: a line begins with `{"op":"` (two overlapping words). */
const OPEN_WORD = new DataView(ascii('{"op').buffer).getInt32(0, true);
const OPEN_WORD_2 = new DataView(ascii('p":"').buffer).getInt32(0, true);

/**
 * Reads the line `b[start, end)` as the template of its op. `TAKEN` when it is one through
 * its last byte and its values pass the JSON path's checks (`valid`): `out` then holds every
 * field (those the op has not 0). `DECLINED` when it is one but a check fails (the general
 * path would decline it too). `NOT_RECORDED` otherwise, `out` then partly written: the
 * general path decides.
 */
export function scanRecorded(
  b: Uint8Array,
  start: number,
  end: number,
  ctx: TraceContext,
  out: ScannedOp,
): number {
  const nameAt = start + 7;
  if (nameAt + 2 > end) return NOT_RECORDED;
  if (b !== viewed) {
    viewed = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  if (view.getInt32(start, true) !== OPEN_WORD || view.getInt32(start + 3, true) !== OPEN_WORD_2)
    return NOT_RECORDED;
  const v2 = ctx.version >= 2;
  let op = FIRST_BY_PREFIX[((b[nameAt] & 0x7f) << 7) | (b[nameAt + 1] & 0x7f)];
  let p = -1;
  let pc = 0;
  for (; op >= 0; op = NEXT_BY_PREFIX[op]) {
    pc = TEMPLATE_AT[op];
    p = literalEnd(view, b, nameAt, end, pc);
    if (p >= 0) break;
  }
  if (op < 0) return NOT_RECORDED;
  if (V2_ONLY[op] !== 0 && !v2) return DECLINED;
  out.op = OP_NAMES[op];
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
  let seen = FIELDS[op];
  let nrSharingTypes = 0;
  pc += literalWords(CODE[pc]);
  for (;;) {
    const kind = CODE[pc++];
    if (kind === K_END) break;
    if (kind === K_PID) {
      const from = p;
      let v = 0;
      for (; p < end; p++) {
        const d = b[p] - DIGIT_0;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
      const n = p - from;
      // As JSON: no leading zero; over 15 digits (or a sign, fraction, exponent) is the general path's.
      if (n === 0 || n > 15 || (n > 1 && b[from] === DIGIT_0)) return NOT_RECORDED;
      out.pid = v;
    } else if (kind <= K_DELTA) {
      // Two digits at a time, then an odd last one.
      const from = p;
      let v = 0;
      for (; p + 2 <= end; p += 2) {
        const x = HEX_PAIR[b[p] | (b[p + 1] << 8)];
        if (x < 0) break;
        v = v * 256 + x;
      }
      if (p < end) {
        const d = HEX_VALUE[b[p]];
        if (d >= 0) {
          v = v * 16 + d;
          p++;
        }
      }
      const n = p - from;
      // Up to 13 digits `v` is exact; 14 to 16 are read again as a bigint past 2^53 (`wideHex`).
      if (n === 0 || n > MAX_U64_HEX_DIGITS) return NOT_RECORDED;
      if (n > MAX_HEX_DIGITS) setHex(out, kind, wideHex(b, from, p));
      else if (kind === K_ADDR) out.addr = v;
      else if (kind === K_LEN) out.len = v;
      else if (kind === K_OLD_LEN) out.oldLen = v;
      else if (kind === K_NEW_LEN) out.newLen = v;
      else if (kind === K_NEW_ADDR) out.newAddr = v;
      else if (kind === K_OFFSET) out.offset = v;
      else out.delta = v;
    } else if (kind === K_PROT) {
      if (p + 3 > end) return NOT_RECORDED;
      const r = b[p];
      const w = b[p + 1];
      const x = b[p + 2];
      if ((r !== 0x72 && r !== DASH) || (w !== 0x77 && w !== DASH) || (x !== 0x78 && x !== DASH))
        return NOT_RECORDED;
      out.prot = (r !== DASH ? PROT_READ : 0) | (w !== DASH ? PROT_WRITE : 0) | (x !== DASH ? PROT_EXEC : 0);
      p += 3;
    } else if (kind === K_FLAGS) {
      const first = FLAG_NAMES[op];
      if (p >= end) return NOT_RECORDED;
      let bits = 0;
      if (b[p] === BRACKET_CLOSE) p++;
      else
        for (;;) {
          if (b[p] !== QUOTE) return NOT_RECORDED;
          const at = findName(view, b, p + 1, end, first, v2);
          if (at < 0) return NOT_RECORDED;
          const n = CODE[at];
          const after = at + literalWords(n);
          bits |= CODE[after];
          if ((CODE[after + 1] & NAME_SHARING) !== 0) nrSharingTypes++;
          p += 1 + n;
          if (p >= end) return NOT_RECORDED;
          const c = b[p++];
          if (c === BRACKET_CLOSE) break;
          if (c !== COMMA || p >= end) return NOT_RECORDED;
        }
      out.flags = bits;
    } else if (kind === K_ADVICE) {
      const at = findName(view, b, p, end, ADVICE_FIRST, v2);
      if (at < 0) return NOT_RECORDED;
      const n = CODE[at];
      out.advice = CODE[at + literalWords(n)];
      p += n;
    } else {
      // Byte pairs up to the first that is not one: the closing quote (the next literal checks it).
      const room = out.bufferOf((end - p) >> 1);
      let n = 0;
      for (; p + 2 <= end; p += 2, n++) {
        const x = HEX_PAIR[b[p] | (b[p + 1] << 8)];
        if (x < 0) break;
        room[n] = x;
      }
      out.data = out.bufferOf(n);
    }
    const next = literalEnd(view, b, p, end, pc);
    if (next < 0) {
      // The optional last field left out: the line ends here.
      if (pc !== OPTIONAL_AT[op] || literalEnd(view, b, p, end, END_WITHOUT_AT[op]) !== end)
        return NOT_RECORDED;
      p = end;
      seen = FIELDS_WITHOUT[op];
      break;
    }
    p = next;
    pc += literalWords(CODE[pc]);
  }
  if (p !== end) return NOT_RECORDED;
  out.hasDelta = (seen & F_DELTA) !== 0;
  return valid(out, op, seen, nrSharingTypes, ctx) ? TAKEN : DECLINED;
}

/** Stores hex value `v` of kind `kind` (`K_ADDR`…`K_DELTA`) in its field. */
function setHex(out: ScannedOp, kind: number, v: U64): void {
  if (kind === K_ADDR) out.addr = v;
  else if (kind === K_LEN) out.len = v;
  else if (kind === K_OLD_LEN) out.oldLen = v;
  else if (kind === K_NEW_LEN) out.newLen = v;
  else if (kind === K_NEW_ADDR) out.newAddr = v;
  else if (kind === K_OFFSET) out.offset = v;
  else out.delta = v;
}
