#!/usr/bin/env node
// Makes the two quick-start commands work on a machine with only Node.js and npm:
// installs the workspace with the pinned pnpm when it is not installed yet, then runs
// either the mmkit CLI (`bootstrap.mjs mmkit ARGS…`) or the whole test suite
// (`bootstrap.mjs test [VITEST ARGS…]`), printing vitest's totals as a last line
// `N passed, N failed` that CI reads.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = 'pnpm@10.34.9';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function ensureInstalled() {
  if (existsSync(join(root, 'node_modules', '.modules.yaml'))) return;
  process.stderr.write(`mmkit: installing dependencies with ${PNPM} (first run only)…\n`);
  const hasPnpm = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  const ok = hasPnpm.status === 0 && hasPnpm.stdout.trim().startsWith('10.');
  const status = ok
    ? run('pnpm', ['install', '--frozen-lockfile'], { stdio: ['ignore', 'ignore', 'inherit'] })
    : run('npx', ['--yes', PNPM, 'install', '--frozen-lockfile'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (status !== 0) {
    process.stderr.write('mmkit: dependency installation failed\n');
    process.exit(status);
  }
}

const [mode, ...rest] = process.argv.slice(2);
ensureInstalled();
if (mode === 'mmkit') {
  process.exit(run(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), ...rest]));
} else if (mode === 'test') {
  const out = join(tmpdir(), `mmkit-vitest-${process.pid}.json`);
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const status = run(process.execPath, [
    vitest,
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
    ...rest,
  ]);
  let passed = 0;
  let failed = 0;
  if (existsSync(out)) {
    const report = JSON.parse(readFileSync(out, 'utf8'));
    passed = report.numPassedTests;
    failed = report.numFailedTests;
    rmSync(out);
  } else {
    failed = 1;
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(status !== 0 ? status : failed > 0 ? 1 : 0);
} else {
  process.stderr.write('usage: bootstrap.mjs mmkit [ARGS…] | test [VITEST ARGS…]\n');
  process.exit(2);
}
