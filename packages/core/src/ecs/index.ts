/**
 * Component families: a schema declares a family's fields once; layouts generate its
 * stores (`soa`, `aos`, `object`, or a user's factory).
 */
export {
  checkStore,
  createStore,
  LAYOUT_NAMES,
  LAYOUTS,
  type LayoutChoice,
  type LayoutName,
  resolveLayout,
} from './layout.ts';
export { objectBytesPerEntity } from './layouts/object.ts';
export {
  type ComponentSchema,
  FIELD_KINDS,
  type FieldKind,
  type FieldLayout,
  type FieldSpec,
  type SchemaLayout,
  schemaLayout,
} from './schema.ts';
export type { ComponentStore, LayoutFactory, StoreBase, StoreOptions } from './store.ts';
