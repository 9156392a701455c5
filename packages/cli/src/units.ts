import { UsageError } from './archs.ts';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a size such as `256MiB`, `1G`, `4096`, `1.5GiB` into bytes, rounded down to
 * whole 4 KiB pages. Throws `UsageError` on anything else, or below one page.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new UsageError(
      `bad size '${text}': expected a number with an optional unit (e.g. 256MiB, 1GiB, 64M)`,
    );
  }
  const bytes = Math.floor((Number(m[1]) * unit) / 4096) * 4096;
  if (!(bytes >= 4096)) throw new UsageError(`bad size '${text}': at least one 4 KiB page is needed`);
  if (bytes > 2 ** 40) throw new UsageError(`bad size '${text}': at most 1 TiB`);
  return bytes;
}

/** Formats bytes with a binary unit (`256 MiB`). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** Parses a positive integer option (`--runs 5`). */
export function parsePositiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`bad ${what} '${text}': expected a positive integer`);
  return n;
}
