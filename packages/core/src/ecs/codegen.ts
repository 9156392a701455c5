import { MmError } from '../errors.ts';
import {
  type ComponentSchema,
  FIELD_KINDS,
  type FieldLayout,
  type SchemaLayout,
  setterName,
} from './schema.ts';
import type { ComponentStore, LayoutFactory, StoreBase, StoreOptions } from './store.ts';

/**
 * Source generation shared by the layouts. A layout turns a schema into the source of one
 * class whose accessors are one typed-array (or property) access each, with every offset
 * and stride a literal: the class the JIT sees is the one a person would write by hand,
 * so call sites stay monomorphic and inline it. Names in the source come from validated
 * schemas only (identifiers; see `schemaLayout`), never from data.
 */

export type StoreClass = new (capacity: number, options: StoreOptions) => StoreBase;

/** The values generated sources refer to by name. */
const BINDINGS = {
  MmError,
  alloc: (bytes: number, shared: boolean): ArrayBufferLike =>
    shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
};

/** Compiles `classSource` (a class expression) with `SCHEMA` bound to `schema`. */
export function compileStoreClass(schema: ComponentSchema, classSource: string): StoreClass {
  const names = [...Object.keys(BINDINGS), 'SCHEMA'];
  const make = new Function(...names, `'use strict';\nreturn ${classSource};`);
  return make(...Object.values(BINDINGS), schema) as StoreClass;
}

/** The typed-array constructor name of a field's kind. */
export function arrayName(f: FieldLayout): string {
  return FIELD_KINDS[f.kind].array.name;
}

/** The setter of a field (`refCount` → `setRefCount`). */
export function setter(f: FieldLayout): string {
  return setterName(f.name);
}

/** Reads a stored element as the field's value (`bool` fields read as booleans). */
export function readAs(f: FieldLayout, element: string): string {
  return f.kind === 'bool' ? `${element} !== 0` : element;
}

/** The element to store for value `v` (`bool` fields store 1 or 0). */
export function storeAs(f: FieldLayout, v: string): string {
  return f.kind === 'bool' ? `${v} ? 1 : 0` : v;
}

/** The check every generated `grow` starts with. */
export function growGuard(s: SchemaLayout): string {
  return `if (!(Number.isSafeInteger(capacity) && capacity >= 0)) throw new MmError('InvalidArgument', '${s.name}: bad capacity ' + capacity);
    if (capacity <= this.capacity) return;
    const old = this.capacity;`;
}

/** The members every store sets first, in one order (one hidden class per generated class). */
export function commonMembers(layout: string, bytesPerEntity: number): string {
  return `this.layout = '${layout}';
    this.schema = SCHEMA;
    this.shared = options !== undefined && options.shared === true;
    this.capacity = 0;
    this.bytesPerEntity = ${bytesPerEntity};`;
}

/** `frameMeta` → `FrameMeta` (class names, seen in profiles). */
export function className(layout: string, s: SchemaLayout): string {
  const cap = (x: string) => x[0].toUpperCase() + x.slice(1);
  return `${cap(layout)}${cap(s.name)}Store`;
}

/**
 * A layout from its source generator: the class of a schema is generated and compiled on
 * first use and reused for every store of that schema (so all kernels of a process share
 * one class per family and layout, and their call sites stay monomorphic).
 */
export function generatedLayout(sourceOf: (schema: ComponentSchema) => string): LayoutFactory {
  const classes = new WeakMap<ComponentSchema, StoreClass>();
  return <S extends ComponentSchema>(
    schema: S,
    capacity: number,
    options: StoreOptions,
  ): ComponentStore<S> => {
    let C = classes.get(schema);
    if (C === undefined) {
      C = compileStoreClass(schema, sourceOf(schema));
      classes.set(schema, C);
    }
    return new C(capacity, options) as ComponentStore<S>;
  };
}
