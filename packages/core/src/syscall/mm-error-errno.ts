import { type ErrorCode, MmError } from '../errors.ts';

/**
 * Runs a VMAR operation and turns the `MmError` codes listed in `errnos` into `-errno`;
 * returns `fallback` on success. Any other error is a bug of the caller and propagates.
 */
export function withErrno(
  fallback: number,
  errnos: Partial<Record<ErrorCode, number>>,
  op: () => void,
): number {
  try {
    op();
    return fallback;
  } catch (e) {
    const errno = e instanceof MmError ? errnos[e.code] : undefined;
    if (errno === undefined) throw e;
    return -errno;
  }
}
