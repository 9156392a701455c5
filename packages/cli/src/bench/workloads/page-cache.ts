import {
  ACCESS_READ,
  FAULT_HANDLED,
  handlePageFault,
  LinuxSyscalls,
  MAP_SHARED,
  PROT_READ,
} from '@mmkit/core';
import { type PageCachePlugin, pageCache } from '@mmkit/plugins';
import type { Workload } from '../types.ts';
import { assertClean, benchKernel, memoryFor, PAGE, perSecond, timeMs } from './common.ts';

export const pagecacheRemoval: Workload = {
  name: 'pagecache-removal',
  description:
    'page cache (plugin): a file is loaded by read faults on every page of a shared mapping (faults-around maps up to 16 pages per fault), unmapped, then all its clean pages are removed (evict)',
  metrics: [
    { metric: 'load_pages_per_s', unit: 'pages/s', higherIsBetter: true },
    { metric: 'pages_per_s', unit: 'pages/s', higherIsBetter: true },
  ],
  unavailable: () => null,
  setup(ctx) {
    const kernel = benchKernel(ctx, memoryFor(ctx.nrPages), [pageCache()]);
    const sys = new LinuxSyscalls(kernel);
    const pid = sys.spawn();
    const vmar = sys.procs.require(pid).vmar;
    const cache = kernel.plugins.get<PageCachePlugin>('pagecache');
    if (cache === undefined) throw new Error('pagecache-removal: the page-cache plugin is not installed');
    const len = ctx.nrPages * PAGE;
    const file = cache.createFile('bench', len);
    return {
      run() {
        const addr = sys.mmap(pid, 0, len, PROT_READ, MAP_SHARED, 0, file);
        if (addr < 0) throw new Error(`mmap of the file returned ${addr}`);
        const loadMs = timeMs(() => {
          for (let va = addr; va < addr + len; va += PAGE)
            if (handlePageFault(vmar, va, ACCESS_READ) !== FAULT_HANDLED)
              throw new Error('read fault failed');
        });
        if (sys.munmap(pid, addr, len) < 0) throw new Error('munmap failed');
        let removed = 0;
        const removeMs = timeMs(() => {
          removed = file.evict(0, len);
        });
        if (removed !== ctx.nrPages) throw new Error(`evict removed ${removed} of ${ctx.nrPages} pages`);
        return {
          load_pages_per_s: perSecond(ctx.nrPages, loadMs),
          pages_per_s: perSecond(removed, removeMs),
        };
      },
      finish: () => assertClean(kernel, 'pagecache-removal'),
    };
  },
};
