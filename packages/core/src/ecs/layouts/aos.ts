import { className, commonMembers, generatedLayout, growGuard, readAs, setter, storeAs } from '../codegen.ts';
import {
  type ComponentSchema,
  FIELD_KINDS,
  type FieldKind,
  type FieldLayout,
  schemaLayout,
} from '../schema.ts';
import type { LayoutFactory } from '../store.ts';

/** The view of the slot buffer a field is read through (`bool` is a byte). */
function view(f: FieldLayout): string {
  return `v_${f.kind === 'bool' ? 'u8' : f.kind}`;
}

/** The typed-array constructor of a view (`v_u32` → `Uint32Array`). */
function viewArray(v: string): string {
  return FIELD_KINDS[v.slice(2) as FieldKind].array.name;
}

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
    ${views.map((v) => `this.${v} = new ${viewArray(v)}(0);`).join('\n    ')}
${atomicViews('    ')}
    if (options !== undefined && options.attach !== undefined) {
      const buf = options.attach[0];
      ${views.map((v) => `this.${v} = new ${viewArray(v)}(buf);`).join('\n      ')}
${atomicViews('      ')}
      this.capacity = capacity;
    } else this.grow(capacity);
  }
  buffers() { return [this.v_u8.buffer]; }
  column(field) {
    switch (field) {
      ${s.fields.map((f) => `case '${f.name}': return { array: this.${view(f)}, stride: ${s.slotBytes / f.bytes}, offset: ${f.offset / f.bytes} };`).join('\n      ')}
      default: throw new MmError('InvalidArgument', '${s.name}: no field ' + field);
    }
  }
  ${accessors}
  grow(capacity) {
    ${growGuard(s)}
    const buf = alloc(capacity * ${s.slotBytes}, this.shared);
    const u8 = new Uint8Array(buf);
    u8.set(this.v_u8);
    ${views.map((v) => (v === 'v_u8' ? 'this.v_u8 = u8;' : `this.${v} = new ${viewArray(v)}(buf);`)).join('\n    ')}
${atomicViews('    ')}
    ${initials.length ? `for (let i = old; i < capacity; i++) { ${fresh} }` : ''}
    this.capacity = capacity;
  }
  clear(i) { this.v_u8.fill(0, i * ${s.slotBytes}, (i + 1) * ${s.slotBytes}); ${fresh} }
}`;
}

/** The `aos` layout. */
export const aos: LayoutFactory = generatedLayout(aosSource);
