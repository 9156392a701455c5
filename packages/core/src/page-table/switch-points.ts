/**
 * Switch points of the page-table lock protocol, for the interleaving explorer
 * (`mmkit explore`). The cursor, the node locks and node allocation call `switchPoint`
 * just before each step another CPU could observe or race with: taking or releasing a node
 * lock, reading a PTE on the way down, writing a PTE, allocating a node, and freeing one
 * (its drop hook). Outside the explorer the probe is a no-op bound once per thread; the
 * explorer installs one per simulated CPU (`setSwitchProbe`, in that CPU's worker thread)
 * that hands the turn back to its scheduler, which checks the invariants while every CPU is
 * paused and picks the CPU to run next.
 *
 * A probe is called where the state it exposes is consistent: a PTE write and the node's
 * `nrChildren` update happen together after the probe, never split by another probe.
 */

export const SWITCH_LOCK = 0;
export const SWITCH_UNLOCK = 1;
export const SWITCH_PTE_READ = 2;
export const SWITCH_PTE_WRITE = 3;
export const SWITCH_ALLOC = 4;
export const SWITCH_FREE = 5;

/** Names of the switch points, indexed by `SWITCH_*`. */
export const SWITCH_POINT_NAMES = ['lock', 'unlock', 'pte-read', 'pte-write', 'alloc', 'free'] as const;

/**
 * A probe: `point` is a `SWITCH_*`, `pfn` the node it concerns and `va` the address the
 * step is for (the slot's address for PTE reads and writes, 0 where none applies).
 */
export type SwitchProbe = (point: number, pfn: number, va: number) => void;

function noProbe(_point: number, _pfn: number, _va: number): void {}

/** The probe of this thread (a module binding: each worker thread has its own). */
export let switchPoint: SwitchProbe = noProbe;

/** Installs `probe` for this thread (`null`: back to the no-op). */
export function setSwitchProbe(probe: SwitchProbe | null): void {
  switchPoint = probe ?? noProbe;
}

/**
 * Planted protocol bugs (fault injection for the explorer's own tests; all off unless an
 * explorer CPU turns one on in its thread). Each disables one step the protocol needs:
 * - `skipStrayCheck`: a `subtree` cursor does not check, after locking the guard node it
 *   found without locks, whether that node was detached meanwhile;
 * - `recycleWithoutStray`: the `recycle` plugin detaches and frees an empty node without
 *   marking it `stray`;
 * - `linkBeforeLock`: a `subtree` cursor links a node it made into its parent before
 *   locking it (so a lock-free walker can take the new node first);
 * - `freeAtOnce`: under `subtree` the `recycle` plugin frees a node it detached at once
 *   instead of retiring it for a grace period (`NodeReclaim`), so its frame can be
 *   allocated again while a lock-free walker still holds its address.
 */
export const plantedBugs = {
  skipStrayCheck: false,
  recycleWithoutStray: false,
  linkBeforeLock: false,
  freeAtOnce: false,
};
