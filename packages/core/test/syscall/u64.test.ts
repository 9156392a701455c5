import { describe, expect, it } from 'vitest';
import { pageAlignUp } from '../../src/syscall/u64.ts';

const MASK_64 = (1n << 64n) - 1n;

/** Linux's `PAGE_ALIGN` on a 64-bit register, in bigint arithmetic. */
function reference(x: bigint, page: number): number {
  const p = BigInt(page);
  return Number(((((x & MASK_64) + p - 1n) / p) * p) & MASK_64);
}

describe('pageAlignUp', () => {
  const values = [
    0n,
    1n,
    4095n,
    4096n,
    (1n << 53n) - 1n,
    1n << 53n,
    (1n << 53n) + 1n,
    (1n << 63n) - 4096n,
    (1n << 63n) - 4095n,
    (1n << 63n) + 1n,
    MASK_64 - 8191n,
    MASK_64 - 4095n,
    MASK_64 - 4094n,
    MASK_64,
    -1n,
    -4096n,
  ];

  it('rounds up modulo 2^64 for every page size, bigint and number arguments alike', () => {
    // Page sizes alternate: the bigint constants kept for one page size must not leak into another.
    for (const page of [4096, 16384, 4096, 65536]) {
      for (const x of values) {
        expect(pageAlignUp(x, page)).toBe(reference(x, page));
        if (x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER))
          expect(pageAlignUp(Number(x), page)).toBe(reference(x, page));
      }
      expect(pageAlignUp(-1, page)).toBe(0);
    }
  });
});
