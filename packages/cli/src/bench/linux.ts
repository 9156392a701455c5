import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Progress } from './progress.ts';
import { summarize } from './stats.ts';
import type { ResultRow } from './types.ts';
import { CORTENMM_REQUESTS, SPLIT_MAX_PAGES } from './workloads/common.ts';

export const LINUX_SOURCE = fileURLToPath(new URL('../../bench-native/linux-bench.c', import.meta.url));

export interface LinuxResult {
  /** One line for the conditions: what ran, or why nothing did. */
  note: string;
  rows: ResultRow[];
}

interface LinuxOutput {
  note: string;
  results: { workload: string; metric: string; unit: string; runs: number[] }[];
}

/** The C compiler to use (`$CC`, then `cc`, `gcc`, `clang`), or null. */
export function findCompiler(): string | null {
  const candidates = [process.env.CC, 'cc', 'gcc', 'clang'].filter((c): c is string => !!c);
  for (const c of candidates) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return c;
    } catch {}
  }
  return null;
}

/** Parses the C program's JSON into result rows (layout `linux`, the host's arch). */
export function linuxRows(out: LinuxOutput, arch: string, workloads: readonly string[]): ResultRow[] {
  return out.results
    .filter((r) => workloads.includes(r.workload))
    .map((r) => ({
      workload: r.workload,
      layout: 'linux',
      arch,
      metric: r.metric,
      unit: r.unit,
      ...summarize(r.runs),
      runs: r.runs,
    }));
}

/**
 * Compiles `bench-native/linux-bench.c` with `cc -O2` into a temporary directory and runs
 * it with the bench's size and runs. Without a compiler (or off Linux) it says so and
 * returns no rows.
 */
export async function runLinuxBench(
  opts: { size: number; runs: number; warmup: number; workloads: string[] },
  progress: Progress,
): Promise<LinuxResult> {
  if (process.platform !== 'linux') {
    const note = `--vs-linux skipped: this is ${process.platform}, not Linux`;
    progress.log(`bench: ${note}`);
    return { note, rows: [] };
  }
  const cc = findCompiler();
  if (cc === null) {
    const note = '--vs-linux skipped: no C compiler found (tried $CC, cc, gcc, clang)';
    progress.log(`bench: ${note}`);
    return { note, rows: [] };
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-linux-bench-'));
  try {
    const exe = path.join(dir, 'linux-bench');
    execFileSync(cc, ['-O2', '-o', exe, LINUX_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    const args = [opts.size, opts.runs, opts.warmup, SPLIT_MAX_PAGES, CORTENMM_REQUESTS].map(String);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(exe, args, { maxBuffer: 16 << 20 }, (err, out, errOut) => {
        if (err) reject(new Error(`linux-bench failed: ${errOut.trim() || err.message}`));
        else resolve(out);
      });
    });
    const out = JSON.parse(stdout) as LinuxOutput;
    const note = `Linux ${os.release()} (${cc} -O2), ${out.note}`;
    return { note, rows: linuxRows(out, hostArchName(), opts.workloads) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Host architecture in mmkit's names (the Linux rows' `arch`). */
export function hostArchName(): string {
  return process.arch === 'x64' ? 'x86_64' : process.arch;
}
