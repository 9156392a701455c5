import { PROP_R, PROP_USER, PROP_W, PROP_X } from '../arch/page-prop.ts';
import { countUserLeaves, type Violation } from '../kernel/check.ts';
import { QUERY_MAPPED } from '../page-table/cursor.ts';
import { NR_RSS_TYPES } from './vm-mapping.ts';
import { permsToProp, permsValid } from './vm-perms.ts';
import type { Vmar } from './vmar.ts';

const PERM_BITS = PROP_R | PROP_W | PROP_X;

/**
 * Verifies a VMAR's invariants (see `Vmar`): the interval set is ordered, disjoint,
 * aligned, inside the VMAR and fully merged; `totalVm` is exact; every present user PTE
 * lies inside a mapping, is a tracked user page and allows no more than its mapping;
 * a shared VMO mapping maps the VMO's own frames; `rss` counts exactly the present PTEs.
 * Every id in the set is a live mapping, appears once, and the set's copy of its start is
 * the store's. That no PTE lies outside every mapping is known when the leaves found in the
 * mappings are all the table's (`countUserLeaves`); only otherwise, or when something else
 * is already wrong, are the gaps between mappings searched, to name the pages.
 */
export function checkVmar(vmar: Vmar, label = 'vmar'): Violation[] {
  const out: Violation[] = [];
  const page = vmar.pageSize;
  const set = vmar.mappings;
  const maps = vmar.maps;
  const seen = new Set<number>();
  const rss = new Float64Array(NR_RSS_TYPES);
  let total = 0;
  /** Leaves found inside the mappings. */
  let inside = 0;
  let prevEnd = vmar.lowest;
  const space = vmar.space;
  const c = space.cursor(space.lower, space.upper);
  try {
    const hex = (x: number): string => `0x${x.toString(16)}`;
    /** The gaps between mappings, as start, end pairs. */
    const gaps: number[] = [];
    const addGap = (start: number, end: number): void => {
      if (start < end) gaps.push(start, end);
    };
    addGap(space.lower, vmar.lowest);
    for (let i = 0; i < set.size; i++) {
      const id = set.idAt(i);
      if (!maps.isLive(id) || seen.has(id)) {
        out.push({
          kind: 'vmar-id',
          message: `${label}: mapping id ${id} at position ${i} is freed or repeated`,
        });
        continue;
      }
      seen.add(id);
      const m = maps.view(id);
      // Built only for a violation: most checks find none.
      const name = (): string => `${label}: mapping [${hex(m.start)}, ${hex(m.end)})`;
      if (set.startAt(i) !== m.start)
        out.push({ kind: 'vmar-id', message: `${name()} is filed under start ${hex(set.startAt(i))}` });
      if (m.start % page !== 0 || m.end % page !== 0 || !(m.start < m.end)) {
        out.push({ kind: 'vmar-range', message: `${name()} is empty or not page aligned` });
        continue;
      }
      if (m.start < prevEnd)
        out.push({ kind: 'vmar-order', message: `${name()} overlaps or precedes the previous one` });
      if (m.end > vmar.cap)
        out.push({ kind: 'vmar-range', message: `${name()} reaches past the VMAR's cap` });
      if (i > 0 && maps.isLive(set.idAt(i - 1)) && maps.canMerge(set.idAt(i - 1), id)) {
        out.push({ kind: 'vmar-merge', message: `${name()} could merge with the previous mapping` });
      }
      if (!permsValid(m.perms))
        out.push({ kind: 'vmar-perms', message: `${name()} has rights beyond its may-rights` });
      if (m.vmo !== null && m.vmo.nrRefs <= 0)
        out.push({ kind: 'vmo-ref', message: `${name()} maps a released VMO` });
      addGap(Math.max(prevEnd, space.lower), m.start);
      prevEnd = Math.max(prevEnd, m.end);
      total += m.size;

      const allowed = permsToProp(m.perms) & PERM_BITS;
      c.jump(m.start);
      for (;;) {
        const va = c.findNext(m.end - c.va);
        if (va < 0) break;
        const kind = c.query();
        const prop = c.qProp;
        if (kind !== QUERY_MAPPED || c.qLen !== page) {
          out.push({ kind: 'pte-kind', message: `${name()}: ${hex(va)} is not a tracked 4 KiB page` });
        } else if ((prop & PERM_BITS & ~allowed) !== 0 || (prop & PROP_USER) === 0) {
          out.push({
            kind: 'pte-perms',
            message: `${name()}: PTE at ${hex(va)} allows more than the mapping (prop 0x${prop.toString(16)})`,
          });
        } else if (m.shared && m.vmo !== null && m.vmo.pageAt(m.vmoIndex(va)) !== c.qPfn) {
          out.push({
            kind: 'pte-vmo',
            message: `${name()}: ${hex(va)} maps frame ${c.qPfn}, not the VMO's page`,
          });
        }
        rss[m.rssType]++;
        inside++;
        if (c.va >= m.end) break;
      }
    }
    addGap(Math.max(prevEnd, space.lower), space.upper);
    if (out.length > 0 || inside !== countUserLeaves(space.pt.ctx, space.pt)) {
      for (let i = 0; i < gaps.length; i += 2) {
        c.jump(gaps[i]);
        const va = c.findNext(gaps[i + 1] - gaps[i]);
        if (va >= 0)
          out.push({
            kind: 'pte-outside',
            message: `${label}: page ${hex(va)} is mapped outside every mapping`,
          });
      }
    }
  } finally {
    c.drop();
  }
  if (total !== vmar.totalVm)
    out.push({ kind: 'vmar-total', message: `${label}: totalVm ${vmar.totalVm}, mappings sum to ${total}` });
  for (let t = 0; t < NR_RSS_TYPES; t++) {
    if (rss[t] !== vmar.rss[t]) {
      out.push({
        kind: 'vmar-rss',
        message: `${label}: rss[${t}] is ${vmar.rss[t]}, ${rss[t]} pages are mapped`,
      });
    }
  }
  return out;
}
