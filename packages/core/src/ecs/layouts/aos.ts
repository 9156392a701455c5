import { className, commonMembers, generatedLayout, growGuard, readAs, setter, storeAs } from '../codegen.ts';
import { type ComponentSchema, type FieldLayout, schemaLayout } from '../schema.ts';
import type { LayoutFactory } from '../store.ts';

/** The view of the slot buffer a field is read through (`bool` is a byte). */
function view(f: FieldLayout): string {
  return `v_${f.kind === 'bool' ? 'u8' : f.kind}`;
}

const VIEW_ARRAYS: Record<string, string> = {
  v_u8: 'Uint8Array',
  v_i8: 'Int8Array',
  v_u16: 'Uint16Array',
  v_i16: 'Int16Array',
  v_u32: 'Uint32Array',
  v_i32: 'Int32Array',
  v_f32: 'Float32Array',
  v_f64: 'Float64Array',
};

/**
 * `aos` (array of structs): one fixed-size slot per entity in one buffer, fields at the
 * schema's byte offsets (for frames, Asterinas's 64-byte `MetaSlot`). The buffer is seen
 * through one typed-array view per element kind, so field `f` of entity `i` is
 * `view[i * (slotBytes / size) + offset / size]`. An atomic field's `<field>Array` is the
 * whole buffer as `Int32`s and `<field>Index(i)` its word in slot `i`. `shared` puts the
 * buffer on a `SharedArrayBuffer`.
 */
function aosSource(schema: ComponentSchema): string {
  const s = schemaLayout(schema);
  const views = [...new Set(['v_u8', ...s.fields.map(view)])];
  const at = (f: FieldLayout) => `i * ${s.slotBytes / f.bytes} + ${f.offset / f.bytes}`;
  const atomicViews = (indent: string) =>
    s.fields
      .filter((f) => f.atomic)
      .map((f) => `${indent}this.${f.name}Array = this.v_i32;`)
      .join('\n');
  const accessors = s.fields
    .map(
      (f) => `${f.name}(i) { return ${readAs(f, `this.${view(f)}[${at(f)}]`)}; }
  ${setter(f)}(i, v) { this.${view(f)}[${at(f)}] = ${storeAs(f, 'v')}; }${f.atomic ? `\n  ${f.name}Index(i) { return ${at(f)}; }` : ''}`,
    )
    .join('\n  ');
  const initials = s.fields.filter((f) => f.initial !== 0);
  const fresh = initials.map((f) => `this.${view(f)}[${at(f)}] = ${f.initial};`).join(' ');
  return `class ${className('aos', s)} {
  constructor(capacity, options) {
    ${commonMembers('aos', s.slotBytes)}
    ${views.map((v) => `this.${v} = new ${VIEW_ARRAYS[v]}(0);`).join('\n    ')}
${atomicViews('    ')}
    this.grow(capacity);
  }
  ${accessors}
  grow(capacity) {
    ${growGuard(s)}
    const buf = alloc(capacity * ${s.slotBytes}, this.shared);
    const u8 = new Uint8Array(buf);
    u8.set(this.v_u8);
    ${views.map((v) => (v === 'v_u8' ? 'this.v_u8 = u8;' : `this.${v} = new ${VIEW_ARRAYS[v]}(buf);`)).join('\n    ')}
${atomicViews('    ')}
    ${initials.length ? `for (let i = old; i < capacity; i++) { ${fresh} }` : ''}
    this.capacity = capacity;
  }
  clear(i) { this.v_u8.fill(0, i * ${s.slotBytes}, (i + 1) * ${s.slotBytes}); ${fresh} }
}`;
}

/** The `aos` layout. */
export const aos: LayoutFactory = generatedLayout(aosSource);
