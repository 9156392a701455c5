import { UsageError } from './archs.ts';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Parses a byte size such as `4096`, `256MiB`, `1GiB`, `16g` (binary units); `what` names the field in errors. */
export function parseSize(text: string | number, what: string): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text > 0) return text;
    throw new UsageError(`${what}: expected a positive whole number of bytes, got ${text}`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new UsageError(`${what}: expected a size like 4096, 256MiB or 1GiB, got '${text}'`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes))
    throw new UsageError(`${what}: size '${text}' is out of range`);
  return bytes;
}

/** Formats bytes with a binary unit: `1 GiB`, `512 KiB`, `3.5 MiB`. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}
