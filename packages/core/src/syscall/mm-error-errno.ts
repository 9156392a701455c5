import { type ErrorCode, MmError } from '../errors.ts';

/** Which `MmError` codes of a VMAR operation a system call returns as which errno. */
export type ErrnoMap = Readonly<Partial<Record<ErrorCode, number>>>;

/**
 * The `-errno` a system call returns for `e`, an error a VMAR operation threw, when its
 * code is listed in `errnos`; any other error is a bug of the caller and is thrown again.
 * Called in the `catch` of the operation (a `try` at the call site: no closure per call).
 */
export function errnoOf(e: unknown, errnos: ErrnoMap): number {
  const errno = e instanceof MmError ? errnos[e.code] : undefined;
  if (errno === undefined) throw e;
  return -errno;
}
