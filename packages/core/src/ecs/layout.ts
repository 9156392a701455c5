import { MmError } from '../errors.ts';
import { aos } from './layouts/aos.ts';
import { object } from './layouts/object.ts';
import { soa } from './layouts/soa.ts';
import { type ComponentSchema, schemaLayout, setterName } from './schema.ts';
import type { ComponentStore, LayoutFactory, StoreOptions } from './store.ts';

export type LayoutName = 'soa' | 'aos' | 'object';
/** Every built-in layout: `soa` (the default), `aos` (fixed-size slots), `object` (one object per entity). */
export const LAYOUT_NAMES: readonly LayoutName[] = ['soa', 'aos', 'object'];

/** The built-in layouts by name. */
export const LAYOUTS: Readonly<Record<LayoutName, LayoutFactory>> = { soa, aos, object };

/** A layout as a kernel config gives it: a built-in name or a user's factory. */
export type LayoutChoice = LayoutName | LayoutFactory;

/** The factory of a layout choice; an unknown name is `InvalidConfig`. */
export function resolveLayout(choice: string | LayoutFactory): LayoutFactory {
  if (typeof choice === 'function') return choice;
  if (Object.hasOwn(LAYOUTS, choice)) return LAYOUTS[choice as LayoutName];
  throw new MmError(
    'InvalidConfig',
    `unknown layout '${String(choice)}' (known: ${LAYOUT_NAMES.join(', ')})`,
  );
}

/**
 * Checks that a store (a user layout's, typically) has what the schema promises: every
 * accessor, the atomic fields' `Int32Array`s and index functions, `grow`/`clear`, and room
 * for `capacity` entities. Throws `InvalidConfig` naming what is missing.
 */
export function checkStore(schema: ComponentSchema, store: unknown, capacity: number): void {
  const s = schemaLayout(schema);
  const o = store as Record<string, unknown> | null;
  const where = `layout store of '${s.name}'`;
  if (typeof o !== 'object' || o === null) throw new MmError('InvalidConfig', `${where} is not an object`);
  const fns = ['grow', 'clear'];
  for (const f of s.fields) {
    fns.push(f.name, setterName(f.name));
    if (f.atomic) fns.push(`${f.name}Index`);
  }
  for (const name of fns)
    if (typeof o[name] !== 'function') throw new MmError('InvalidConfig', `${where} has no method '${name}'`);
  for (const f of s.fields)
    if (f.atomic && !(o[`${f.name}Array`] instanceof Int32Array))
      throw new MmError('InvalidConfig', `${where}: '${f.name}Array' is not an Int32Array`);
  if (typeof o.layout !== 'string') throw new MmError('InvalidConfig', `${where} has no layout name`);
  if (!(typeof o.capacity === 'number' && o.capacity >= capacity))
    throw new MmError('InvalidConfig', `${where} holds ${String(o.capacity)} entities, ${capacity} asked`);
  if (!(typeof o.bytesPerEntity === 'number' && o.bytesPerEntity > 0))
    throw new MmError('InvalidConfig', `${where} has no bytesPerEntity`);
}

/**
 * The store of `schema` with room for `capacity` entities in a layout. Stores from a user's
 * factory are checked (`checkStore`); built-in ones are generated from the schema.
 */
export function createStore<S extends ComponentSchema>(
  layout: string | LayoutFactory,
  schema: S,
  capacity: number,
  options: StoreOptions = {},
): ComponentStore<S> {
  const factory = resolveLayout(layout);
  schemaLayout(schema);
  if (!(Number.isSafeInteger(capacity) && capacity >= 0))
    throw new MmError('InvalidArgument', `bad capacity ${capacity} for '${schema.name}'`);
  const store = factory(schema, capacity, options);
  if (typeof layout === 'function') checkStore(schema, store, capacity);
  return store;
}
