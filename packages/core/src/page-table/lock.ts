import type { FrameMetaStore } from '../frame/meta-store.ts';
import { SWITCH_LOCK, SWITCH_UNLOCK, switchPoint } from './switch-points.ts';

/**
 * Page-table node locks. A node's lock word is 0 when free and holds the id of the cursor
 * that owns it otherwise, so that debug mode can tell who holds a lock. When node metadata
 * lives on a `SharedArrayBuffer` shared by worker threads, the word is taken with
 * `Atomics.compareExchange`. A plain `ArrayBuffer` belongs to one thread, where a read,
 * check and write cannot be interleaved with another taker, so plain accesses do the same
 * there; they matter because every cursor takes and releases a lock per level (the locked
 * instructions cost about a third of creating and dropping a one-page cursor).
 */

/** The lock array seen last and whether it is shared (one kernel at a time is the norm). */
let lastLocks: Int32Array | null = null;
let lastShared = true;

/** Whether `locks` may be accessed by other threads, so that its words need `Atomics`. */
function isShared(locks: Int32Array): boolean {
  if (locks !== lastLocks) {
    lastShared = typeof SharedArrayBuffer !== 'undefined' && locks.buffer instanceof SharedArrayBuffer;
    lastLocks = locks;
  }
  return lastShared;
}

/** Tries to take the lock of `pfn` for `owner` (> 0); false if another owner holds it. */
export function tryLockNode(meta: FrameMetaStore, pfn: number, owner: number): boolean {
  switchPoint(SWITCH_LOCK, pfn, 0); // the explorer may switch CPUs here (no-op otherwise)
  const locks = meta.lockArray;
  const i = meta.lockIndex(pfn);
  if (isShared(locks)) return Atomics.compareExchange(locks, i, 0, owner) === 0;
  if (locks[i] !== 0) return false;
  locks[i] = owner;
  return true;
}

/** Releases the lock of `pfn`. The caller must hold it. */
export function unlockNode(meta: FrameMetaStore, pfn: number): void {
  switchPoint(SWITCH_UNLOCK, pfn, 0); // the explorer may switch CPUs here (no-op otherwise)
  const locks = meta.lockArray;
  const i = meta.lockIndex(pfn);
  if (isShared(locks)) Atomics.store(locks, i, 0);
  else locks[i] = 0;
}

/** The owner holding the lock of `pfn`, 0 if none. */
export function lockOwner(meta: FrameMetaStore, pfn: number): number {
  const locks = meta.lockArray;
  const i = meta.lockIndex(pfn);
  return isShared(locks) ? Atomics.load(locks, i) : locks[i];
}
