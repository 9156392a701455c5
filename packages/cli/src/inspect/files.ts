import { HOOK_LOOKUP_FILE, type Kernel, type Vmo } from '@mmkit/core';
import { FileVmo, PageCachePlugin, PG_DIRTY } from '@mmkit/plugins';

/**
 * The files of a kernel's page cache, as the views name them. The model has no file system,
 * so there are no devices or inode numbers: a file's inode is its position in the page
 * cache's file table (1 = the first file created), on device `00:00`.
 */
export class FileTable {
  private readonly plugin: PageCachePlugin | undefined;

  constructor(kernel: Kernel) {
    this.plugin = kernel.plugins
      .with(HOOK_LOOKUP_FILE)
      .find((p): p is PageCachePlugin => p instanceof PageCachePlugin);
  }

  /** Every file, in creation order. */
  get files(): FileVmo[] {
    return this.plugin === undefined ? [] : [...this.plugin.files.values()];
  }

  /** The inode number shown for `vmo` (a file of this table), 0 if it is not one. */
  inode(vmo: Vmo): number {
    return this.files.indexOf(vmo as FileVmo) + 1;
  }
}

/** Whether page `index` of `vmo` is a file page whose page-cache flags say dirty (Linux's `PageDirty`). */
export function isDirtyFilePage(vmo: Vmo, index: number): boolean {
  if (!(vmo instanceof FileVmo)) return false;
  const slot = vmo.pm.slotAt(index);
  return slot >= 0 && (vmo.pm.flagsOf(slot) & PG_DIRTY) !== 0;
}
