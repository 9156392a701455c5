import { scalingLayout } from '../runner.ts';
import { formatSi } from '../stats.ts';
import type { BenchReport, ResultRow } from '../types.ts';

/** Marks a noisy figure (runs spread over more than 20% of the median). */
export const NOISY_MARK = ' noisy';

function cell(r: ResultRow | undefined): string {
  if (!r) return '-';
  const mark = r.noisy ? NOISY_MARK : '';
  if (r.unit === 'ratio') return `${r.median.toFixed(2)}x (${r.min.toFixed(2)}..${r.max.toFixed(2)})${mark}`;
  return `${formatSi(r.median)} (${formatSi(r.min)}..${formatSi(r.max)})${mark}`;
}

/** Aligns the cells: the first `left` columns to the left, the others (figures) to the right. */
function pad(rows: string[][], left = 3): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '),
  );
}

/**
 * The terminal table: one line per workload × arch × metric, a column per layout (median,
 * then min..max) and per ratio (ratio of the medians, then its 95% bootstrap interval);
 * `noisy` marks a figure whose runs vary by more than 20%.
 */
export function renderTable(report: BenchReport): string {
  const { results, conditions } = report;
  if ((conditions.workers ?? []).length > 0) return [...workerTable(report), ...footer(report)].join('\n');
  const layouts = [...conditions.layouts];
  if (results.some((r) => r.layout === 'linux')) layouts.push('linux');
  const ratioNames = [...new Set(results.filter((r) => r.unit === 'ratio').map((r) => r.layout))];
  const keys: string[] = [];
  const byKey = new Map<string, Map<string, ResultRow>>();
  for (const r of results) {
    const key = `${r.workload}\0${r.arch}\0${r.metric}`;
    let m = byKey.get(key);
    if (!m) {
      m = new Map();
      byKey.set(key, m);
      keys.push(key);
    }
    m.set(r.layout, r);
  }
  // Linux rows carry the host's arch: show them beside every simulated arch.
  const linuxBy = new Map<string, ResultRow>();
  for (const r of results) if (r.layout === 'linux') linuxBy.set(`${r.workload}\0${r.metric}`, r);
  const rows: string[][] = [['workload', 'arch', 'metric', ...layouts, ...ratioNames]];
  for (const key of keys) {
    const m = byKey.get(key) as Map<string, ResultRow>;
    const [workload, arch, metric] = key.split('\0');
    const unit = [...m.values()].find((r) => r.unit !== 'ratio')?.unit ?? '';
    rows.push([
      workload,
      arch,
      `${metric} [${unit}]`,
      ...layouts.map((l) =>
        cell(m.get(l) ?? (l === 'linux' ? linuxBy.get(`${workload}\0${metric}`) : undefined)),
      ),
      ...ratioNames.map((n) => cell(m.get(n))),
    ]);
  }
  const out = pad(rows);
  out.splice(1, 0, '-'.repeat(out[0].length));
  return [...out, ...footer(report)].join('\n');
}

/**
 * The table of a `--workers` run: one line per workload × arch × metric × column (and per
 * ratio of two columns), a cell per worker count, then the scaling ratios (each count over
 * the smallest: ratio of the medians, its bootstrap interval).
 */
function workerTable(report: BenchReport): string[] {
  const { results, conditions } = report;
  const counts = conditions.workers;
  const base = counts[0];
  const cellAt = new Map<string, ResultRow>();
  const lines: string[] = [];
  const key = (r: ResultRow, layout: string, n: number | undefined) =>
    `${r.workload}\0${r.arch}\0${r.metric}\0${layout}\0${n}`;
  for (const r of results) {
    cellAt.set(key(r, r.layout, r.workers), r);
    if (r.layout.includes('@')) continue;
    const line = key(r, r.layout, undefined);
    if (!lines.includes(line)) lines.push(line);
  }
  const units = new Map<string, string>();
  for (const r of results) if (r.unit !== 'ratio') units.set(`${r.workload}\0${r.metric}`, r.unit);
  const scaled = counts.slice(1);
  const rows: string[][] = [
    [
      'workload',
      'arch',
      'metric',
      'column',
      ...counts.map((n) => `${n} worker${n === 1 ? '' : 's'}`),
      ...scaled.map((n) => `${n}/${base}`),
    ],
  ];
  for (const line of lines) {
    const [workload, arch, metric, layout] = line.split('\0');
    const probe = { workload, arch, metric } as ResultRow;
    rows.push([
      workload,
      arch,
      `${metric} [${units.get(`${workload}\0${metric}`) ?? ''}]`,
      layout,
      ...counts.map((n) => cell(cellAt.get(key(probe, layout, n)))),
      ...scaled.map((n) =>
        layout.includes('/') ? '' : cell(cellAt.get(key(probe, scalingLayout(layout, n, base), n))),
      ),
    ]);
  }
  const out = pad(rows, 4).map((l) => l.trimEnd());
  out.splice(1, 0, '-'.repeat(out[0].length));
  return out;
}

/** Unavailable workloads, failures, the noisy note and the conditions line. */
function footer(report: BenchReport): string[] {
  const { results, conditions } = report;
  const out: string[] = [];
  const na = Object.entries(conditions.unavailable);
  if (na.length > 0) {
    out.push('', 'not available:');
    for (const [name, why] of na) out.push(`  ${name}: ${why}`);
  }
  const failed = Object.entries(conditions.failures ?? {});
  if (failed.length > 0) {
    out.push('', 'FAILED:');
    for (const [job, why] of failed) out.push(`  ${job}: ${why}`);
  }
  if (results.some((r) => r.noisy))
    out.push('', 'noisy: runs spread over more than 20% of their median; rerun on a quieter machine');
  if ((conditions.with ?? []).length > 0) out.push('', `every column with: ${conditions.with?.join(', ')}`);
  out.push('', `linux: ${conditions.linux}`);
  out.push(
    `node ${conditions.node}, ${conditions.cpu} (${conditions.cpus} CPUs), ${conditions.runs} interleaved runs after ${conditions.warmup} warm-up, ${conditions.date}`,
  );
  return out;
}
