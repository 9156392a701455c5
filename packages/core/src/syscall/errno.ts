/**
 * Linux errno values (asm-generic numbering, shared by x86_64 and RISC-V) and their
 * names. System calls return `-errno` on failure, as the kernel does.
 */
export const EPERM = 1;
export const ENOENT = 2;
export const EBADF = 9;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EEXIST = 17;
export const EFBIG = 27;
export const EINVAL = 22;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;

const NAMES: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EBADF]: 'EBADF',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EFAULT]: 'EFAULT',
  [EEXIST]: 'EEXIST',
  [EFBIG]: 'EFBIG',
  [EINVAL]: 'EINVAL',
  [EOVERFLOW]: 'EOVERFLOW',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
};

/** Whether a system call's return value is an error (`-errno`). */
export function isErr(ret: number): boolean {
  return ret < 0;
}

/** The name of the errno in a failed return value (`-12` → `ENOMEM`). */
export function errnoName(ret: number): string {
  return NAMES[-ret] ?? `E${-ret}`;
}
