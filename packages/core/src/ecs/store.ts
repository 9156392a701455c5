import type { ComponentSchema, FieldKind } from './schema.ts';

/** Options every layout accepts. */
export interface StoreOptions {
  /** Put the typed arrays on `SharedArrayBuffer`s (for worker threads; layouts that hold objects share only their atomic fields). */
  shared?: boolean;
  /**
   * Attach to the buffers of an existing shared store (its `buffers()`, e.g. passed to a
   * worker thread) instead of allocating: both stores then see the same values.
   */
  attach?: readonly ArrayBufferLike[];
}

/** Where field `f` of entity `i` sits: `array[i * stride + offset]` (for `Atomics`). */
export interface FieldColumn {
  readonly array:
    | Uint8Array
    | Int8Array
    | Uint16Array
    | Int16Array
    | Uint32Array
    | Int32Array
    | Float32Array
    | Float64Array;
  readonly stride: number;
  readonly offset: number;
}

/** What every store has, whatever its family and layout. */
export interface StoreBase {
  /** The layout's name (`soa`, `aos`, `object`, or a user layout's). */
  readonly layout: string;
  readonly schema: ComponentSchema;
  /** Entities `0 .. capacity - 1` exist, each with every field. */
  readonly capacity: number;
  /** Bytes one entity takes (for `object`, an estimate of V8's heap bytes; see its generator). */
  readonly bytesPerEntity: number;
  /**
   * Makes room for `capacity` entities (no-op if there is room), keeping every value; new
   * entities hold the initial values. Typed arrays taken from the store before (an atomic
   * field's `<field>Array`) are stale afterwards.
   */
  grow(capacity: number): void;
  /** Resets every field of entity `i` to its initial value. */
  clear(i: number): void;
  /** The buffers holding the values (for `StoreOptions.attach`); layouts that can share them. */
  buffers?(): ArrayBufferLike[];
  /** The typed array and placement of a field's values; layouts with typed-array fields. */
  column?(field: string): FieldColumn;
}

type FieldValue<K extends FieldKind> = K extends 'bool' ? boolean : number;
type Fields<S extends ComponentSchema> = S['fields'];
type AtomicNames<S extends ComponentSchema> = {
  [F in keyof Fields<S> & string]: Fields<S>[F] extends { atomic: true } ? F : never;
}[keyof Fields<S> & string];

/**
 * The store of a family: per field `f` a getter `f(i)` and a setter `setF(i, v)`; per atomic
 * field also the `Int32Array` holding it (`fArray`) and the index of entity `i` in it
 * (`fIndex(i)`), for `Atomics`.
 */
export type ComponentStore<S extends ComponentSchema> = StoreBase & {
  readonly [F in keyof Fields<S> & string]: (i: number) => FieldValue<Fields<S>[F]['kind']>;
} & {
  readonly [F in keyof Fields<S> & string as `set${Capitalize<F>}`]: (
    i: number,
    value: FieldValue<Fields<S>[F]['kind']>,
  ) => void;
} & { readonly [F in AtomicNames<S> as `${F}Array`]: Int32Array } & {
  readonly [F in AtomicNames<S> as `${F}Index`]: (i: number) => number;
};

/**
 * A storage layout: builds the store of any family for `capacity` entities. The built-in
 * layouts are factories; a user passes one of their own in the kernel config.
 */
export type LayoutFactory = <S extends ComponentSchema>(
  schema: S,
  capacity: number,
  options: StoreOptions,
) => ComponentStore<S>;
