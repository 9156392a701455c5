import {
  type Kernel,
  MmError,
  type PageTable,
  PROP_AVAIL1,
  PROP_R,
  PROP_USER,
  PROP_W,
  PROP_X,
  QUERY_END,
  QUERY_MAPPED,
  QUERY_MAPPED_UNTRACKED,
} from '@mmkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClean, PROTOCOL_CONFIGS, testKernel } from '../support/configs.ts';

/**
 * Random sequences of map, map-physical, unmap, protect and query, compared step by step
 * with a reference model (page number → frame, property, tracked), with `kernel.check()`
 * after every step.
 */
const PAGE = 4096;
/** 1 MiB below a 1 GiB boundary, so ranges cross nodes at every level. */
const BASE = 0x4000_0000 - 0x10_0000;
const NR_PAGES = 1024;
/** Untracked physical memory starts at a 2 MiB-aligned frame; page i maps PHYS + i, so huge pages happen. */
const PHYS = 1 << 20;

type Entry = { pfn: number; prop: number; tracked: boolean };
type Op =
  | { op: 'map'; page: number }
  | { op: 'mapPhys'; page: number; n: number }
  | { op: 'unmap'; page: number; n: number }
  | { op: 'protect'; page: number; n: number; perms: number }
  | { op: 'query'; page: number; n: number };

const page = fc.integer({ min: 0, max: NR_PAGES - 1 });
const count = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 700 }));
const perms = fc.constantFrom(PROP_R, PROP_R | PROP_W, PROP_R | PROP_X, PROP_R | PROP_W | PROP_X);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('map' as const), page }),
  fc.record({ op: fc.constant('mapPhys' as const), page, n: count }),
  fc.record({ op: fc.constant('unmap' as const), page, n: count }),
  fc.record({ op: fc.constant('protect' as const), page, n: count, perms }),
  fc.record({ op: fc.constant('query' as const), page, n: count }),
);

/** The page-level view of the window, read through a read-only cursor. */
function view(pt: PageTable): Map<number, Entry> {
  const out = new Map<number, Entry>();
  const c = pt.cursor(BASE, BASE + NR_PAGES * PAGE);
  for (let kind = c.query(); kind !== QUERY_END; kind = c.query()) {
    if (kind !== QUERY_MAPPED && kind !== QUERY_MAPPED_UNTRACKED) continue;
    for (let off = 0; off < c.qLen; off += PAGE) {
      const p = (c.qVa + off - BASE) / PAGE;
      if (p < 0 || p >= NR_PAGES) continue;
      out.set(p, { pfn: c.qPfn + off / PAGE, prop: c.qProp & ~PROP_AVAIL1, tracked: kind === QUERY_MAPPED });
    }
  }
  c.drop();
  return out;
}

function run(k: Kernel, pt: PageTable, model: Map<number, Entry>, step: Op): void {
  const n = 'n' in step ? Math.min(step.n, NR_PAGES - step.page) : 1;
  const start = BASE + step.page * PAGE;
  const c = pt.cursorMut(start, start + n * PAGE);
  try {
    switch (step.op) {
      case 'map': {
        const f = k.frames.alloc();
        const mapped = model.has(step.page);
        try {
          c.map(f, PROP_R | PROP_W | PROP_USER);
          expect(mapped).toBe(false);
          model.set(step.page, { pfn: f, prop: PROP_R | PROP_W | PROP_USER, tracked: true });
        } catch (e) {
          expect(mapped && e instanceof MmError && e.code === 'AlreadyMapped').toBe(true);
        }
        k.frames.put(f);
        break;
      }
      case 'mapPhys': {
        let anyMapped = false;
        for (let p = step.page; p < step.page + n; p++) anyMapped ||= model.has(p);
        try {
          c.mapPhys(PHYS + step.page, n, PROP_R | PROP_W);
          expect(anyMapped).toBe(false);
          for (let p = step.page; p < step.page + n; p++)
            model.set(p, { pfn: PHYS + p, prop: PROP_R | PROP_W, tracked: false });
        } catch (e) {
          expect(anyMapped && e instanceof MmError && e.code === 'AlreadyMapped').toBe(true);
        }
        break;
      }
      case 'unmap': {
        let tracked = 0;
        for (let p = step.page; p < step.page + n; p++) {
          if (model.get(p)?.tracked) tracked++;
          model.delete(p);
        }
        expect(c.unmap(n * PAGE)).toBe(tracked);
        break;
      }
      case 'protect': {
        c.protect(n * PAGE, (prop) => (prop & ~(PROP_R | PROP_W | PROP_X)) | step.perms);
        for (let p = step.page; p < step.page + n; p++) {
          const e = model.get(p);
          if (e) e.prop = (e.prop & ~(PROP_R | PROP_W | PROP_X)) | step.perms;
        }
        break;
      }
      case 'query': {
        const first = c.findNext(n * PAGE);
        let expected = -1;
        for (let p = step.page; p < step.page + n; p++) {
          if (model.has(p)) {
            expected = BASE + p * PAGE;
            break;
          }
        }
        expect(first).toBe(expected);
        break;
      }
    }
  } finally {
    c.drop();
  }
}

describe.each(PROTOCOL_CONFIGS)('cursor against a reference model on $name', (config) => {
  it('random operation sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const k = testKernel(config, { debug: true });
        const pt = k.newUserPageTable();
        const model = new Map<number, Entry>();
        for (const step of ops) {
          run(k, pt, model, step);
          expect(view(pt)).toEqual(model);
          expectClean(k);
        }
        k.destroyUserPageTable(pt);
        expect(k.frames.nrInUse).toBe(k.nrBootFrames);
        expectClean(k);
      }),
      { numRuns: 60 },
    );
  });
});
