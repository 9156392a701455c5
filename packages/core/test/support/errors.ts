import { MmError } from '@mmkit/core';

/**
 * The `MmError` code `fn` throws, or undefined if it returns; any other exception is
 * rethrown (so a crash never passes for a typed error).
 */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof MmError) return e.code;
    throw e;
  }
  return undefined;
}
