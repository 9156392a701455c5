import { MmError } from '../errors.ts';

/**
 * Page-table lock protocols: how a cursor makes cursors over overlapping ranges of one page
 * table run one after the other (and lets others run side by side). The protocol is a kernel
 * service (`LockProtocolToken`); every cursor of the kernel follows it. All three keep the
 * same node lock words (`lock.ts`) and the same navigation (the guard node is the lowest
 * node covering the cursor's range); they differ in which words they take:
 *
 * - `hoh` (seed `000`, OSTD 2024): lock the root, then hand over hand down to the guard
 *   node (lock the child, release the parent); while working, hold the locks from the guard
 *   down to the current node: going down locks the child, going up releases the node left.
 * - `subtree` (Asterinas HEAD, `locking.rs`): walk down without locks to the guard node,
 *   lock it, and start again from the root if it turned `stray` (detached under us); then
 *   lock every existing node below it that intersects the range (a depth-first walk);
 *   nodes made while the cursor lives are locked at creation. Everything is released at
 *   drop, in reverse order, the guard last.
 * - `global`: one lock per page table (the root's lock word), as Linux's mmap lock: any two
 *   cursors of one table are serialized, whatever their ranges.
 *
 * Debug mode checks, on every PTE write, that the cursor holds the lock that covers the node:
 * the node's own for `hoh` and `subtree`, the root's for `global`.
 */
export const LOCK_PROTOCOLS = ['hoh', 'subtree', 'global'] as const;
export type LockProtocolName = (typeof LOCK_PROTOCOLS)[number];

/** Numbers the cursor switches on (a small integer compare on its paths). */
export const LOCK_HOH = 0;
export const LOCK_SUBTREE = 1;
export const LOCK_GLOBAL = 2;

/** The lock protocol service: its name and the number cursors switch on. */
export interface LockProtocol {
  readonly name: LockProtocolName;
  readonly kind: typeof LOCK_HOH | typeof LOCK_SUBTREE | typeof LOCK_GLOBAL;
}

/** The lock protocol named `name`; an unknown name is an `InvalidConfig` error naming it. */
export function lockProtocol(name: string): LockProtocol {
  switch (name) {
    case 'hoh':
      return { name, kind: LOCK_HOH };
    case 'subtree':
      return { name, kind: LOCK_SUBTREE };
    case 'global':
      return { name, kind: LOCK_GLOBAL };
    default:
      throw new MmError(
        'InvalidConfig',
        `unknown lock protocol '${name}' (known: ${LOCK_PROTOCOLS.join(', ')})`,
      );
  }
}
