import { formatProp } from '../arch/page-prop.ts';
import { canonicalVaddr } from '../arch/paging-consts.ts';
import { FrameType } from '../frame/frame-type.ts';
import { QUERY_END, QUERY_MAPPED, QUERY_MAPPED_UNTRACKED } from '../page-table/cursor.ts';
import type { PageTable } from '../page-table/page-table.ts';
import type { Kernel } from './kernel.ts';

/** One run of leaves with the same size and property, virtually and physically contiguous. */
export interface MappingRun {
  va: number;
  end: number;
  paddr: number;
  pageSize: number;
  count: number;
  prop: number;
  tracked: boolean;
}

/** The mapped runs of `[start, end)` in `pt`, read through a read-only cursor. */
export function mappingRuns(pt: PageTable, start: number, end: number): MappingRun[] {
  const runs: MappingRun[] = [];
  const c = pt.cursor(start, end);
  try {
    for (let kind = c.query(); kind !== QUERY_END; kind = c.query()) {
      if (kind !== QUERY_MAPPED && kind !== QUERY_MAPPED_UNTRACKED) continue;
      const tracked = kind === QUERY_MAPPED;
      const paddr = c.qPfn * 4096;
      const last = runs[runs.length - 1];
      if (
        last !== undefined &&
        last.end === c.qVa &&
        last.pageSize === c.qLen &&
        last.prop === c.qProp &&
        last.tracked === tracked &&
        last.paddr + last.count * last.pageSize === paddr
      ) {
        last.count++;
        last.end += c.qLen;
      } else {
        runs.push({
          va: c.qVa,
          end: c.qVa + c.qLen,
          paddr,
          pageSize: c.qLen,
          count: 1,
          prop: c.qProp,
          tracked,
        });
      }
    }
  } finally {
    c.drop();
  }
  return runs;
}

function hex16(v: bigint | number): string {
  return BigInt(v).toString(16).padStart(16, '0');
}

function sizeName(bytes: number): string {
  if (bytes >= 2 ** 30) return `${bytes / 2 ** 30}G`;
  if (bytes >= 2 ** 20) return `${bytes / 2 ** 20}M`;
  return `${bytes / 1024}K`;
}

/**
 * A dump of `[start, end)` in the style of QEMU's `info tlb` / `info mem`: one line per run,
 * `vstart-vend  paddr  count x size  flags  tracked|untracked`, with canonical addresses.
 */
export function dumpPageTable(kernel: Kernel, pt: PageTable, start: number, end: number): string[] {
  return mappingRuns(pt, start, end).map((r) => {
    const vs = hex16(canonicalVaddr(kernel.consts, r.va));
    const ve = hex16(canonicalVaddr(kernel.consts, r.end));
    const count = `${r.count} x ${sizeName(r.pageSize)}`.padStart(10);
    return `${vs}-${ve} -> ${hex16(r.paddr)} ${count}  ${formatProp(r.prop)}  ${r.tracked ? 'tracked' : 'untracked'}`;
  });
}

/** Page-table nodes in use per level (index = level). */
export function nodesPerLevel(kernel: Kernel): number[] {
  const out = new Array(kernel.consts.nrLevels + 1).fill(0);
  const meta = kernel.meta;
  for (let pfn = 0; pfn < meta.capacity; pfn++) {
    if (meta.type(pfn) === FrameType.PageTable) out[meta.level(pfn)]++;
  }
  return out;
}
