import {
  arrayName,
  className,
  commonMembers,
  generatedLayout,
  growGuard,
  readAs,
  setter,
  storeAs,
} from '../codegen.ts';
import { type ComponentSchema, schemaLayout } from '../schema.ts';
import type { LayoutFactory } from '../store.ts';

/**
 * `soa` (struct of arrays): one typed array per field, indexed by entity. The leanest
 * layout (bytes per entity = the fields' sizes) and the default. An atomic field's column
 * is its `<field>Array` (entity `i` at index `i`). `shared` puts every column on a
 * `SharedArrayBuffer`.
 */
function soaSource(schema: ComponentSchema): string {
  const s = schemaLayout(schema);
  const col = (f: (typeof s.fields)[number]) => (f.atomic ? `${f.name}Array` : `c_${f.name}`);
  const bytes = s.fields.reduce((n, f) => n + f.bytes, 0);
  const init = s.fields.map((f) => `this.${col(f)} = new ${arrayName(f)}(0);`).join('\n    ');
  const accessors = s.fields
    .map(
      (f) => `${f.name}(i) { return ${readAs(f, `this.${col(f)}[i]`)}; }
  ${setter(f)}(i, v) { this.${col(f)}[i] = ${storeAs(f, 'v')}; }${f.atomic ? `\n  ${f.name}Index(i) { return i; }` : ''}`,
    )
    .join('\n  ');
  const grow = s.fields
    .map(
      (f) =>
        `{ const a = new ${arrayName(f)}(alloc(capacity * ${f.bytes}, this.shared)); a.set(this.${col(f)});${
          f.initial !== 0 ? ` a.fill(${f.initial}, old);` : ''
        } this.${col(f)} = a; }`,
    )
    .join('\n    ');
  const attach = s.fields
    .map((f, k) => `this.${col(f)} = new ${arrayName(f)}(options.attach[${k}], 0, capacity);`)
    .join('\n      ');
  const clear = s.fields.map((f) => `this.${col(f)}[i] = ${f.initial};`).join(' ');
  return `class ${className('soa', s)} {
  constructor(capacity, options) {
    ${commonMembers('soa', bytes)}
    ${init}
    if (options !== undefined && options.attach !== undefined) {
      ${attach}
      this.capacity = capacity;
    } else this.grow(capacity);
  }
  buffers() { return [${s.fields.map((f) => `this.${col(f)}.buffer`).join(', ')}]; }
  column(field) {
    switch (field) {
      ${s.fields.map((f) => `case '${f.name}': return { array: this.${col(f)}, stride: 1, offset: 0 };`).join('\n      ')}
      default: throw new MmError('InvalidArgument', '${s.name}: no field ' + field);
    }
  }
  ${accessors}
  grow(capacity) {
    ${growGuard(s)}
    ${grow}
    this.capacity = capacity;
  }
  clear(i) { ${clear} }
}`;
}

/** The `soa` layout. */
export const soa: LayoutFactory = generatedLayout(soaSource);
