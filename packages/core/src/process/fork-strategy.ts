import { type CursorMut, QUERY_MAPPED, QUERY_MAPPED_UNTRACKED } from '../page-table/cursor.ts';
import type { Vmar } from '../vmar/vmar.ts';

/**
 * How `fork` copies an address space: a hook that a plugin can take over (the
 * copy-on-write plugin replaces the eager copy with Asterinas's `cow_copy_pt`).
 *
 * Contract: `fork` is given the parent's VMAR and an empty child VMAR over a fresh page
 * table. Afterwards the child has a copy of every mapping (`child.adoptMapping` with
 * `m.slice(m.start, m.end)`), shared mappings map the very frames the parent maps, private
 * pages read in the child as they read in the parent and are never written through by the
 * other process, and the child's RSS counts its present PTEs.
 */
export interface ForkStrategy {
  readonly name: string;
  fork(parent: Vmar, child: Vmar): void;
}

/**
 * Maps into `dst` the base page at `va` of the untracked (I/O) slot `src` just queried
 * (`qVa`, `qPfn`, `qProp`): the same frame with the same rights, untracked (no reference
 * taken, nothing counted), as the seed's `cow_copy_pt` does for `MappedIoMem` (one
 * `PAGE_SIZE` at a time); then moves `src` back to the next page of the slot if the query
 * went past it. The child's mapping survives the parent's unmap.
 */
export function copyUntrackedPage(
  src: {
    readonly va: number;
    readonly qVa: number;
    readonly qPfn: number;
    readonly qProp: number;
    jump(va: number): void;
  },
  dst: CursorMut,
  va: number,
): void {
  const page = dst.pt.ctx.consts.basePageSize;
  dst.jump(va);
  dst.mapPhys(src.qPfn + (va - src.qVa) / page, 1, src.qProp);
  if (va + page < src.va) src.jump(va + page);
}

/**
 * The core fork: copies eagerly. Each present private page gets a new frame with the same
 * contents, except pages that are still a VMO's own frame (a private file page never
 * written), which stay shared read-only as they were; shared pages map the same frame;
 * untracked pages are mapped unchanged (`copyUntrackedPage`).
 */
export const eagerFork: ForkStrategy = {
  name: 'eager-copy',
  fork(parent: Vmar, child: Vmar): void {
    const kernel = parent.space.kernel;
    const frames = kernel.frames;
    const memory = kernel.memory;
    for (const m of parent.mappings.values()) {
      child.adoptMapping(m.slice(m.start, m.end));
      const src = parent.space.cursor(m.start, m.end);
      const dst = child.space.cursorMut(m.start, m.end);
      let nrCopied = 0;
      try {
        for (;;) {
          const va = src.findNext(m.end - src.va);
          if (va < 0) break;
          const kind = src.query();
          if (kind === QUERY_MAPPED_UNTRACKED) copyUntrackedPage(src, dst, va);
          if (kind !== QUERY_MAPPED) continue;
          let pfn = src.qPfn;
          const own = !m.shared && (m.vmo === null || m.vmo.pageAt(m.vmoIndex(va)) !== pfn);
          if (own) {
            const copy = frames.alloc();
            memory.copyFrame(pfn, copy);
            pfn = copy;
          }
          dst.jump(va);
          dst.map(pfn, src.qProp);
          if (own) frames.put(pfn);
          nrCopied++;
          if (src.va >= m.end) break;
        }
      } finally {
        dst.drop();
        src.drop();
      }
      child.addRss(m.rssType, nrCopied);
    }
  },
};
