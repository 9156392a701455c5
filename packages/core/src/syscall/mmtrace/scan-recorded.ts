import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../linux-abi.ts';
import type { ScannedOp } from './scan.ts';
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
  HEX_VALUE,
  Literal,
  literalAt,
  MLOCK_NAMES,
  MLOCKALL_NAMES,
  MMAP_NAMES,
  MREMAP_NAMES,
  type NameTable,
  OP_BRK,
  OP_MLOCK,
  OP_MMAP,
  OP_MREMAP,
  OPS,
} from './scan-names.ts';

/*
 * The scanner's fast path for a line exactly as the recorder writes it: `op` first, then
 * the op's fields in the recorder's order (`OpSpec.order`), no whitespace, no escapes.
 * Such a line is its op's template, literal texts between values, so it is read by
 * comparing each literal four bytes at a time and reading each value once, with no lookup
 * of field names. It either matches a template through the line's last byte, and then
 * holds the fields that `scan.ts`'s general path would read from it, or it answers "not
 * recorded" and the general path reads the line from its start (and declines whatever it
 * declines): which lines the scanner takes, and what it makes of them, do not depend on
 * this path. The checks of the values against the header (`valid`) are the caller's.
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

/**
 * An op's line as the recorder writes it: `literals[i]` comes before value `i` (the first
 * holds the op's name and its closing quote), `literals[kinds.length]` ends the line. The
 * last field of `mmap` (`offset`), `mremap` (`new_addr`) and `brk` (`delta`) may be absent:
 * the line then ends with `endWithout` where the last field's literal would be.
 */
interface Template {
  readonly code: number;
  readonly literals: readonly Literal[];
  readonly kinds: Int8Array;
  /** The fields of a line with all of them, and with the optional last one absent. */
  readonly fields: number;
  readonly fieldsWithout: number;
  /** The end of a line without its optional last field; null where every field is written. */
  readonly endWithout: Literal | null;
}

const OPTIONAL_LAST = new Set([OP_MMAP, OP_MREMAP, OP_BRK]);

function template(code: number): Template {
  const spec = OPS[code];
  const forms = spec.order.map((f) => VALUE_FORMS[f.bit]);
  const names = spec.order.map((f) => String.fromCharCode(...f.text));
  const literals: Literal[] = [];
  let before = `${spec.op}"`;
  forms.forEach((form, i) => {
    literals.push(new Literal(`${before},"${names[i]}${form.open}`));
    before = form.close;
  });
  literals.push(new Literal(`${before}}`));
  const optional = OPTIONAL_LAST.has(code);
  const n = forms.length;
  const lastBit = spec.order[n - 1].bit;
  return {
    code,
    literals,
    kinds: Int8Array.from(forms, (f) => f.kind),
    fields: spec.fields,
    fieldsWithout: optional ? spec.fields & ~lastBit : spec.fields,
    endWithout: optional ? new Literal(`${forms[n - 2].close}}`) : null,
  };
}

const TEMPLATES: readonly Template[] = OPS.map((_, code) => template(code));

/** `BY_PREFIX[(first << 7) | second]`: the templates of the op names beginning with those two bytes. */
const BY_PREFIX: readonly (readonly Template[])[] = (() => {
  const out: Template[][] = Array.from({ length: 1 << 14 }, () => []);
  for (const t of TEMPLATES) {
    const name = OPS[t.code].name;
    out[(name[0] << 7) | name[1]].push(t);
  }
  return out;
})();

/** What `scanRecorded` found besides `out`: its op's code, its fields and its mmap sharing types. */
export const recorded = { code: 0, seen: 0, nrSharingTypes: 0 };

/** Hex digits a double holds exactly; a longer value goes to the general path. */
const MAX_HEX_DIGITS = 13;
const QUOTE = 0x22;
const COMMA = 0x2c;
const BRACKET_CLOSE = 0x5d;
const DIGIT_0 = 0x30;
const DASH = 0x2d;

/**
 * Reads the line `b[start, end)`, whose name starts at `nameAt` (after `{"op":"`), as the
 * template of its op: true when it is one through its last byte, with `out` filled (every
 * field; those the op has not 0) and `recorded` set; false otherwise, `out` then partly
 * written. `view` views the same bytes as `b`; v2 names are allowed when `v2`.
 */
export function scanRecorded(
  b: Uint8Array,
  view: DataView,
  nameAt: number,
  end: number,
  v2: boolean,
  out: ScannedOp,
): boolean {
  if (nameAt + 2 > end) return false;
  const candidates = BY_PREFIX[((b[nameAt] & 0x7f) << 7) | (b[nameAt + 1] & 0x7f)];
  let t: Template | null = null;
  for (let k = 0; k < candidates.length; k++)
    if (literalAt(view, b, nameAt, end, candidates[k].literals[0])) {
      t = candidates[k];
      break;
    }
  if (t === null) return false;
  const spec = OPS[t.code];
  if (spec.v2 && !v2) return false;
  out.op = spec.op;
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
  const literals = t.literals;
  const kinds = t.kinds;
  const nrValues = kinds.length;
  let seen = t.fields;
  let nrSharingTypes = 0;
  let p = nameAt + literals[0].length;
  for (let i = 0; ; ) {
    const kind = kinds[i];
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
      if (n === 0 || n > 15 || (n > 1 && b[from] === DIGIT_0)) return false;
      out.pid = v;
    } else if (kind <= K_DELTA) {
      const from = p;
      let v = 0;
      for (; p < end; p++) {
        const d = HEX_VALUE[b[p]];
        if (d < 0) break;
        v = v * 16 + d;
      }
      const n = p - from;
      // Up to 13 digits `v` is exact; a longer value is the general path's (a bigint past 2^53).
      if (n === 0 || n > MAX_HEX_DIGITS) return false;
      if (kind === K_ADDR) out.addr = v;
      else if (kind === K_LEN) out.len = v;
      else if (kind === K_OLD_LEN) out.oldLen = v;
      else if (kind === K_NEW_LEN) out.newLen = v;
      else if (kind === K_NEW_ADDR) out.newAddr = v;
      else if (kind === K_OFFSET) out.offset = v;
      else out.delta = v;
    } else if (kind === K_PROT) {
      if (p + 3 > end) return false;
      const r = b[p];
      const w = b[p + 1];
      const x = b[p + 2];
      if ((r !== 0x72 && r !== DASH) || (w !== 0x77 && w !== DASH) || (x !== 0x78 && x !== DASH))
        return false;
      out.prot = (r !== DASH ? PROT_READ : 0) | (w !== DASH ? PROT_WRITE : 0) | (x !== DASH ? PROT_EXEC : 0);
      p += 3;
    } else if (kind === K_FLAGS) {
      const names = flagNames(t.code);
      if (p >= end) return false;
      let bits = 0;
      if (b[p] === BRACKET_CLOSE) p++;
      else
        for (;;) {
          if (p + 1 >= end || b[p] !== QUOTE) return false;
          const list = names.byFirst[b[p + 1]];
          let k = 0;
          for (; k < list.length; k++) {
            const e = list[k];
            if ((v2 || !e.v2) && literalAt(view, b, p + 1, end, e.quoted)) break;
          }
          if (k === list.length) return false;
          const e = list[k];
          bits |= e.value;
          if (e.sharing) nrSharingTypes++;
          p += 1 + e.quoted.length;
          if (p >= end) return false;
          const c = b[p++];
          if (c === BRACKET_CLOSE) break;
          if (c !== COMMA) return false;
        }
      out.flags = bits;
    } else if (kind === K_ADVICE) {
      if (p >= end) return false;
      const list = ADVICE_NAMES.byFirst[b[p]];
      let k = 0;
      for (; k < list.length; k++) {
        const e = list[k];
        if ((v2 || !e.v2) && literalAt(view, b, p, end, e.quoted)) break;
      }
      if (k === list.length) return false;
      out.advice = list[k].value;
      p += list[k].quoted.length;
    } else {
      const from = p;
      while (p < end && b[p] !== QUOTE) p++;
      const n = p - from;
      if (p === end || (n & 1) !== 0) return false;
      const data = out.bufferOf(n >> 1);
      for (let j = 0, q = from; q < p; j++, q += 2) {
        const hi = HEX_VALUE[b[q]];
        const lo = HEX_VALUE[b[q + 1]];
        if ((hi | lo) < 0) return false;
        data[j] = (hi << 4) | lo;
      }
      out.data = data;
    }
    i++;
    const lit = literals[i];
    if (!literalAt(view, b, p, end, lit)) {
      // The optional last field absent: the line ends here.
      const endWithout = t.endWithout;
      if (i !== nrValues - 1 || endWithout === null || !literalAt(view, b, p, end, endWithout)) return false;
      p += endWithout.length;
      seen = t.fieldsWithout;
      break;
    }
    p += lit.length;
    if (i === nrValues) break;
  }
  if (p !== end) return false;
  out.hasDelta = (seen & F_DELTA) !== 0;
  recorded.code = t.code;
  recorded.seen = seen;
  recorded.nrSharingTypes = nrSharingTypes;
  return true;
}

/** The flag names of an op with `flags`. */
function flagNames(code: number): NameTable {
  return code === OP_MMAP
    ? MMAP_NAMES
    : code === OP_MREMAP
      ? MREMAP_NAMES
      : code === OP_MLOCK
        ? MLOCK_NAMES
        : MLOCKALL_NAMES;
}
