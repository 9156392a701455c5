import {
  createMetaStore,
  FrameType,
  type Kernel,
  type PageTable,
  type PluginSpec,
  PROP_AVAIL1,
  PROP_W,
  QUERY_MAPPED,
} from '@mmkit/core';
import { type PageTableRecyclingPlugin, pageTableRecycling } from '@mmkit/plugins';
import type { Workload, WorkloadContext, WorkloadInstance } from '../types.ts';
import {
  assertClean,
  benchKernel,
  memoryFor,
  PAGE,
  perSecond,
  SPLIT_MAX_PAGES,
  timeMs,
  USER_BASE,
  USER_RW,
} from './common.ts';

/** A kernel, a user page table and one frame per page of the range (handles held by the workload). */
class MappedRange {
  readonly kernel: Kernel;
  readonly pt: PageTable;
  readonly frames: Float64Array;
  readonly start = USER_BASE;
  readonly end: number;

  constructor(
    ctx: WorkloadContext,
    readonly nrPages: number,
    plugins: readonly PluginSpec[] = [],
  ) {
    this.kernel = benchKernel(ctx, memoryFor(nrPages), plugins);
    this.pt = this.kernel.newUserPageTable();
    this.frames = new Float64Array(nrPages);
    for (let i = 0; i < nrPages; i++) this.frames[i] = this.kernel.frames.alloc();
    this.end = this.start + nrPages * PAGE;
  }

  map(): void {
    const c = this.pt.cursorMut(this.start, this.end);
    const frames = this.frames;
    for (let i = 0, n = this.nrPages; i < n; i++) c.map(frames[i], USER_RW);
    c.drop();
  }

  /**
   * Maps the range as `map` does, each run of consecutive frame numbers of `frames` with
   * one `CursorMut.mapRun` call.
   */
  mapRuns(): void {
    const c = this.pt.cursorMut(this.start, this.end);
    const frames = this.frames;
    const n = this.nrPages;
    for (let i = 0; i < n; ) {
      let j = i + 1;
      while (j < n && frames[j] === frames[j - 1] + 1) j++;
      c.mapRun(frames[i], j - i, USER_RW);
      i = j;
    }
    c.drop();
  }

  unmap(): number {
    const c = this.pt.cursorMut(this.start, this.end);
    const n = c.unmap(this.end - this.start);
    c.drop();
    return n;
  }
}

function expectCount(got: number, want: number, what: string): void {
  if (got !== want) throw new Error(`${what}: expected ${want} pages, got ${got}`);
}

export const map: Workload = {
  name: 'map',
  description:
    'map a range with one cursor, each run of consecutive tracked 4 KiB frames in one call (CursorMut.mapRun)',
  metrics: [{ metric: 'pages_per_s', unit: 'pages/s', higherIsBetter: true }],
  unavailable: () => null,
  setup(ctx): WorkloadInstance {
    const r = new MappedRange(ctx, ctx.nrPages);
    return {
      run() {
        const ms = timeMs(() => r.mapRuns());
        expectCount(r.unmap(), r.nrPages, 'map');
        return { pages_per_s: perSecond(r.nrPages, ms) };
      },
      finish: () => assertClean(r.kernel, 'map'),
    };
  },
};

/** Pages per query call of the `query` workload: 16 leaf nodes' worth. */
const QUERY_BATCH = 8192;

export const query: Workload = {
  name: 'query',
  description:
    "query every page of a mapped range with one read-only cursor, in batches into typed arrays: each page's kind into a byte vector as mincore fills its vector (Cursor.queryKinds, pages_per_s), and each mapped page's address, frame and property (Cursor.queryRange, range_pages_per_s)",
  metrics: [
    { metric: 'pages_per_s', unit: 'pages/s', higherIsBetter: true },
    { metric: 'range_pages_per_s', unit: 'pages/s', higherIsBetter: true },
  ],
  unavailable: () => null,
  setup(ctx) {
    const r = new MappedRange(ctx, ctx.nrPages);
    r.map();
    const kinds = new Uint8Array(QUERY_BATCH);
    const outVa = new Float64Array(QUERY_BATCH);
    const outPfn = new Float64Array(QUERY_BATCH);
    const outProp = new Uint32Array(QUERY_BATCH);
    /** Tracked pages by `queryKinds`, as mincore counts resident ones. */
    const byKinds = (): number => {
      let mapped = 0;
      const c = r.pt.cursor(r.start, r.end);
      for (let from = r.start; from < r.end; ) {
        const n = c.queryKinds(from, r.end, kinds);
        for (let i = 0; i < n; i++) if (kinds[i] === QUERY_MAPPED) mapped++;
        from += n * PAGE;
      }
      c.drop();
      return mapped;
    };
    /** Tracked pages by `queryRange`. */
    const byRange = (): number => {
      let mapped = 0;
      const c = r.pt.cursor(r.start, r.end);
      for (let from = r.start; from < r.end; from = c.va) {
        const n = c.queryRange(from, r.end, outVa, outPfn, outProp);
        for (let i = 0; i < n; i++) if ((outProp[i] & PROP_AVAIL1) === 0) mapped++;
        if (n < QUERY_BATCH) break;
      }
      c.drop();
      return mapped;
    };
    const once = (f: () => number, what: string): number => {
      let mapped = 0;
      const ms = timeMs(() => {
        mapped = f();
      });
      expectCount(mapped, r.nrPages, what);
      return perSecond(r.nrPages, ms);
    };
    return {
      run: () => ({
        pages_per_s: once(byKinds, 'query (queryKinds)'),
        range_pages_per_s: once(byRange, 'query (queryRange)'),
      }),
      finish: () => assertClean(r.kernel, 'query'),
    };
  },
};

export const unmap: Workload = {
  name: 'unmap',
  description:
    'unmap a mapped range with one cursor: empty page-table nodes stay (pages_per_s) or are freed by the pageTableRecycling plugin (recycling_pages_per_s)',
  metrics: [
    { metric: 'pages_per_s', unit: 'pages/s', higherIsBetter: true },
    { metric: 'recycling_pages_per_s', unit: 'pages/s', higherIsBetter: true },
  ],
  unavailable: () => null,
  setup(ctx) {
    // Two kernels per child: one without plugins (empty nodes stay), one with recycling.
    const plain = new MappedRange(ctx, ctx.nrPages);
    const recycling = new MappedRange(ctx, ctx.nrPages, [pageTableRecycling()]);
    const once = (r: MappedRange): number => {
      r.map();
      let n = 0;
      const ms = timeMs(() => {
        n = r.unmap();
      });
      expectCount(n, r.nrPages, 'unmap');
      return perSecond(r.nrPages, ms);
    };
    return {
      run: () => ({ pages_per_s: once(plain), recycling_pages_per_s: once(recycling) }),
      finish() {
        assertClean(plain.kernel, 'unmap');
        assertClean(recycling.kernel, 'unmap');
        const plugin = recycling.kernel.plugins.get<PageTableRecyclingPlugin>('recycle');
        if (plugin === undefined || plugin.nrRecycledNodes === 0)
          throw new Error('unmap: recycling freed no node');
      },
    };
  },
};

export const protect: Workload = {
  name: 'protect',
  description: 'protect a whole mapped range with one cursor (toggling W on every page)',
  metrics: [{ metric: 'pages_per_s', unit: 'pages/s', higherIsBetter: true }],
  unavailable: () => null,
  setup(ctx) {
    const r = new MappedRange(ctx, ctx.nrPages);
    r.map();
    const toggle = (p: number) => p ^ PROP_W;
    return {
      run() {
        const ms = timeMs(() => {
          const c = r.pt.cursorMut(r.start, r.end);
          c.protect(r.end - r.start, toggle);
          c.drop();
        });
        return { pages_per_s: perSecond(r.nrPages, ms) };
      },
      finish: () => assertClean(r.kernel, 'protect'),
    };
  },
};

export const protectSplit: Workload = {
  name: 'protect-split',
  description:
    'protect every other page of a mapped range, one cursor per call (the page-table part of mprotect splitting a mapping)',
  metrics: [{ metric: 'calls_per_s', unit: 'calls/s', higherIsBetter: true }],
  unavailable: () => null,
  maxPages: SPLIT_MAX_PAGES,
  setup(ctx) {
    const r = new MappedRange(ctx, Math.min(ctx.nrPages, SPLIT_MAX_PAGES));
    r.map();
    const toggle = (p: number) => p ^ PROP_W;
    return {
      run() {
        const pt = r.pt;
        let calls = 0;
        const ms = timeMs(() => {
          for (let va = r.start; va < r.end; va += 2 * PAGE) {
            const c = pt.cursorMut(va, va + PAGE);
            c.protect(PAGE, toggle);
            c.drop();
            calls++;
          }
        });
        return { calls_per_s: perSecond(calls, ms) };
      },
      finish: () => assertClean(r.kernel, 'protect-split'),
    };
  },
};

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

function usedBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export const memory: Workload = {
  name: 'memory',
  description:
    'bytes of metadata per frame (heap + buffers after GC), bytes of page table per mapped 4 KiB page, heap and RSS after setup',
  metrics: [
    { metric: 'meta_bytes_per_frame', unit: 'bytes/frame', higherIsBetter: false },
    { metric: 'pt_bytes_per_page', unit: 'bytes/page', higherIsBetter: false },
    { metric: 'heap_bytes', unit: 'bytes', higherIsBetter: false },
    { metric: 'buffer_bytes', unit: 'bytes', higherIsBetter: false },
    { metric: 'rss_bytes', unit: 'bytes', higherIsBetter: false },
  ],
  unavailable: () => null,
  setup(ctx) {
    return {
      run() {
        const r = new MappedRange(ctx, ctx.nrPages);
        const ptBefore = r.kernel.frames.nrInUseByType[FrameType.PageTable];
        r.map();
        const ptNodes = r.kernel.frames.nrInUseByType[FrameType.PageTable] - ptBefore + 1; // + the user root
        gc();
        const mem = process.memoryUsage();
        const out = {
          meta_bytes_per_frame: measureMetaBytes(ctx),
          pt_bytes_per_page: (ptNodes * PAGE) / r.nrPages,
          heap_bytes: mem.heapUsed,
          buffer_bytes: mem.arrayBuffers,
          rss_bytes: mem.rss,
        };
        assertClean(r.kernel, 'memory');
        return out;
      },
    };
  },
};

/** Heap + array-buffer bytes per frame of a fresh metadata store of the context's layout. */
function measureMetaBytes(ctx: WorkloadContext): number {
  const n = 1 << 18;
  gc();
  const before = usedBytes();
  const store = createMetaStore(ctx.layout, n);
  gc();
  const bytes = (usedBytes() - before) / n;
  if (store.capacity !== n) throw new Error('memory: store size');
  return bytes;
}
