import type { CursorMut, ForkStrategy, KernelPlugin, PluginSpec, Vmar } from '@mmkit/core';
import { injectable } from 'tsyringe';

/**
 * Copy-on-write fork, as Asterinas's `cow_copy_pt` (seed `003`): for every mapping of the
 * parent, each mapped frame is write-protected in the parent and mapped read-only, the same
 * frame, in the child (one more reference, no copy); the parent's TLB is flushed once at the
 * end. The child's RSS counts the copied PTEs. Shared mappings are write-protected too: their
 * next write fault re-grants W in place.
 *
 * The write fault that follows is the core's: a frame with a single user gets W back in
 * place, a shared one is copied (a COW break), a shared mapping's page gets W in place.
 * Untracked (I/O) pages, which user mappings never hold here, would be skipped.
 */
@injectable()
export class CowPlugin implements KernelPlugin, ForkStrategy {
  readonly name = 'cow';
  /** PTEs shared by forks so far. */
  nrSharedPtes = 0;

  /** The `forkStrategy` hook: the process table forks through this plugin. */
  forkStrategy(): ForkStrategy {
    return this;
  }

  fork(parent: Vmar, child: Vmar): void {
    for (const m of parent.mappings.values()) {
      child.adoptMapping(m.slice(m.start, m.end));
      child.addRss(m.rssType, this.copyPageTable(parent, child, m.start, m.end));
    }
    parent.space.flushAll();
  }

  private copyPageTable(parent: Vmar, child: Vmar, start: number, end: number): number {
    const src = parent.space.cursorMut(start, end);
    const dst = child.space.cursorMut(start, end);
    try {
      const n = cowCopyPt(src, dst, end - start);
      this.nrSharedPtes += n;
      return n;
    } finally {
      dst.drop();
      src.drop();
    }
  }
}

/**
 * `cow_copy_pt`: for `size` bytes from the cursors' current address, every tracked frame
 * mapped by `src` is write-protected there and mapped, read-only, at the same address by
 * `dst` (taking one more reference). Untracked slots are skipped. Returns how many frames
 * were shared. The copy is the core's `CursorMut.copyCowFrom` (a leaf node at a time).
 */
export function cowCopyPt(src: CursorMut, dst: CursorMut, size: number): number {
  return dst.copyCowFrom(src, size);
}

/** The `cow` plugin spec for `createKernel({ plugins })`. */
export function cow(): PluginSpec {
  return { name: 'cow', pluginClass: CowPlugin };
}
