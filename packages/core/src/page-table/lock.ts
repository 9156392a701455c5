import type { FrameMetaStore } from '../frame/meta-store.ts';

/**
 * Page-table node locks. A node's lock word is 0 when free and holds the id of the cursor
 * that owns it otherwise, so that debug mode can tell who holds a lock. The word is taken
 * with `Atomics.compareExchange`, so the same code stays correct when node metadata lives
 * on a `SharedArrayBuffer` shared by worker threads.
 */

/** Tries to take the lock of `pfn` for `owner` (> 0); false if another owner holds it. */
export function tryLockNode(meta: FrameMetaStore, pfn: number, owner: number): boolean {
  return Atomics.compareExchange(meta.lockArray, meta.lockIndex(pfn), 0, owner) === 0;
}

/** Releases the lock of `pfn`. The caller must hold it. */
export function unlockNode(meta: FrameMetaStore, pfn: number): void {
  Atomics.store(meta.lockArray, meta.lockIndex(pfn), 0);
}

/** The owner holding the lock of `pfn`, 0 if none. */
export function lockOwner(meta: FrameMetaStore, pfn: number): number {
  return Atomics.load(meta.lockArray, meta.lockIndex(pfn));
}
