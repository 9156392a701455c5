import { type Kernel, MmError, VMA_LOCKED, type Vmar, type Vmo } from '@mmkit/core';
import type { BackingStore } from './backing-store.ts';
import { PageMap } from './page-map.ts';

/**
 * A file-backed VMO: core's `Vmo` over a file's page map. Page faults commit pages through
 * `pm_load_page` (a miss reads the store); `nrPages` follows the file size, so an access to
 * a page wholly past the end of the file is a SIGBUS. Buffered I/O (`pread`, `pwrite`) goes
 * through the same cached pages, so mappings see it at once.
 *
 * Lifetime: `nrRefs` counts the mappings (core's rule: one reference per mapping); the
 * cached pages belong to the file, not to its mappings, and stay when the last mapping
 * goes. `unlink` marks the file gone: its pages are dropped when it is not mapped any
 * more. The reverse map follows the VMAR through `onMap` / `onUnmap`.
 */
export class FileVmo implements Vmo {
  readonly pm: PageMap;
  private refs = 0;
  private unlinked = false;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    readonly store: BackingStore,
  ) {
    this.pm = new PageMap(kernel, store, name);
  }

  get nrPages(): number {
    return this.pm.nrFilePages;
  }

  get nrRefs(): number {
    return this.refs;
  }

  /** File size in bytes. */
  get size(): number {
    return this.pm.size;
  }

  commitPage(index: number): number {
    if (index >= this.pm.nrFilePages) return -1;
    const s = this.pm.loadPage(index);
    const pfn = this.pm.pfnOf(s);
    // The PTE the caller writes holds its own frame reference; the map keeps the page.
    this.pm.putPage(s);
    return pfn;
  }

  pageAt(index: number): number {
    return this.pm.pfnAt(index);
  }

  acquire(): void {
    if (this.unlinked && this.refs === 0) throw new MmError('BadFrameState', `${this.name} was deleted`);
    this.refs++;
  }

  release(): void {
    if (this.refs === 0) throw new MmError('BadFrameState', `releasing an unmapped file ${this.name}`);
    if (--this.refs === 0 && this.unlinked) this.dropAll();
  }

  /** A mapping of this file entered `vmar` (joins the reverse map). */
  onMap(vmar: Vmar, m: number): void {
    this.pm.addVmr(vmar, m);
  }

  /** A mapping of this file left `vmar`. */
  onUnmap(vmar: Vmar, m: number): void {
    this.pm.removeVmr(vmar, m);
  }

  /** A dirty PTE of page `index` was unmapped: the page is dirty if the PTE mapped it (not a private copy). */
  pageDirtied(index: number, pfn: number): void {
    this.pm.takeDirty(index, pfn);
  }

  /** Writes back the dirty pages of `[index, index + nrPages)` (msync of a shared mapping). */
  writeback(index: number, nrPages: number): void {
    this.pm.writeback(index, nrPages);
  }

  /**
   * Pins the mapping of `vmar` containing `vaddr` by locking it (`VM_LOCKED`, as mlock of
   * its whole range would, without populating): removal leaves its pages.
   */
  pin(vmar: Vmar, vaddr: number): void {
    const m = vmar.findMapping(vaddr);
    if (m < 0 || vmar.maps.vmo(m) !== this)
      throw new MmError('NotMapped', `0x${vaddr.toString(16)} does not map ${this.name}`);
    vmar.setFlags(vmar.maps.start(m), vmar.maps.end(m), VMA_LOCKED, 0);
  }

  // ---- buffered I/O ----

  /** `pread`: the bytes of `[offset, offset + len)` that exist (short past the end of the file). */
  pread(offset: number, len: number): Uint8Array {
    checkRange(offset, len);
    const size = this.pm.size;
    const n = Math.max(0, Math.min(len, size - offset));
    const out = new Uint8Array(n);
    const page = this.kernel.consts.basePageSize;
    const memory = this.kernel.memory;
    let done = 0;
    while (done < n) {
      const at = offset + done;
      const index = Math.floor(at / page);
      const inPage = at - index * page;
      const chunk = Math.min(page - inPage, n - done);
      const s = this.pm.loadPage(index);
      out.set(memory.read(this.pm.pfnOf(s), inPage, chunk), done);
      this.pm.putPage(s);
      done += chunk;
    }
    return out;
  }

  /**
   * `pwrite`: copies `data` into the cached pages at `offset` and marks them dirty; a
   * write past the end of the file grows it (the gap reads as zeros).
   */
  pwrite(offset: number, data: Uint8Array): void {
    checkRange(offset, data.length);
    const end = offset + data.length;
    if (end > this.pm.size) this.pm.resize(end);
    const page = this.kernel.consts.basePageSize;
    const memory = this.kernel.memory;
    let done = 0;
    while (done < data.length) {
      const at = offset + done;
      const index = Math.floor(at / page);
      const inPage = at - index * page;
      const chunk = Math.min(page - inPage, data.length - done);
      const s = this.pm.loadPage(index);
      memory.write(this.pm.pfnOf(s), inPage, data.subarray(done, done + chunk));
      this.pm.markDirty(s);
      this.pm.putPage(s);
      done += chunk;
    }
  }

  /**
   * `MADV_REMOVE` of a shared mapping (`fallocate(PUNCH_HOLE)`): file pages `[index, index +
   * nrPages)` (clipped to the file) are unmapped everywhere and read zero from then on,
   * through the cache and the store; the size does not change. Private copies that private
   * mappings made of them keep their data (Linux unmaps without `even_cows` here).
   */
  punchHole(index: number, nrPages: number): void {
    const end = Math.min(index + nrPages, this.pm.nrFilePages);
    if (end <= index) return;
    this.pm.zapRange(index, end, false);
    const memory = this.kernel.memory;
    for (let i = index; i < end; i++) {
      const s = this.pm.loadPage(i);
      memory.zeroFrame(this.pm.pfnOf(s));
      this.pm.markDirty(s);
      this.pm.putPage(s);
    }
  }

  /** `ftruncate`: see `PageMap.resize`. */
  truncate(size: number): void {
    this.pm.resize(size);
  }

  /** Writes back the dirty pages of the byte range (msync, fsync); returns the pages written. */
  sync(offset = 0, len = this.pm.size): number {
    checkRange(offset, len);
    const page = this.kernel.consts.basePageSize;
    const first = Math.floor(offset / page);
    return this.pm.writeback(first, Math.ceil((offset + len) / page) - first);
  }

  /**
   * `posix_fadvise(POSIX_FADV_DONTNEED)` over the byte range (`len` > 0): the pages wholly
   * inside it go through `removeContig`, as Linux picks them (the start rounds up, the end
   * down unless the range ends at the end of the file). Returns the pages removed.
   */
  evict(offset: number, len: number): number {
    checkRange(offset, len);
    const page = this.kernel.consts.basePageSize;
    const first = Math.ceil(offset / page);
    const endByte = offset + len;
    const end = endByte === this.pm.size ? Math.ceil(endByte / page) : Math.floor(endByte / page);
    return end > first ? this.pm.removeContig(first, end - first) : 0;
  }

  /** The file is deleted: its pages go now, or when its last mapping does. */
  unlink(): void {
    this.unlinked = true;
    if (this.refs === 0) this.dropAll();
  }

  private dropAll(): void {
    this.pm.destroy();
    this.store.close();
  }
}

function checkRange(offset: number, len: number): void {
  if (!(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(len) && len >= 0)) {
    throw new MmError('InvalidArgument', `bad file range ${offset} + ${len}`);
  }
}
