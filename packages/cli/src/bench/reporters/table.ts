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

function pad(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

/**
 * The terminal table: one line per workload × arch × metric, a column per layout (median,
 * then min..max) and per ratio (ratio of the medians, then its 95% bootstrap interval);
 * `noisy` marks a figure whose runs vary by more than 20%.
 */
export function renderTable(report: BenchReport): string {
  const { results, conditions } = report;
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
  out.push('', `linux: ${conditions.linux}`);
  out.push(
    `node ${conditions.node}, ${conditions.cpu} (${conditions.cpus} CPUs), ${conditions.runs} interleaved runs after ${conditions.warmup} warm-up, ${conditions.date}`,
  );
  return out.join('\n');
}
