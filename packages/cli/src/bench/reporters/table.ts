import { formatSi } from '../stats.ts';
import type { BenchReport, ResultRow } from '../types.ts';

function cell(r: ResultRow | undefined): string {
  if (!r) return '-';
  if (r.unit === 'ratio') return `${r.median.toFixed(2)}x`;
  return `${formatSi(r.median)} (${formatSi(r.min)}..${formatSi(r.max)})`;
}

function pad(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

/**
 * The terminal table: one line per workload × arch × metric, a column per layout (median,
 * then min..max) and per ratio (medians of the run-by-run ratios).
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
  out.push('', `linux: ${conditions.linux}`);
  out.push(
    `node ${conditions.node}, ${conditions.cpu} (${conditions.cpus} CPUs), ${conditions.runs} runs after ${conditions.warmup} warm-up, ${conditions.date}`,
  );
  return out.join('\n');
}
