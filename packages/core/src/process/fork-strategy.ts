import { QUERY_MAPPED } from '../page-table/cursor.ts';
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
 * The core fork: copies eagerly. Each present private page gets a new frame with the same
 * contents, except pages that are still a VMO's own frame (a private file page never
 * written), which stay shared read-only as they were; shared pages map the same frame.
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
          if (src.query() !== QUERY_MAPPED) continue;
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
