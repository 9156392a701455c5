import type { FrameMetaStore } from '../frame/meta-store.ts';
import { SWITCH_LOCK, SWITCH_UNLOCK, switchPoint } from './switch-points.ts';

/**
 * Page-table node locks. A node's lock word is 0 when free and holds the id of the cursor
 * that owns it otherwise, so that debug mode can tell who holds a lock. When other threads'
 * views may reach the lock words (SMP mode: a kernel on shared memory that handed out its
 * state, or a view attached to one; see `Kernel.smp`), a word is taken with
 * `Atomics.compareExchange` and released with `Atomics.store`. Otherwise (a private
 * `ArrayBuffer`, or shared memory with one view: UP mode) one thread alone reads and writes
 * them, where a read, check and write cannot be interleaved with another taker, so plain
 * accesses do the same on the same words; they matter because every cursor takes and
 * releases a lock per level (an `Atomics` call is a builtin call of 11-13 ns on Node 20,
 * not an inlined instruction).
 */

/** Lock arrays in SMP mode (`useAtomicLocks`); every other array takes plain accesses. */
const atomicLocks = new WeakSet<Int32Array>();
/** The lock array seen last and whether it is in SMP mode (one kernel at a time is the norm). */
let lastLocks: Int32Array | null = null;
let lastAtomic = false;

/** Whether the words of `locks` need `Atomics` (SMP mode). */
function isAtomic(locks: Int32Array): boolean {
  if (locks !== lastLocks) {
    lastAtomic = atomicLocks.has(locks);
    lastLocks = locks;
  }
  return lastAtomic;
}

/**
 * Puts the lock words of `locks` (on a `SharedArrayBuffer`) in SMP mode for good: from now
 * on other threads may take them, so every access is an `Atomics` one. Words taken before
 * with plain stores keep their owners (the same values on the same words).
 */
export function useAtomicLocks(locks: Int32Array): void {
  atomicLocks.add(locks);
  lastLocks = null;
}

/** Tries to take the lock of `pfn` for `owner` (> 0); false if another owner holds it. */
export function tryLockNode(meta: FrameMetaStore, pfn: number, owner: number): boolean {
  switchPoint(SWITCH_LOCK, pfn, 0); // the explorer may switch CPUs here (no-op otherwise)
  const locks = meta.lockArray;
  const i = meta.lockIndex(pfn);
  if (isAtomic(locks)) return Atomics.compareExchange(locks, i, 0, owner) === 0;
  if (locks[i] !== 0) return false;
  locks[i] = owner;
  return true;
}

/** Releases the lock of `pfn`. The caller must hold it. */
export function unlockNode(meta: FrameMetaStore, pfn: number): void {
  switchPoint(SWITCH_UNLOCK, pfn, 0); // the explorer may switch CPUs here (no-op otherwise)
  const locks = meta.lockArray;
  const i = meta.lockIndex(pfn);
  if (isAtomic(locks)) Atomics.store(locks, i, 0);
  else locks[i] = 0;
}

/**
 * Releases the lock of `pfn` if `owner` still holds it, and says whether it did: for a lock
 * taken on a frame that may have been freed and allocated again meanwhile (whose new owner's
 * allocation or lock may have replaced the word), which must not release anyone else's.
 */
export function unlockIfOwner(meta: FrameMetaStore, pfn: number, owner: number): boolean {
  switchPoint(SWITCH_UNLOCK, pfn, 0); // the explorer may switch CPUs here (no-op otherwise)
  const locks = meta.lockArray;
  const i = meta.lockIndex(pfn);
  if (isAtomic(locks)) return Atomics.compareExchange(locks, i, owner, 0) === owner;
  if (locks[i] !== owner) return false;
  locks[i] = 0;
  return true;
}

/** The owner holding the lock of `pfn`, 0 if none. */
export function lockOwner(meta: FrameMetaStore, pfn: number): number {
  const locks = meta.lockArray;
  const i = meta.lockIndex(pfn);
  return isAtomic(locks) ? Atomics.load(locks, i) : locks[i];
}
