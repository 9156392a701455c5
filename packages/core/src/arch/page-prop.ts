/**
 * Architecture-neutral page properties, packed in one small integer so that hot loops
 * pass them around without allocating.
 *
 * Layout (bit numbers are mmkit's own, not any architecture's):
 * - bits 0..2: R, W, X (`PageFlags` of OSTD);
 * - bits 3..4: ACCESSED, DIRTY;
 * - bits 5..6: USER, GLOBAL (`PrivilegedPageFlags`);
 * - bit 7: AVAIL1, which mmkit uses as OSTD's user table does: set = untracked physical
 *   memory (no reference count is taken for it), clear = tracked frame;
 * - bits 8..10: cache policy (`CACHE_*`).
 */

export const PROP_R = 1 << 0;
export const PROP_W = 1 << 1;
export const PROP_X = 1 << 2;
export const PROP_ACCESSED = 1 << 3;
export const PROP_DIRTY = 1 << 4;
export const PROP_USER = 1 << 5;
export const PROP_GLOBAL = 1 << 6;
/** Marks an untracked leaf (physical memory mapped without reference counting). */
export const PROP_AVAIL1 = 1 << 7;

export const PROP_RW = PROP_R | PROP_W;
export const PROP_RX = PROP_R | PROP_X;
export const PROP_RWX = PROP_R | PROP_W | PROP_X;
/** The R/W/X bits. */
export const PROP_PERMS = PROP_RWX;

export const CACHE_SHIFT = 8;
export const CACHE_MASK = 0b111 << CACHE_SHIFT;
export const CACHE_WRITEBACK = 0;
export const CACHE_WRITETHROUGH = 1;
export const CACHE_WRITE_COMBINING = 2;
export const CACHE_UNCACHEABLE = 3;
export const CACHE_WRITE_PROTECTED = 4;

/** Every bit a property may have. */
export const PROP_ALL_BITS = 0xff | CACHE_MASK;

export const CACHE_POLICY_NAMES = ['WB', 'WT', 'WC', 'UC', 'WP'] as const;

/** Returns the cache policy (`CACHE_*`) of a property. */
export function cacheOf(prop: number): number {
  return (prop & CACHE_MASK) >>> CACHE_SHIFT;
}

/** Returns `prop` with its cache policy replaced. */
export function withCache(prop: number, cache: number): number {
  return (prop & ~CACHE_MASK) | (cache << CACHE_SHIFT);
}

/** Renders a property as in QEMU's `info tlb`-style dumps, e.g. `rwx u g ad WB`. */
export function formatProp(prop: number): string {
  const perms = `${prop & PROP_R ? 'r' : '-'}${prop & PROP_W ? 'w' : '-'}${prop & PROP_X ? 'x' : '-'}`;
  const priv = `${prop & PROP_USER ? 'u' : '-'}${prop & PROP_GLOBAL ? 'g' : '-'}`;
  const ad = `${prop & PROP_ACCESSED ? 'a' : '-'}${prop & PROP_DIRTY ? 'd' : '-'}`;
  return `${perms} ${priv} ${ad} ${CACHE_POLICY_NAMES[cacheOf(prop)] ?? '??'}`;
}
