import { join } from 'node:path';
import {
  ENOENT,
  type FileOp,
  type FileOpResult,
  type Kernel,
  type KernelPlugin,
  KernelToken,
  MmError,
  type PluginSpec,
  type Violation,
  type Vmo,
} from '@mmkit/core';
import { inject, injectable } from 'tsyringe';
import { type BackingStore, FsStore, MemoryStore } from './backing-store.ts';
import { FileVmo } from './file-vmo.ts';

export interface PageCacheOptions {
  /**
   * Where files live: `'memory'` (default: a `MemoryStore` per file), a directory (each
   * file name is a real file in it, through `node:fs`), or a function making the store of
   * a new file.
   */
  store?: 'memory' | { dir: string } | ((name: string) => BackingStore);
}

export const PageCacheOptionsToken = Symbol('PageCacheOptions');

/**
 * The page cache (`pagecache`): files with a page map each (`PageMap`, Akaros's
 * `pagemap.c`), file-backed VMOs for mappings (`FileVmo`), buffered I/O, writeback and
 * removal. Files are named; `createFile` on an existing name truncates that file in place,
 * as `ftruncate` to 0 and then to the new size.
 *
 * Hooks the core calls through `kernel.plugins` (core's `HOOK_LOOKUP_FILE`, `HOOK_FILE_OP`):
 * `lookupFile(name)` (the VMO of a file for `mmap`) and `fileOp(op)` (file operations).
 */
@injectable()
export class PageCachePlugin implements KernelPlugin {
  readonly name = 'pagecache';
  private readonly table = new Map<string, FileVmo>();

  constructor(
    @inject(KernelToken) private readonly kernel: Kernel,
    @inject(PageCacheOptionsToken) private readonly options: PageCacheOptions,
  ) {}

  /** The file named `name`, if it exists. */
  file(name: string): FileVmo | undefined {
    return this.table.get(name);
  }

  /** Every file, by name. */
  get files(): ReadonlyMap<string, FileVmo> {
    return this.table;
  }

  /** Creates a zero-filled file of `size` bytes, or truncates the existing one in place to 0 and then to `size`. */
  createFile(name: string, size: number): FileVmo {
    let f = this.table.get(name);
    if (f === undefined) {
      f = new FileVmo(this.kernel, name, this.newStore(name));
      this.table.set(name, f);
    }
    f.truncate(0);
    f.truncate(size);
    return f;
  }

  /** Deletes a file: its pages go when its last mapping does. */
  unlink(name: string): void {
    const f = this.table.get(name);
    if (f === undefined) throw new MmError('NotMapped', `no file ${name}`);
    this.table.delete(name);
    f.unlink();
  }

  /** Deletes every file (so that, once nothing maps them, every page-cache frame is free). */
  unlinkAll(): void {
    for (const name of [...this.table.keys()]) this.unlink(name);
  }

  /** Hook: the VMO of file `name` for a mapping, or `undefined` if there is no such file. */
  lookupFile(name: string): Vmo | undefined {
    return this.table.get(name);
  }

  /** Hook: runs a file operation; `-ENOENT` for a name never created. */
  fileOp(op: FileOp): FileOpResult {
    if (op.op === 'file') {
      this.createFile(op.name, op.size);
      return 0;
    }
    const f = this.table.get(op.name);
    if (f === undefined) return -ENOENT;
    switch (op.op) {
      case 'pwrite':
        f.pwrite(op.offset, op.data);
        return 0;
      case 'pread':
        return f.pread(op.offset, op.len);
      case 'evict':
        f.evict(op.offset, op.len);
        return 0;
    }
  }

  /** Hook: each file's page-map invariants and the tags of its entity (`PageMap.check`). */
  check(): Violation[] {
    const out: Violation[] = [];
    for (const f of this.table.values()) out.push(...f.pm.check());
    return out;
  }

  /** Page-cache counters summed over every file. */
  stats(): { nrFiles: number; nrPages: number; nrLoads: number; nrRemoved: number; nrWritebacks: number } {
    const out = { nrFiles: this.table.size, nrPages: 0, nrLoads: 0, nrRemoved: 0, nrWritebacks: 0 };
    for (const f of this.table.values()) {
      out.nrPages += f.pm.nrPages;
      out.nrLoads += f.pm.stats.nrLoads;
      out.nrRemoved += f.pm.stats.nrRemoved;
      out.nrWritebacks += f.pm.stats.nrWritebacks;
    }
    return out;
  }

  private newStore(name: string): BackingStore {
    const store = this.options.store ?? 'memory';
    if (store === 'memory') return new MemoryStore();
    if (typeof store === 'function') return store(name);
    if (name.includes('/') || name === '..' || name === '.') {
      throw new MmError('InvalidArgument', `file name ${JSON.stringify(name)} is not a plain name`);
    }
    return new FsStore(join(store.dir, name));
  }
}

/** The `pageCache` plugin spec for `createKernel({ plugins })`. */
export function pageCache(options: PageCacheOptions = {}): PluginSpec<PageCacheOptions> {
  return { name: 'pagecache', pluginClass: PageCachePlugin, options, optionsToken: PageCacheOptionsToken };
}
