/**
 * What a `CursorBusy` retry costs in its error alone: ns per throw and catch of an `MmError`
 * through a few frames (as a cursor's lock attempt throws it up to the caller's retry loop),
 * for `CursorBusy` (which captures no stack trace) and for `InvalidArgument` (which does, as
 * every `MmError` did before), medians of `rounds` rounds interleaved so that a change of
 * load hits both alike. For docs/PARALLELISM.md ("Benchmarks").
 * Usage: `node --import tsx packages/cli/src/bench/busy-throw.ts [rounds]`.
 */
import { type ErrorCode, fail, MmError } from '@mmkit/core';

const PER_ROUND = 20_000;
const rounds = Number(process.argv[2] ?? 31);

/** A lock attempt that fails, a few frames below the retry loop. */
function lockNode(code: ErrorCode, node: number, level: number): never {
  return fail(code, `page-table node ${node} (level ${level}) is locked by another cursor`);
}
function descend(code: ErrorCode, node: number): void {
  for (let level = 4; level > 0; level--) if (level === 2) lockNode(code, node, level);
}
function newCursor(code: ErrorCode, node: number): void {
  descend(code, node);
}

/** ns per throw and catch of `code`. */
function round(code: ErrorCode): number {
  let caught = 0;
  const t0 = performance.now();
  for (let i = 0; i < PER_ROUND; i++) {
    try {
      newCursor(code, i);
    } catch (e) {
      if (e instanceof MmError && e.code === code) caught++;
    }
  }
  const ns = ((performance.now() - t0) * 1e6) / PER_ROUND;
  if (caught !== PER_ROUND) throw new Error(`caught ${caught} of ${PER_ROUND}`);
  return ns;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const busy: number[] = [];
const traced: number[] = [];
for (let r = 0; r < rounds; r++) {
  busy.push(round('CursorBusy'));
  traced.push(round('InvalidArgument'));
}
console.log(`ns per throw and catch, median of ${rounds} rounds of ${PER_ROUND}:`);
console.log(`CursorBusy (no stack trace):     ${median(busy).toFixed(0)}`);
console.log(`InvalidArgument (stack trace):   ${median(traced).toFixed(0)}`);
