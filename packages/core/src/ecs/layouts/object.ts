import { className, commonMembers, generatedLayout, growGuard, setter } from '../codegen.ts';
import { type ComponentSchema, type FieldLayout, type SchemaLayout, schemaLayout } from '../schema.ts';
import type { LayoutFactory } from '../store.ts';

/** V8 (64-bit, no pointer compression, as Node 20 ships) keeps integers of this range unboxed. */
const SMI_MAX = 2 ** 31 - 1;

/**
 * Heap bytes of one entity in the `object` layout, estimated from how V8 lays an object
 * out: a 3-word header, 8 bytes per in-object field, 8 bytes of array element, and a 16-byte
 * heap number for each field whose initial value is not a small integer (V8 then gives the
 * field a double representation and boxes it), plus 4 bytes per atomic field. For frame
 * metadata this is 100 bytes, where `mmkit bench --workload memory` measures ~100.
 */
export function objectBytesPerEntity(s: SchemaLayout): number {
  const inObject = s.fields.filter((f) => !f.atomic);
  const boxed = inObject.filter((f) => !(Number.isInteger(f.initial) && Math.abs(f.initial) <= SMI_MAX));
  return 24 + 8 * inObject.length + 8 + 16 * boxed.length + 4 * (s.fields.length - inObject.length);
}

function literal(f: FieldLayout): string {
  return f.kind === 'bool' ? String(f.initial !== 0) : String(f.initial);
}

/**
 * `object`: one plain JavaScript object per entity (of a generated class, so every entity
 * has one hidden class), in one array created eagerly (`slots`). An atomic field cannot
 * live in an object and still be taken with `Atomics`, so it stays in an `Int32Array`
 * column beside the objects; `shared` puts only those columns on a `SharedArrayBuffer`.
 */
function objectSource(schema: ComponentSchema): string {
  const s = schemaLayout(schema);
  const inObject = s.fields.filter((f) => !f.atomic);
  const atomic = s.fields.filter((f) => f.atomic);
  const entity = `class ${className('object', s).replace(/Store$/, 'Entity')} {
    constructor() { ${inObject.map((f) => `this.${f.name} = ${literal(f)};`).join(' ')} }
  }`;
  const accessors = s.fields
    .map((f) =>
      f.atomic
        ? `${f.name}(i) { return this.${f.name}Array[i]; }
  ${setter(f)}(i, v) { this.${f.name}Array[i] = v; }
  ${f.name}Index(i) { return i; }`
        : `${f.name}(i) { return this.slots[i].${f.name}; }
  ${setter(f)}(i, v) { this.slots[i].${f.name} = v; }`,
    )
    .join('\n  ');
  return `(function () {
  const Entity = ${entity};
  return class ${className('object', s)} {
  constructor(capacity, options) {
    ${commonMembers('object', objectBytesPerEntity(s))}
    this.slots = [];
    ${atomic.map((f) => `this.${f.name}Array = new Int32Array(0);`).join('\n    ')}
    this.grow(capacity);
  }
  ${accessors}
  grow(capacity) {
    ${growGuard(s)}
    const slots = this.slots;
    for (let i = old; i < capacity; i++) slots.push(new Entity());
    ${atomic
      .map(
        (f) =>
          `{ const a = new Int32Array(alloc(capacity * 4, this.shared)); a.set(this.${f.name}Array);${
            f.initial !== 0 ? ` a.fill(${f.initial}, old);` : ''
          } this.${f.name}Array = a; }`,
      )
      .join('\n    ')}
    this.capacity = capacity;
  }
  clear(i) {
    const e = this.slots[i];
    ${inObject.map((f) => `e.${f.name} = ${literal(f)};`).join(' ')}
    ${atomic.map((f) => `this.${f.name}Array[i] = ${f.initial};`).join(' ')}
  }
};
})()`;
}

/** The `object` layout. */
export const object: LayoutFactory = generatedLayout(objectSource);
