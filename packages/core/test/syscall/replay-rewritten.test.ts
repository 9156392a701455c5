import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { replayLines } from '@mmkit/core';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../support/configs.ts';

/**
 * The Linux-recorded fixture traces written the way other JSON tools may write the same
 * lines: keys in another order, spaces and tabs between tokens, characters of strings as
 * `\uXXXX` escapes, a flag named twice. The meaning is unchanged, so the replay must give
 * Linux's results byte for byte (the recorder's `\u` reading and repeated flags have their
 * own tests in the CLI package).
 */

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

function fixtureBases(): string[] {
  const pick = (dir: string, prefix: RegExp) =>
    readdirSync(join(FIXTURES, dir))
      .filter((f) => f.endsWith('.trace.jsonl') && prefix.test(f))
      .map((f) => join(FIXTURES, dir, f.slice(0, -'.trace.jsonl'.length)));
  return [...pick('traces', /^(anon|fork)-/), ...pick('traces-nofile', /./)].sort();
}

/** A seeded generator (the LCG of glibc's `rand_r`), so a failure replays. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 1) / 2 ** 31;
  };
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

/** `value` as JSON text with the liberties above, drawn from `rand`. */
function rewrite(value: Json, rand: () => number): string {
  const space = () => ['', '', ' ', '  ', '\t'][Math.floor(rand() * 5)];
  if (typeof value === 'string') {
    let out = '"';
    for (const ch of value) {
      if (rand() < 0.15) out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
      else out += JSON.stringify(ch).slice(1, -1);
    }
    return `${out}"`;
  }
  if (Array.isArray(value))
    return `[${space()}${value.map((v) => rewrite(v, rand)).join(`,${space()}`)}${space()}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [keys[i], keys[j]] = [keys[j], keys[i]];
    }
    const fields = keys.map((k) => `${rewrite(k, rand)}${space()}:${space()}${rewrite(value[k], rand)}`);
    return `{${space()}${fields.join(`,${space()}`)}${space()}}`;
  }
  return JSON.stringify(value);
}

function rewriteTrace(lines: string[], seed: number): { lines: string[]; repeatedFlags: number } {
  const rand = lcg(seed);
  let repeatedFlags = 0;
  let flagLines = 0;
  const out = lines.map((line, i) => {
    if (i === 0 || line === '') return line;
    const op = JSON.parse(line) as { [k: string]: Json };
    const flags = op.flags;
    // Every other flag list gets one of its names again.
    if (Array.isArray(flags) && flags.length > 0 && flagLines++ % 2 === 0) {
      op.flags = [...flags, flags[Math.floor(rand() * flags.length)]];
      repeatedFlags++;
    }
    return rewrite(op, rand);
  });
  return { lines: out, repeatedFlags };
}

describe('replaying Linux-recorded traces written differently', () => {
  const bases = fixtureBases();

  it('covers every exact fixture', () => {
    expect(bases.length).toBeGreaterThan(20);
  });

  it.each(bases.map((b, i) => [b.split('/').pop()!, b, i]))(
    '%s gives the same results with shuffled keys, spaces, \\u escapes and repeated flags',
    (_, base, seed) => {
      const original = readFileSync(`${base}.trace.jsonl`, 'utf8').split('\n');
      const { lines, repeatedFlags } = rewriteTrace(original, 1000 + seed);
      expect(lines.slice(1).some((l, i) => l !== original[i + 1])).toBe(true);
      if (original.some((l) => l.includes('"flags"'))) expect(repeatedFlags).toBeGreaterThan(0);
      const expected = readFileSync(`${base}.expected.jsonl`, 'utf8').trimEnd().split('\n');
      expect([...replayLines(lines, { arch: ARCHS[0].arch, memory: 32 << 20 })]).toEqual(expected);
    },
  );
});
