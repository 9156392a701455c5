import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Kernel,
  LinuxSyscalls,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type PageTable,
  PROP_R,
  PROP_RW,
  PROP_USER,
  PROT_READ,
  PROT_WRITE,
  QUERY_MAPPED,
  QUERY_MAPPED_UNTRACKED,
  QUERY_NOT_MAPPED,
  replayLines,
} from '@mmkit/core';
import { cow, cowCopyPt } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { ARCHS, expectClean, KERNEL_CONFIGS, testKernel } from '../../core/test/support/configs.ts';

const PAGE = 4096;
const MAP = PAGE;
const COW_END = PAGE * 512 * 512;

function query(pt: PageTable, va: number): { kind: number; pfn: number; perms: number } {
  const c = pt.cursor(va, va + PAGE);
  const kind = c.query();
  const out = { kind, pfn: c.qPfn, perms: c.qProp & PROP_RW };
  c.drop();
  return out;
}

function copy(parent: PageTable, child: PageTable): number {
  const dst = child.cursorMut(0, COW_END);
  const src = parent.cursorMut(0, COW_END);
  try {
    return cowCopyPt(parent.ctx, src, dst, COW_END);
  } finally {
    src.drop();
    dst.drop();
  }
}

function unmapOne(pt: PageTable): void {
  const c = pt.cursorMut(MAP, MAP + PAGE);
  c.unmap(PAGE);
  c.drop();
}

function mapOne(pt: PageTable, pfn: number): void {
  const c = pt.cursorMut(MAP, MAP + PAGE);
  c.map(pfn, PROP_RW | PROP_USER);
  c.drop();
}

describe.each(KERNEL_CONFIGS)('cow_copy_pt on $name', (config) => {
  it("follows the seed's parent / child / sibling scenario with exact reference counts", () => {
    const k: Kernel = testKernel(config);
    const parent = k.newUserPageTable();
    const frame = k.frames.alloc(); // the test's own handle, like the seed's clone for asserts
    mapOne(parent, frame);
    expect(query(parent, MAP)).toEqual({ kind: QUERY_MAPPED, pfn: frame, perms: PROP_RW });
    expect(k.frames.refCount(frame)).toBe(2);

    const child = k.newUserPageTable();
    expect(copy(parent, child)).toBe(1);
    expect(query(child, MAP)).toEqual({ kind: QUERY_MAPPED, pfn: frame, perms: PROP_R });
    expect(query(parent, MAP)).toEqual({ kind: QUERY_MAPPED, pfn: frame, perms: PROP_R });
    expect(k.frames.refCount(frame)).toBe(3);
    expectClean(k);

    unmapOne(parent);
    expect(query(child, MAP)).toEqual({ kind: QUERY_MAPPED, pfn: frame, perms: PROP_R });
    expect(k.frames.refCount(frame)).toBe(2);

    const sibling = k.newUserPageTable();
    expect(copy(parent, sibling)).toBe(0);
    expect(query(sibling, MAP).kind).toBe(QUERY_NOT_MAPPED);

    k.destroyUserPageTable(parent);
    expect(query(child, MAP)).toEqual({ kind: QUERY_MAPPED, pfn: frame, perms: PROP_R });
    expect(k.frames.refCount(frame)).toBe(2);

    unmapOne(child);
    expect(k.frames.refCount(frame)).toBe(1);
    mapOne(sibling, frame);
    expect(query(sibling, MAP)).toEqual({ kind: QUERY_MAPPED, pfn: frame, perms: PROP_RW });
    expect(query(child, MAP).kind).toBe(QUERY_NOT_MAPPED);
    expect(k.frames.refCount(frame)).toBe(2);
    expectClean(k);

    k.destroyUserPageTable(child);
    k.destroyUserPageTable(sibling);
    k.frames.put(frame);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expectClean(k);
  });
});

describe.each(ARCHS)('cow_copy_pt of untracked (I/O) memory on $name', ({ arch }) => {
  it('maps the same frames with the same rights into the child, counts nothing, and survives the parent unmap', () => {
    const k = testKernel({ arch });
    const parent = k.newUserPageTable();
    const child = k.newUserPageTable();
    const io = 1000; // frames mapped untracked: no reference counts change
    const m = parent.cursorMut(MAP, MAP + 3 * PAGE);
    m.mapPhys(io, 3, PROP_RW | PROP_USER);
    m.drop();
    const refs = [0, 1, 2].map((i) => k.frames.refCount(io + i));
    expect(copy(parent, child)).toBe(0);
    for (let i = 0; i < 3; i++) {
      const c = child.cursor(MAP + i * PAGE, MAP + (i + 1) * PAGE);
      expect(c.query()).toBe(QUERY_MAPPED_UNTRACKED);
      expect([c.qPfn, c.qProp & (PROP_RW | PROP_USER)]).toEqual([io + i, PROP_RW | PROP_USER]);
      c.drop();
      // The parent keeps W: untracked pages are never write-protected.
      expect(query(parent, MAP + i * PAGE).perms).toBe(PROP_RW);
    }
    expect([0, 1, 2].map((i) => k.frames.refCount(io + i))).toEqual(refs);
    expectClean(k);
    const u = parent.cursorMut(MAP, MAP + 3 * PAGE);
    expect(u.unmap(3 * PAGE)).toBe(0);
    u.drop();
    expect(query(child, MAP + PAGE)).toEqual({ kind: QUERY_MAPPED_UNTRACKED, pfn: io + 1, perms: PROP_RW });
    expectClean(k);
    k.destroyUserPageTable(parent);
    k.destroyUserPageTable(child);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
  });
});

describe('fork with and without the cow plugin', () => {
  const dir = fileURLToPath(new URL('../../core/test/fixtures/traces/', import.meta.url));
  const traces = readdirSync(dir).filter((f) => /^(fork|anon)-\d+\.trace\.jsonl$/.test(f));

  it.each(ARCHS)(
    'gives identical results on every fork and anon sample on $name, sharing frames instead of copying',
    ({ arch }) => {
      expect(traces.length).toBeGreaterThanOrEqual(10);
      for (const f of traces) {
        const lines = readFileSync(join(dir, f), 'utf8').split('\n');
        const eager = [...replayLines(lines, { arch, memory: 32 << 20 })];
        const shared = [...replayLines(lines, { arch, memory: 32 << 20, plugins: [cow()] })];
        expect(shared).toEqual(eager);
        expect(`${shared.join('\n')}\n`).toBe(
          readFileSync(join(dir, f.replace('.trace.', '.expected.')), 'utf8'),
        );
      }
    },
  );

  it('counts COW breaks: copies while shared, in place once the other side is gone', () => {
    const k = testKernel({ arch: ARCHS[0].arch }, { plugins: [cow()] });
    const sys = new LinuxSyscalls(k);
    const breaks: boolean[] = [];
    k.events.on('cowBreak', (_pid, _va, copied) => breaks.push(copied));
    const p = sys.spawn();
    const addr = sys.mmap(p, 0, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    for (let i = 0; i < 4; i++) sys.writeMemory(p, addr + i * PAGE, Uint8Array.of(i + 1));
    const before = k.frames.usageByType().untyped;
    const c = sys.fork(p);
    expect(k.frames.usageByType().untyped).toBe(before);
    sys.writeMemory(c, addr, Uint8Array.of(9));
    sys.writeMemory(p, addr + PAGE, Uint8Array.of(8));
    expect(breaks).toEqual([true, true]);
    sys.exit(c);
    sys.writeMemory(p, addr + 2 * PAGE, Uint8Array.of(7));
    expect(breaks).toEqual([true, true, false]);
    const out = new Uint8Array(1);
    sys.readMemory(p, addr, out);
    expect(out[0]).toBe(1);
    sys.exit(p);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expectClean(k);
  });
});
