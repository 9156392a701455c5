import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { MmError } from '@mmkit/core';

/** Bytes per page of every backing store (mmkit's base page size). */
export const STORE_PAGE_SIZE = 4096;

/**
 * Where a file's pages live when they are not in the page cache: the "disk" under a page
 * map (Akaros's `page_map_operations`: `readpage`, `writepage`).
 *
 * Contract: the store never caches on its own; `readPage` reads what the last `writePage`
 * and `setSize` left; bytes at or past `size` read as zeros. Page-sized buffers are passed
 * in, so a call allocates nothing. Failures are `MmError`s.
 */
export interface BackingStore {
  /** Size of the stored file in bytes. */
  readonly size: number;
  /** Fills `dst` (one page) with the bytes of page `index`, zeros past `size`. */
  readPage(index: number, dst: Uint8Array): void;
  /**
   * Optional: `readPage`, except that a page the store knows reads as all zeros (a hole of
   * a sparse file, or wholly past `size`) may be reported instead of copied: returns false
   * and leaves `dst` as it was; true when `dst` was filled. Counts as a read.
   */
  readPageSparse?(index: number, dst: Uint8Array): boolean;
  /** Stores the first `len` bytes of `src` as the start of page `index`, growing `size` if needed. */
  writePage(index: number, src: Uint8Array, len: number): void;
  /** Truncates or zero-extends the stored file to `size` bytes. */
  setSize(size: number): void;
  /** Releases what the store holds (the file descriptor); the store is unusable afterwards. */
  close(): void;
}

function checkPage(index: number, len: number): void {
  if (!(Number.isSafeInteger(index) && index >= 0 && len >= 0 && len <= STORE_PAGE_SIZE)) {
    throw new MmError('InvalidArgument', `bad page access: index ${index}, ${len} bytes`);
  }
}

function checkSize(size: number): void {
  if (!(Number.isSafeInteger(size) && size >= 0))
    throw new MmError('InvalidArgument', `bad file size ${size}`);
}

/**
 * A store in memory: one 4 KiB buffer per page that was ever written below `size`
 * (a sparse file; unwritten pages read as zeros). Counts its reads and writes, which
 * tests use to see what the page cache asked for.
 */
export class MemoryStore implements BackingStore {
  private readonly pages = new Map<number, Uint8Array>();
  private bytes = 0;
  /** Pages read and written since creation. */
  nrReads = 0;
  nrWrites = 0;

  constructor(size = 0) {
    this.setSize(size);
  }

  get size(): number {
    return this.bytes;
  }

  readPage(index: number, dst: Uint8Array): void {
    checkPage(index, dst.length);
    this.nrReads++;
    const data = this.pages.get(index);
    if (data === undefined) dst.fill(0);
    else dst.set(data);
  }

  readPageSparse(index: number, dst: Uint8Array): boolean {
    checkPage(index, dst.length);
    this.nrReads++;
    const data = this.pages.get(index);
    if (data === undefined) return false;
    dst.set(data);
    return true;
  }

  writePage(index: number, src: Uint8Array, len: number): void {
    checkPage(index, len);
    this.nrWrites++;
    let data = this.pages.get(index);
    if (data === undefined) {
      data = new Uint8Array(STORE_PAGE_SIZE);
      this.pages.set(index, data);
    }
    data.set(src.subarray(0, len));
    this.bytes = Math.max(this.bytes, index * STORE_PAGE_SIZE + len);
  }

  setSize(size: number): void {
    checkSize(size);
    const lastPage = Math.ceil(size / STORE_PAGE_SIZE);
    for (const index of this.pages.keys()) if (index >= lastPage) this.pages.delete(index);
    const tail = size % STORE_PAGE_SIZE;
    if (tail !== 0) this.pages.get(lastPage - 1)?.fill(0, tail);
    this.bytes = size;
  }

  close(): void {
    this.pages.clear();
  }
}

/**
 * A real file on disk, through `node:fs` (synchronous calls: a page-cache read or
 * writeback completes before the call returns). What the page cache writes back is in the
 * file afterwards. Opened read-write; created if missing unless `create` is false.
 */
export class FsStore implements BackingStore {
  private fd: number;
  private bytes: number;
  /** Pages read and written since creation. */
  nrReads = 0;
  nrWrites = 0;

  constructor(
    readonly path: string,
    options: { create?: boolean; truncate?: boolean } = {},
  ) {
    const create = options.create ?? true;
    try {
      if (options.truncate === true) this.fd = openSync(path, 'w+');
      else this.fd = openSync(path, create && !existsSync(path) ? 'w+' : 'r+');
    } catch (e) {
      throw new MmError('InvalidArgument', `cannot open ${path}: ${(e as Error).message}`);
    }
    this.bytes = fstatSync(this.fd).size;
  }

  get size(): number {
    return this.bytes;
  }

  readPage(index: number, dst: Uint8Array): void {
    checkPage(index, dst.length);
    this.nrReads++;
    let done = 0;
    const start = index * STORE_PAGE_SIZE;
    const want = Math.max(0, Math.min(dst.length, this.bytes - start));
    while (done < want) {
      const n = this.io(() => readSync(this.fd, dst, done, want - done, start + done));
      if (n === 0) break;
      done += n;
    }
    dst.fill(0, done);
  }

  readPageSparse(index: number, dst: Uint8Array): boolean {
    checkPage(index, dst.length);
    if (index * STORE_PAGE_SIZE >= this.bytes && this.fd >= 0) {
      this.nrReads++;
      return false;
    }
    this.readPage(index, dst);
    return true;
  }

  writePage(index: number, src: Uint8Array, len: number): void {
    checkPage(index, len);
    this.nrWrites++;
    const start = index * STORE_PAGE_SIZE;
    let done = 0;
    while (done < len) done += this.io(() => writeSync(this.fd, src, done, len - done, start + done));
    this.bytes = Math.max(this.bytes, start + len);
  }

  setSize(size: number): void {
    checkSize(size);
    this.io(() => {
      ftruncateSync(this.fd, size);
      return 0;
    });
    this.bytes = size;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private io(op: () => number): number {
    if (this.fd < 0) throw new MmError('BadFrameState', `${this.path} is closed`);
    try {
      return op();
    } catch (e) {
      throw new MmError('InvalidArgument', `I/O on ${this.path} failed: ${(e as Error).message}`);
    }
  }
}
