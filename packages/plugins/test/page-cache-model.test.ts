import { createKernel, ProcessTable, readUser, VM_READ, VM_WRITE, writeUser } from '@mmkit/core';
import { MemoryStore, type PageCachePlugin, pageCache, YIELD_IO } from '@mmkit/plugins';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClean, KERNEL_CONFIGS } from '../../core/test/support/configs.ts';

const PAGE = 4096;
const NR_PAGES = 4;
const BASE = 0x10_0000_0000;
/** Where process `p`'s shared mapping of the whole file lives. */
const at = (p: number): number => BASE + p * 0x10_0000;

type Op =
  | { k: 'store'; p: number; off: number; byte: number }
  | { k: 'pwrite'; off: number; byte: number }
  | { k: 'evict'; page: number; n: number; touch: number }
  | { k: 'sync' }
  | { k: 'protect'; p: number; write: boolean }
  | { k: 'remap'; p: number };

const off = fc.integer({ min: 0, max: NR_PAGES * PAGE - 1 });
const byte = fc.integer({ min: 1, max: 255 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('store' as const), p: fc.integer({ min: 0, max: 1 }), off, byte }),
  fc.record({ k: fc.constant('pwrite' as const), off, byte }),
  fc.record({
    k: fc.constant('evict' as const),
    page: fc.integer({ min: 0, max: NR_PAGES - 1 }),
    n: fc.integer({ min: 1, max: NR_PAGES }),
    touch: fc.integer({ min: -1, max: NR_PAGES - 1 }),
  }),
  fc.record({ k: fc.constant('sync' as const) }),
  fc.record({ k: fc.constant('protect' as const), p: fc.integer({ min: 0, max: 1 }), write: fc.boolean() }),
  fc.record({ k: fc.constant('remap' as const), p: fc.integer({ min: 0, max: 1 }) }),
);

/**
 * The first offset where `actual` differs from `expected` (-1: the same bytes). Compared
 * with `toEqual`, 16 KiB spread into arrays cost more than the operations under test.
 */
function firstDifference(actual: Uint8Array, expected: Uint8Array): number {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) if (actual[i] !== expected[i]) return i;
  return -1;
}

/**
 * No data is ever lost: against a byte-array model of the file, stores through two
 * processes' shared mappings, pwrites, removals (with a page looked up, and possibly
 * written, while the remover writes back), msync, mprotect and munmap/mmap in any order
 * leave the file, as pread and both mappings see it, equal to the model; the store holds
 * it after a final sync; invariants hold throughout and nothing leaks.
 */
/** Slots are stored in the kernel's layout: every layout on x86_64, every architecture on `soa`. */
const CONFIGS = KERNEL_CONFIGS.filter((c) => c.layout === 'soa' || c.name.startsWith('x86_64/'));

describe.each(CONFIGS)('page cache against a model on $name', ({ arch, layout }) => {
  it('never loses data', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const store = new MemoryStore();
        const k = createKernel({
          arch,
          layout,
          memory: 16 << 20,
          plugins: [pageCache({ store: () => store })],
        });
        const pc = k.plugins.get<PageCachePlugin>('pagecache')!;
        const f = pc.createFile('f', NR_PAGES * PAGE);
        const procs = new ProcessTable(k);
        const model = new Uint8Array(NR_PAGES * PAGE);
        const writable = [true, true];
        const ps = [procs.spawn(), procs.spawn()];
        const map = (p: number): void => {
          ps[p].vmar.map({
            size: NR_PAGES * PAGE,
            perms: VM_READ | (writable[p] ? VM_WRITE : 0),
            placement: 'fixed',
            addr: at(p),
            shared: true,
            vmo: f,
          });
        };
        map(0);
        map(1);
        for (const op of ops) {
          switch (op.k) {
            case 'store': {
              const sig = writeUser(ps[op.p].vmar, at(op.p) + op.off, Uint8Array.of(op.byte));
              expect(sig).toBe(writable[op.p] ? 0 : 11);
              if (sig === 0) model[op.off] = op.byte;
              break;
            }
            case 'pwrite':
              f.pwrite(op.off, Uint8Array.of(op.byte));
              model[op.off] = op.byte;
              break;
            case 'evict': {
              const task = f.pm.removeContigTask(op.page, op.n);
              for (let r = task.next(); r.done !== true; r = task.next()) {
                if (r.value !== YIELD_IO || op.touch < 0) continue;
                // A user comes in while the remover writes back.
                const s = f.pm.findPage(op.touch);
                if (s >= 0) f.pm.putPage(s);
                const sig = writeUser(ps[0].vmar, at(0) + op.touch * PAGE, Uint8Array.of(0x5a));
                if (sig === 0) model[op.touch * PAGE] = 0x5a;
              }
              break;
            }
            case 'sync':
              f.sync();
              break;
            case 'protect':
              writable[op.p] = op.write;
              ps[op.p].vmar.protect(at(op.p), NR_PAGES * PAGE, VM_READ | (op.write ? VM_WRITE : 0));
              break;
            case 'remap':
              ps[op.p].vmar.unmap(at(op.p), NR_PAGES * PAGE);
              map(op.p);
              break;
          }
          expect(k.check()).toEqual([]);
          expect(procs.check()).toEqual([]);
        }
        expect(firstDifference(f.pread(0, NR_PAGES * PAGE), model)).toBe(-1);
        for (let p = 0; p < 2; p++) {
          const seen = new Uint8Array(NR_PAGES * PAGE);
          expect(readUser(ps[p].vmar, at(p), seen)).toBe(0);
          expect(firstDifference(seen, model)).toBe(-1);
        }
        for (const p of ps) procs.exit(p.pid);
        f.sync();
        const onDisk = new Uint8Array(NR_PAGES * PAGE);
        for (let i = 0; i < NR_PAGES; i++) store.readPage(i, onDisk.subarray(i * PAGE, (i + 1) * PAGE));
        expect(firstDifference(onDisk, model)).toBe(-1);
        pc.unlinkAll();
        expect(k.frames.nrInUse).toBe(k.nrBootFrames);
        expectClean(k);
      }),
      { numRuns: 60 },
    );
  });
});
