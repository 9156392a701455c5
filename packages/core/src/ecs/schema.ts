import { MmError } from '../errors.ts';

/**
 * Component schemas: a component family (frame metadata, page-cache slots, ...) is declared
 * once, as named fields with their typed-array kind. Every storage layout (`ecs/layouts/`)
 * is generated from the schema, so a family is never written once per layout.
 *
 * Entities of a family are dense indices `0 .. capacity - 1` (a pfn for frames, a slot
 * number for page-cache slots): a store holds a value of every field for every index.
 */

/** Typed-array element kinds. `bool` is stored as a byte and read as `boolean`. */
export const FIELD_KINDS = {
  u8: { bytes: 1, array: Uint8Array },
  i8: { bytes: 1, array: Int8Array },
  u16: { bytes: 2, array: Uint16Array },
  i16: { bytes: 2, array: Int16Array },
  u32: { bytes: 4, array: Uint32Array },
  i32: { bytes: 4, array: Int32Array },
  f32: { bytes: 4, array: Float32Array },
  f64: { bytes: 8, array: Float64Array },
  bool: { bytes: 1, array: Uint8Array },
} as const;
export type FieldKind = keyof typeof FIELD_KINDS;

export interface FieldSpec {
  readonly kind: FieldKind;
  /** Value of a fresh entity (default 0 / false). */
  readonly initial?: number;
  /**
   * The field is taken with `Atomics` by its users (an `i32` lock word): every layout keeps
   * it in an `Int32Array` and exposes `<field>Array` and `<field>Index(i)`.
   */
  readonly atomic?: boolean;
  /** Byte offset inside the `aos` slot (all fields or none give one). */
  readonly offset?: number;
}

export interface ComponentSchema {
  /** The family's name, in errors and generated class names (an identifier). */
  readonly name: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** Bytes of one `aos` slot (default: the packed fields, rounded up to 8). */
  readonly slotBytes?: number;
}

/** One field as the layouts place it. */
export interface FieldLayout {
  readonly name: string;
  readonly kind: FieldKind;
  readonly bytes: number;
  readonly initial: number;
  readonly atomic: boolean;
  /** Byte offset inside the `aos` slot. */
  readonly offset: number;
}

/** A validated schema with its `aos` placement, as every generator reads it. */
export interface SchemaLayout {
  readonly name: string;
  readonly fields: readonly FieldLayout[];
  readonly slotBytes: number;
}

/** Store members a field name must not shadow. */
const RESERVED = new Set([
  'layout',
  'schema',
  'capacity',
  'bytesPerEntity',
  'shared',
  'grow',
  'clear',
  'slots',
]);
const IDENTIFIER = /^[a-z][A-Za-z0-9]*$/;

function bad(schema: string, message: string): never {
  throw new MmError('InvalidConfig', `schema '${schema}': ${message}`);
}

/** `refCount` → `setRefCount`. */
export function setterName(field: string): string {
  return `set${field[0].toUpperCase()}${field.slice(1)}`;
}

function checkInitial(schema: string, name: string, kind: FieldKind, v: number): void {
  const ok =
    kind === 'f64' || kind === 'f32'
      ? Number.isFinite(v)
      : kind === 'bool'
        ? v === 0 || v === 1
        : Number.isInteger(v) && new FIELD_KINDS[kind].array([v])[0] === v;
  if (!ok) bad(schema, `initial value ${v} of '${name}' does not fit ${kind}`);
}

/**
 * Places fields without offsets in an `aos` slot: largest first, each aligned to its size,
 * so the slot has no holes but the tail (rounded up to 8 bytes).
 */
function packOffsets(fields: readonly [string, FieldSpec][]): Map<string, number> {
  const order = [...fields].sort((a, b) => FIELD_KINDS[b[1].kind].bytes - FIELD_KINDS[a[1].kind].bytes);
  const out = new Map<string, number>();
  let at = 0;
  for (const [name, spec] of order) {
    out.set(name, at);
    at += FIELD_KINDS[spec.kind].bytes;
  }
  return out;
}

const layoutCache = new WeakMap<ComponentSchema, SchemaLayout>();

/**
 * Validates `schema` and computes its `aos` placement (cached per schema object). Throws
 * `InvalidConfig` on a bad name, kind, initial value, or an offset that is misaligned,
 * overlaps another field or leaves the slot.
 */
export function schemaLayout(schema: ComponentSchema): SchemaLayout {
  const cached = layoutCache.get(schema);
  if (cached) return cached;
  const sname = schema.name;
  if (typeof sname !== 'string' || !/^[A-Za-z][A-Za-z0-9]*$/.test(sname)) bad(String(sname), 'bad name');
  const entries = Object.entries(schema.fields ?? {});
  if (entries.length === 0) bad(sname, 'no fields');
  const names = new Set(entries.map(([n]) => n));
  for (const [name, spec] of entries) {
    if (!IDENTIFIER.test(name) || RESERVED.has(name)) bad(sname, `bad field name '${name}'`);
    if (names.has(setterName(name))) bad(sname, `field '${setterName(name)}' clashes with a setter`);
    if (spec.atomic && (names.has(`${name}Array`) || names.has(`${name}Index`)))
      bad(sname, `a field clashes with the atomic views of '${name}'`);
    if (!(spec.kind in FIELD_KINDS)) bad(sname, `unknown kind '${spec.kind}' of '${name}'`);
    if (spec.atomic && spec.kind !== 'i32') bad(sname, `atomic field '${name}' must be i32`);
    checkInitial(sname, name, spec.kind, spec.initial ?? 0);
  }
  const given = entries.filter(([, s]) => s.offset !== undefined).length;
  if (given !== 0 && given !== entries.length) bad(sname, 'give an aos offset for every field or none');
  const offsets =
    given === 0 ? packOffsets(entries) : new Map(entries.map(([n, s]) => [n, s.offset as number]));
  const packedEnd = Math.max(
    ...entries.map(([n, s]) => (offsets.get(n) as number) + FIELD_KINDS[s.kind].bytes),
  );
  const slotBytes = schema.slotBytes ?? Math.ceil(packedEnd / 8) * 8;
  if (!Number.isInteger(slotBytes) || slotBytes <= 0 || slotBytes % 8 !== 0)
    bad(sname, `slotBytes ${slotBytes} is not a positive multiple of 8`);
  const used = new Uint8Array(slotBytes);
  const fields: FieldLayout[] = entries.map(([name, spec]) => {
    const bytes = FIELD_KINDS[spec.kind].bytes;
    const offset = offsets.get(name) as number;
    if (!Number.isInteger(offset) || offset < 0 || offset % bytes !== 0 || offset + bytes > slotBytes)
      bad(sname, `offset ${offset} of '${name}' is misaligned or outside the ${slotBytes}-byte slot`);
    for (let b = offset; b < offset + bytes; b++) {
      if (used[b]) bad(sname, `'${name}' overlaps another field at byte ${b}`);
      used[b] = 1;
    }
    return { name, kind: spec.kind, bytes, initial: spec.initial ?? 0, atomic: spec.atomic ?? false, offset };
  });
  const out = { name: sname, fields, slotBytes };
  layoutCache.set(schema, out);
  return out;
}
