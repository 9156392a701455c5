import type { MappingTable } from '../vmar/mapping-table.ts';
import { FAULT_HANDLED, handlePageFault } from '../vmar/page-fault.ts';
import { VMA_LOCKONFAULT } from '../vmar/vm-mapping.ts';
import { ACCESS_READ, ACCESS_WRITE, VM_WRITE } from '../vmar/vm-perms.ts';
import type { Vmar } from '../vmar/vmar.ts';

/**
 * The fault an mlock-style populate takes on a page of mapping `m` (Linux's
 * `populate_vma_page_range`): a write fault for a private writable mapping (so copy-on-write
 * is broken up front), a read fault otherwise.
 */
function populateAccess(maps: MappingTable, m: number): number {
  return !maps.shared(m) && (maps.perms(m) & VM_WRITE) !== 0 ? ACCESS_WRITE : ACCESS_READ;
}

/**
 * Populates `[start, end)` the way mlock, `MAP_POPULATE`, `MAP_LOCKED` and
 * `mlockall(MCL_CURRENT)` do (Linux's `__mm_populate`): pages in address order, holes and
 * lock-on-fault mappings skipped, each other page faulted in as `populateAccess` says. A
 * page whose fault fails (a `---` mapping, a page past the end of its VMO) is skipped, or,
 * with `stopOnFailure` (mlock), ends the walk. Returns whether no page failed.
 *
 * Locking: each fault takes and drops its own cursor; the mappings do not change meanwhile.
 */
export function populateRange(vmar: Vmar, start: number, end: number, stopOnFailure: boolean): boolean {
  const page = vmar.pageSize;
  let ok = true;
  const maps = vmar.maps;
  for (const m of vmar.mappings.find(start, end)) {
    if ((maps.flags(m) & VMA_LOCKONFAULT) !== 0) continue;
    const access = populateAccess(maps, m);
    const last = Math.min(end, maps.end(m));
    for (let va = Math.max(start, maps.start(m)); va < last; va += page) {
      if (handlePageFault(vmar, va, access) === FAULT_HANDLED) continue;
      if (stopOnFailure) return false;
      ok = false;
      break;
    }
  }
  return ok;
}
