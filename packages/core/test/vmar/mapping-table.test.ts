import { x86_64 } from '@mmkit/arch-x86_64';
import {
  AnonVmo,
  type ComponentSchema,
  checkVmar,
  createKernel,
  LAYOUTS,
  type LayoutFactory,
  MAPPING_SCHEMA,
  VM_READ,
  VM_WRITE,
  Vmar,
  VmSpace,
} from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { KERNEL_CONFIGS, testKernel } from '../support/configs.ts';

const P = 4096;
const BASE = 0x1000_0000;
const RW = VM_READ | VM_WRITE;

describe.each(KERNEL_CONFIGS)('mappings as components on $name', (config) => {
  it("keeps mappings in the kernel's layout, grows the table and frees every id", () => {
    const k = testKernel(config);
    const vmar = new Vmar(new VmSpace(k));
    const maps = vmar.maps;
    expect(maps.store.layout).toBe(config.layout);
    const before = maps.nrLive;
    // 600 one-page mappings two pages apart (they never merge): more than the first store.
    for (let i = 0; i < 600; i++)
      vmar.map({ size: P, perms: i % 2 === 0 ? RW : VM_READ, placement: 'fixed', addr: BASE + 2 * i * P });
    expect(maps.capacity).toBeGreaterThanOrEqual(600);
    expect(maps.nrLive - before).toBe(600);
    expect(checkVmar(vmar)).toEqual([]);
    for (let i = 0; i < 600; i += 97) {
      const v = vmar.viewAt(BASE + 2 * i * P);
      expect(v).toMatchObject({
        start: BASE + 2 * i * P,
        end: BASE + (2 * i + 1) * P,
        shared: false,
        vmo: null,
      });
      expect(v!.perms & RW).toBe(i % 2 === 0 ? RW : VM_READ);
    }
    // Protect and unmap across many mappings: splits and merges reuse ids.
    vmar.protect(BASE, 300 * P, RW);
    vmar.unmap(BASE + 100 * P, 400 * P);
    expect(checkVmar(vmar)).toEqual([]);
    expect(maps.nrLive - before).toBe(vmar.mappings.size);
    vmar.clear();
    expect(maps.nrLive).toBe(before);
    expect(checkVmar(vmar)).toEqual([]);
  });

  it('gives a VMO one id while mappings use it and holds one reference per mapping', () => {
    const k = testKernel(config);
    const vmar = new Vmar(new VmSpace(k));
    const maps = vmar.maps;
    const vmo = new AnonVmo(k.frames, 8);
    vmar.map({ size: 4 * P, perms: RW, placement: 'fixed', addr: BASE, vmo, shared: true });
    vmar.map({ size: 4 * P, perms: RW, placement: 'fixed', addr: BASE + 16 * P, vmo, shared: true });
    const id = maps.vmoId(vmar.findMapping(BASE));
    expect(id).toBeGreaterThanOrEqual(0);
    expect(maps.vmoId(vmar.findMapping(BASE + 16 * P))).toBe(id);
    expect(maps.vmos.get(id)).toBe(vmo);
    expect(maps.vmos.usersOf(id)).toBe(2);
    expect(vmo.nrRefs).toBe(3);
    // A split makes two mappings of the same VMO.
    vmar.protect(BASE + P, P, VM_READ);
    expect(maps.vmos.usersOf(id)).toBe(4);
    expect(vmo.nrRefs).toBe(5);
    vmar.unmap(BASE, 32 * P);
    expect(maps.vmos.usersOf(id)).toBe(0);
    expect(maps.vmos.get(id)).toBeNull();
    expect(vmo.nrRefs).toBe(1);
    vmo.release();
    expect(k.check()).toEqual([]);
  });

  it('refuses to dispose of a mapping twice', () => {
    const k = testKernel(config);
    const vmar = new Vmar(new VmSpace(k));
    const m = vmar.maps.create(BASE, BASE + P, RW, false, null, 0, false, 0);
    vmar.maps.dispose(m);
    expect(() => vmar.maps.dispose(m)).toThrow(/not live/);
  });

  it('reports a freed id left in the interval set and a start that differs from the store', () => {
    const k = testKernel(config);
    const vmar = new Vmar(new VmSpace(k));
    vmar.map({ size: 2 * P, perms: RW, placement: 'fixed', addr: BASE });
    vmar.map({ size: P, perms: VM_READ, placement: 'fixed', addr: BASE + 4 * P });
    const moved = vmar.findMapping(BASE + 4 * P);
    vmar.maps.store.setStart(moved, BASE + 3 * P);
    expect(checkVmar(vmar).map((v) => v.kind)).toContain('vmar-id');
    vmar.maps.store.setStart(moved, BASE + 4 * P);
    expect(checkVmar(vmar)).toEqual([]);
    vmar.maps.dispose(vmar.findMapping(BASE));
    expect(checkVmar(vmar).map((v) => v.kind)).toContain('vmar-id');
  });
});

describe('mappings in a user layout', () => {
  it("are stored by the user's factory", () => {
    const families: string[] = [];
    const mine: LayoutFactory = (schema, capacity, options) => {
      families.push((schema as ComponentSchema).name);
      return LAYOUTS.soa(schema, capacity, options);
    };
    const k = createKernel({ arch: x86_64, memory: 64 << 20, layout: mine });
    const vmar = new Vmar(new VmSpace(k));
    vmar.map({ size: P, perms: RW });
    expect(families).toContain(MAPPING_SCHEMA.name);
    expect(checkVmar(vmar)).toEqual([]);
  });
});
