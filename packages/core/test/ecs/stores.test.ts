import { x86_64 } from '@mmkit/arch-x86_64';
import {
  type ComponentSchema,
  createMetaStore,
  createStore,
  FRAME_META_SCHEMA,
  LAYOUT_NAMES,
  LAYOUTS,
  type LayoutFactory,
  REF_COUNT_UNUSED,
  schemaLayout,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { expectClean, testKernel } from '../support/configs.ts';

/** One field of every kind, with initial values that are not all zero. */
const EVERY_KIND = {
  name: 'everyKind',
  fields: {
    a8: { kind: 'u8', initial: 7 },
    b8: { kind: 'i8', initial: -3 },
    c16: { kind: 'u16' },
    d16: { kind: 'i16' },
    e32: { kind: 'u32', initial: 0xffff_ffff },
    f32: { kind: 'i32', initial: -1 },
    g32: { kind: 'f32' },
    h64: { kind: 'f64', initial: 0.5 },
    flag: { kind: 'bool', initial: 1 },
    word: { kind: 'i32', atomic: true },
  },
} as const satisfies ComponentSchema;

describe.each(LAYOUT_NAMES)('generated %s store', (layout) => {
  it('starts every entity at the initial values', () => {
    const s = createStore(layout, EVERY_KIND, 5);
    expect(s.layout).toBe(layout);
    expect(s.capacity).toBe(5);
    for (let i = 0; i < 5; i++) {
      expect([s.a8(i), s.b8(i), s.c16(i), s.d16(i), s.e32(i), s.f32(i), s.g32(i), s.h64(i)]).toEqual([
        7, -3, 0, 0, 0xffff_ffff, -1, 0, 0.5,
      ]);
      expect(s.flag(i)).toBe(true);
      expect(s.word(i)).toBe(0);
    }
  });

  it('keeps each field of each entity apart', () => {
    const s = createStore(layout, EVERY_KIND, 4);
    for (let i = 0; i < 4; i++) {
      s.setA8(i, 200 + i);
      s.setB8(i, -100 - i);
      s.setC16(i, 60000 + i);
      s.setD16(i, -30000 - i);
      s.setE32(i, 4_000_000_000 + i);
      s.setF32(i, -2_000_000_000 - i);
      s.setG32(i, 1.5 + i);
      s.setH64(i, 2 ** 40 + i);
      s.setFlag(i, i % 2 === 0);
      s.setWord(i, 1000 + i);
    }
    for (let i = 0; i < 4; i++) {
      expect([s.a8(i), s.b8(i), s.c16(i), s.d16(i), s.e32(i), s.f32(i), s.g32(i), s.h64(i)]).toEqual([
        200 + i,
        -100 - i,
        60000 + i,
        -30000 - i,
        4_000_000_000 + i,
        -2_000_000_000 - i,
        1.5 + i,
        2 ** 40 + i,
      ]);
      expect(s.flag(i)).toBe(i % 2 === 0);
      expect(s.word(i)).toBe(1000 + i);
    }
  });

  it('exposes an atomic field as an Int32Array word per entity', () => {
    const s = createStore(layout, EVERY_KIND, 3);
    s.setWord(2, 42);
    expect(s.wordArray[s.wordIndex(2)]).toBe(42);
    expect(Atomics.compareExchange(s.wordArray, s.wordIndex(1), 0, 9)).toBe(0);
    expect(s.word(1)).toBe(9);
    expect(s.word(0)).toBe(0);
  });

  it('grows keeping every value, new entities at the initial values', () => {
    const s = createStore(layout, EVERY_KIND, 2);
    s.setE32(1, 5);
    s.setWord(1, 6);
    s.setFlag(0, false);
    s.grow(100);
    expect(s.capacity).toBe(100);
    expect([s.e32(1), s.word(1), s.flag(0)]).toEqual([5, 6, false]);
    expect([s.e32(99), s.a8(99), s.h64(99), s.flag(99), s.word(99)]).toEqual([0xffff_ffff, 7, 0.5, true, 0]);
    expect(s.wordArray[s.wordIndex(1)]).toBe(6);
    s.grow(10); // no-op: already larger
    expect(s.capacity).toBe(100);
    expect(() => s.grow(-1)).toThrow(/InvalidArgument/);
  });

  it('clears one entity back to the initial values', () => {
    const s = createStore(layout, EVERY_KIND, 3);
    for (const i of [0, 1, 2]) {
      s.setA8(i, 1);
      s.setWord(i, 3);
      s.setFlag(i, false);
    }
    s.clear(1);
    expect([s.a8(1), s.word(1), s.flag(1), s.e32(1)]).toEqual([7, 0, true, 0xffff_ffff]);
    expect([s.a8(0), s.word(2), s.flag(2)]).toEqual([1, 3, false]);
  });

  it('puts the atomic words on a SharedArrayBuffer when asked', () => {
    const s = createStore(layout, EVERY_KIND, 3, { shared: true });
    expect(s.wordArray.buffer).toBeInstanceOf(SharedArrayBuffer);
    s.grow(8);
    expect(s.wordArray.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(createStore(layout, EVERY_KIND, 3).wordArray.buffer).not.toBeInstanceOf(SharedArrayBuffer);
  });

  it('uses one generated class per schema, whatever the number of stores', () => {
    const a = createStore(layout, EVERY_KIND, 1);
    const b = createStore(layout, EVERY_KIND, 1);
    expect(Object.getPrototypeOf(a)).toBe(Object.getPrototypeOf(b));
    expect(a.constructor.name.toLowerCase()).toContain('everykind');
  });
});

describe('frame metadata schema', () => {
  it('places the aos fields at Asterinas MetaSlot offsets in 64-byte slots', () => {
    const s = createMetaStore('aos', 4);
    expect(s.bytesPerEntity).toBe(64);
    s.setRefCount(2, 0x1234_5678);
    s.setType(2, 9);
    s.setNrChildren(2, 511);
    s.setLevel(2, 3);
    s.setStray(2, true);
    s.setLock(2, 77);
    const bytes = new DataView(s.lockArray.buffer);
    const slot = 2 * 64;
    expect(bytes.getUint32(slot + 40, true)).toBe(0x1234_5678);
    expect(bytes.getUint8(slot + 48)).toBe(9);
    expect(bytes.getInt32(slot + 0, true)).toBe(77);
    expect(bytes.getUint16(slot + 4, true)).toBe(511);
    expect(bytes.getUint8(slot + 6)).toBe(3);
    expect(bytes.getUint8(slot + 7)).toBe(1);
    expect(s.lockIndex(2)).toBe(32);
    expect(bytes.getUint32(64 + 40, true)).toBe(REF_COUNT_UNUSED);
  });

  it('costs 17 bytes per frame in soa', () => {
    expect(createMetaStore('soa', 1).bytesPerEntity).toBe(17);
    expect(schemaLayout(FRAME_META_SCHEMA).slotBytes).toBe(64);
  });
});

describe('schema validation', () => {
  const bad =
    (fields: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    () =>
      createStore('soa', { name: 'bad', fields, ...extra } as unknown as ComponentSchema, 1);
  it('rejects bad schemas with InvalidConfig', () => {
    expect(bad({})).toThrow(/InvalidConfig.*no fields/);
    expect(bad({ 'x-y': { kind: 'u8' } })).toThrow(/bad field name/);
    expect(bad({ grow: { kind: 'u8' } })).toThrow(/bad field name/);
    expect(bad({ x: { kind: 'u64' } })).toThrow(/unknown kind/);
    expect(bad({ x: { kind: 'u8', atomic: true } })).toThrow(/must be i32/);
    expect(bad({ x: { kind: 'u8', initial: 256 } })).toThrow(/does not fit u8/);
    expect(bad({ x: { kind: 'u8' }, setX: { kind: 'u8' } })).toThrow(/clashes/);
    expect(bad({ x: { kind: 'u32', offset: 2 } })).toThrow(/misaligned/);
    expect(bad({ x: { kind: 'u32', offset: 0 }, y: { kind: 'u8', offset: 3 } })).toThrow(/overlaps/);
    expect(bad({ x: { kind: 'u32', offset: 0 }, y: { kind: 'u8' } })).toThrow(/every field or none/);
    expect(bad({ x: { kind: 'u8' } }, { slotBytes: 12 })).toThrow(/multiple of 8/);
    expect(bad({ x: { kind: 'u8' } }, { name: 'no space' })).toThrow(/bad name/);
  });

  it('packs fields without offsets largest first', () => {
    const l = schemaLayout({
      name: 'packed',
      fields: { a: { kind: 'u8' }, b: { kind: 'f64' }, c: { kind: 'u16' } },
    });
    expect(l.fields.map((f) => [f.name, f.offset])).toEqual([
      ['a', 10],
      ['b', 0],
      ['c', 8],
    ]);
    expect(l.slotBytes).toBe(16);
  });

  it('rejects an unknown layout name and a bad capacity', () => {
    expect(() => createStore('columnar', EVERY_KIND, 1)).toThrow(/unknown layout 'columnar'/);
    expect(() => createStore('soa', EVERY_KIND, -1)).toThrow(/InvalidArgument/);
  });
});

describe('a user layout in the kernel config', () => {
  it('stores every family of the kernel and runs clean', () => {
    const seen: string[] = [];
    const logging: LayoutFactory = (schema, capacity, options) => {
      seen.push(schema.name);
      return LAYOUTS.aos(schema, capacity, options);
    };
    const k = testKernel({ arch: x86_64 }, { layout: logging });
    expect(seen).toContain('frameMeta');
    expect(k.meta.layout).toBe('aos');
    const pt = k.newUserPageTable();
    const c = pt.cursorMut(0x4000_0000, 0x4000_0000 + 16 * 4096);
    for (let i = 0; i < 16; i++) c.map(k.frames.alloc(), 0x3);
    c.drop();
    expectClean(k);
    k.destroyUserPageTable(pt);
    expectClean(k);
  });

  it('is checked: a store missing an accessor is InvalidConfig', () => {
    const broken: LayoutFactory = (schema, capacity, options) =>
      Object.create(LAYOUTS.soa(schema, capacity, options), { setLevel: { value: undefined } });
    expect(() => testKernel({ arch: x86_64 }, { layout: broken })).toThrow(
      /InvalidConfig: layout store of 'frameMeta' has no method 'setLevel'/,
    );
  });
});
