import { seededRandom } from '../run/workloads/workload.ts';

/** Median, min and max of a sample (plain counters; no allocation beyond one sort copy). */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** The runs vary by more than `NOISE_THRESHOLD` of their median (see `isNoisy`). */
  noisy: boolean;
}

/** Runs whose spread (max - min) exceeds this fraction of their median make a result noisy. */
export const NOISE_THRESHOLD = 0.2;

/** Whether a sample's spread exceeds `NOISE_THRESHOLD` of its median. */
export function isNoisy(s: { median: number; min: number; max: number }): boolean {
  if (!(Number.isFinite(s.median) && Number.isFinite(s.min) && Number.isFinite(s.max))) return false;
  return s.max - s.min > NOISE_THRESHOLD * Math.abs(s.median);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(values: readonly number[]): Summary {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, noisy: false };
  const m = median(values);
  return { median: m, min, max, noisy: isNoisy({ median: m, min, max }) };
}

/**
 * Ratios of two samples taken in the same bench run, pair by pair: run i of `a` over run i
 * of `b` (the shorter sample bounds the pairs; with interleaved runs, pair i ran back to
 * back). Returns the per-pair ratios.
 */
export function pairRatios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (b[i] !== 0) out.push(a[i] / b[i]);
  return out;
}

/** Formats a number with 3 significant digits and an SI suffix (`52.3 M`). */
export function formatSi(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  const [div, suf] = a >= 1e9 ? [1e9, ' G'] : a >= 1e6 ? [1e6, ' M'] : a >= 1e3 ? [1e3, ' k'] : [1, ''];
  const x = v / div;
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return `${x.toFixed(digits)}${suf}`;
}

/** Resamples of `ratioInterval`'s bootstrap. */
export const BOOTSTRAP_RESAMPLES = 2000;

/** A sample drawn with replacement from `values` (into `out`). */
function resample(values: readonly number[], random: () => number, out: number[]): number[] {
  for (let i = 0; i < values.length; i++) out[i] = values[Math.floor(random() * values.length)];
  return out;
}

/**
 * The ratio of two samples as `median(a) / median(b)`, with a 95% percentile bootstrap
 * interval (each sample resampled with replacement `BOOTSTRAP_RESAMPLES` times, seeded so
 * that a report is reproducible from its runs). The ratio therefore never contradicts the
 * medians beside it. NaN when a sample is empty or `b`'s median is 0.
 */
export function ratioInterval(
  a: readonly number[],
  b: readonly number[],
): { ratio: number; lo: number; hi: number } {
  const mb = median(b);
  if (a.length === 0 || b.length === 0 || mb === 0)
    return { ratio: Number.NaN, lo: Number.NaN, hi: Number.NaN };
  const random = seededRandom(0x5eed);
  const ratios: number[] = [];
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < BOOTSTRAP_RESAMPLES; i++) {
    const d = median(resample(b, random, rb));
    if (d !== 0) ratios.push(median(resample(a, random, ra)) / d);
  }
  const ratio = median(a) / mb;
  if (ratios.length === 0) return { ratio, lo: ratio, hi: ratio };
  ratios.sort((x, y) => x - y);
  const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.floor(q * ratios.length))];
  return { ratio, lo: at(0.025), hi: at(0.975) };
}
