import { MmError } from '../errors.ts';

/**
 * An unsigned 64-bit system-call argument: a number (exact below 2^53) or a bigint (any
 * 64-bit value, e.g. parsed from a trace). Negative integers are taken modulo 2^64, as a
 * register would hold them.
 *
 * The syscall layer never does arithmetic on raw arguments. It asks for facts that are
 * exact for every 64-bit value: `isPageAligned`, `pageAlignUp` (Linux's `PAGE_ALIGN`,
 * wrapping to 0 past 2^64 - page), and `u64ToNumber` for comparisons. After `pageAlignUp`
 * every value is a multiple of the page size below 2^64, which a double holds exactly, and
 * so is any sum of two of them (below 2^65): the checks that follow are exact in doubles.
 */
export type U64 = number | bigint;

const TWO_64 = 2 ** 64;
const MASK_64 = (1n << 64n) - 1n;

function toBig(x: U64): bigint {
  if (typeof x === 'bigint') return x & MASK_64;
  if (!Number.isInteger(x))
    throw new MmError('InvalidArgument', `system-call argument ${x} is not an integer`);
  return BigInt(x) & MASK_64;
}

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/** Whether a number argument is exact and needs no bigint. */
function isPlain(x: U64): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * `x` as a number when that is exact (a plain number, or a bigint in `[0, 2^53)`, as a
 * parsed trace gives most values), else -1: the helpers then do bigint arithmetic only for
 * values that need it. Comparing a bigint allocates nothing.
 */
function plainValue(x: U64): number {
  if (typeof x === 'number') return isPlain(x) ? x : -1;
  return x >= 0n && x <= MAX_SAFE_BIG ? Number(x) : -1;
}

/** The value as a double: exact below 2^53 and for page multiples, otherwise rounded (only for comparisons with small values). */
export function u64ToNumber(x: U64): number {
  const v = plainValue(x);
  return v >= 0 ? v : Number(toBig(x));
}

/**
 * `v mod page` for a safe integer `v >= 0` and a power-of-two `page`, exactly and without
 * `%`, which is a floating-point modulo call for values past 2^31 (user addresses).
 */
function pageOffset(v: number, page: number): number {
  return v - Math.floor(v / page) * page;
}

/** Whether `x` is a multiple of `page` (a power of two). */
export function isPageAligned(x: U64, page: number): boolean {
  const v = plainValue(x);
  return v >= 0 ? pageOffset(v, page) === 0 : (toBig(x) & BigInt(page - 1)) === 0n;
}

/** Linux's `PAGE_ALIGN(x)`: `x` rounded up to a page multiple, modulo 2^64 (so values in the last page wrap to 0). */
export function pageAlignUp(x: U64, page: number): number {
  const v = plainValue(x);
  if (v >= 0) return Math.ceil(v / page) * page;
  if (page !== bigPage) setBigPage(page);
  // Two bigint operations (a sum and a mask; the bigint constants made once per page size).
  return Number((toBig(x) + bigPageMinus1) & bigAlignMask);
}

/** The page size `bigPageMinus1` and `bigAlignMask` are for. */
let bigPage = 0;
/** `page - 1`, and the mask keeping the bits of a 64-bit value above its page offset. */
let bigPageMinus1 = 0n;
let bigAlignMask = 0n;

function setBigPage(page: number): void {
  bigPage = page;
  bigPageMinus1 = BigInt(page - 1);
  bigAlignMask = MASK_64 & ~bigPageMinus1;
}

/** `x` rounded down to a page multiple. */
export function pageAlignDown(x: U64, page: number): number {
  const v = plainValue(x);
  if (v >= 0) return v - pageOffset(v, page);
  return Number(toBig(x) & ~BigInt(page - 1));
}

/** 2^64, the modulus of address arithmetic: a sum of two page-aligned values wraps when it reaches it. */
export const U64_WRAP = TWO_64;
