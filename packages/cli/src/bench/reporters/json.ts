import { writeFileSync } from 'node:fs';
import type { BenchReport, ResultRow } from '../types.ts';

const ROW_KEYS = [
  'workload',
  'layout',
  'arch',
  'metric',
  'unit',
  'median',
  'min',
  'max',
  'runs',
  'noisy',
  'workers',
] as const;

/**
 * The JSON report: exactly `{"conditions":{…},"results":[{workload, layout, arch, metric, unit,
 * median, min, max, runs, noisy, workers}]}` (`workers` null unless the row ran on workers).
 */
export function toJson(report: BenchReport): string {
  const results = report.results.map((r) => {
    const o: Record<string, unknown> = {};
    for (const k of ROW_KEYS) o[k] = r[k] ?? null;
    return o as unknown as ResultRow;
  });
  return `${JSON.stringify({ conditions: report.conditions, results }, finite, 2)}\n`;
}

/** JSON has no Infinity/NaN: they become null. */
function finite(_key: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

export function writeJson(path: string, report: BenchReport): void {
  writeFileSync(path, toJson(report));
}

/** Checks that a parsed object follows the schema; returns the problems found. */
export function validateReport(o: unknown): string[] {
  const problems: string[] = [];
  if (typeof o !== 'object' || o === null) return ['not an object'];
  const keys = Object.keys(o).sort();
  if (keys.join(',') !== 'conditions,results') problems.push(`top-level keys ${keys.join(',')}`);
  const { conditions, results } = o as { conditions: unknown; results: unknown };
  if (typeof conditions !== 'object' || conditions === null) problems.push('conditions is not an object');
  if (!Array.isArray(results)) return [...problems, 'results is not an array'];
  results.forEach((r: Record<string, unknown>, i) => {
    const rk = Object.keys(r);
    if (rk.join(',') !== ROW_KEYS.join(',')) problems.push(`results[${i}] keys ${rk.join(',')}`);
    for (const k of ['workload', 'layout', 'arch', 'metric', 'unit'] as const)
      if (typeof r[k] !== 'string') problems.push(`results[${i}].${k} is not a string`);
    for (const k of ['median', 'min', 'max'] as const)
      if (typeof r[k] !== 'number' && r[k] !== null) problems.push(`results[${i}].${k} is not a number`);
    if (!Array.isArray(r.runs) || !r.runs.every((v) => typeof v === 'number' || v === null))
      problems.push(`results[${i}].runs is not an array of numbers`);
    if (typeof r.noisy !== 'boolean') problems.push(`results[${i}].noisy is not a boolean`);
    if (r.workers !== null && !(Number.isInteger(r.workers) && (r.workers as number) > 0))
      problems.push(`results[${i}].workers is neither null nor a positive integer`);
  });
  return problems;
}
