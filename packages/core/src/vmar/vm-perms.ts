import { PROP_R, PROP_USER, PROP_W, PROP_X } from '../arch/page-prop.ts';

/**
 * Permissions of a mapping, as Asterinas's `VmPerms`: the access rights the process asked
 * for (READ, WRITE, EXEC) and the rights it may ever ask for (MAY_*). A mapping is valid
 * when every requested right has its MAY_ bit (`permsValid`).
 *
 * READ/WRITE/EXEC are kept exactly as requested (so `maps` shows `-w-` as Linux does);
 * what an access may do is derived: WRITE implies readable, as on Linux for x86_64 and
 * RISC-V.
 */
export const VM_READ = 1;
export const VM_WRITE = 2;
export const VM_EXEC = 4;
export const VM_MAY_READ = 8;
export const VM_MAY_WRITE = 16;
export const VM_MAY_EXEC = 32;
export const VM_ALL_PERMS = VM_READ | VM_WRITE | VM_EXEC;
export const VM_ALL_MAY_PERMS = VM_MAY_READ | VM_MAY_WRITE | VM_MAY_EXEC;
/** Distance from a right to its MAY_ bit. */
const MAY_SHIFT = 3;

/** Kinds of access a page fault or a user copy makes (same bits as the rights they need). */
export const ACCESS_READ = VM_READ;
export const ACCESS_WRITE = VM_WRITE;
export const ACCESS_EXEC = VM_EXEC;

/** Whether every requested right of `perms` has its MAY_ bit. */
export function permsValid(perms: number): boolean {
  return (perms & VM_ALL_PERMS & ~(perms >>> MAY_SHIFT)) === 0;
}

/** Whether a mapping with `perms` allows an access of kind `access` (WRITE implies READ). */
export function permsAllow(perms: number, access: number): boolean {
  const effective = perms & VM_WRITE ? perms | VM_READ : perms;
  return (effective & access) === access;
}

/**
 * The page property of a user page of a mapping with `perms`: USER, R if readable
 * (READ or WRITE), W, X. Accessed/dirty bits are the caller's to add.
 */
export function permsToProp(perms: number): number {
  let prop = PROP_USER;
  if (perms & (VM_READ | VM_WRITE)) prop |= PROP_R;
  if (perms & VM_WRITE) prop |= PROP_W;
  if (perms & VM_EXEC) prop |= PROP_X;
  return prop;
}

/** Whether a PTE property allows an access of kind `access`. */
export function propAllows(prop: number, access: number): boolean {
  if (access & ACCESS_WRITE && !(prop & PROP_W)) return false;
  if (access & ACCESS_READ && !(prop & PROP_R)) return false;
  if (access & ACCESS_EXEC && !(prop & PROP_X)) return false;
  return true;
}

/** `maps` strings by `(perms & VM_ALL_PERMS) * 2 + shared`. */
const PERMS_STRINGS: readonly string[] = Array.from(
  { length: 16 },
  (_, i) =>
    (i & (VM_READ << 1) ? 'r' : '-') +
    (i & (VM_WRITE << 1) ? 'w' : '-') +
    (i & (VM_EXEC << 1) ? 'x' : '-') +
    (i & 1 ? 's' : 'p'),
);

/** The `maps` permission string: `rwx` as requested plus `s` (shared) or `p` (private). */
export function formatPerms(perms: number, shared: boolean): string {
  return PERMS_STRINGS[((perms & VM_ALL_PERMS) << 1) | (shared ? 1 : 0)];
}
