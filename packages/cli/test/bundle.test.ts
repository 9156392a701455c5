import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleOf, sourcesHash } from '../src/bundle.ts';

/**
 * Prebuilt bundles: their name follows every source and build input (so a stale bundle is
 * never run) and nothing else, and a bundle runs as its sources do (paths resolved from a
 * module's own location included).
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'mmkit-bundle-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

describe('bundle names', () => {
  it('change with every source file and build input, not with tests or docs', () => {
    write(join(scratch, 'tsconfig.json'), '{}');
    write(join(scratch, 'packages/a/src/x.ts'), 'export const x = 1;\n');
    write(join(scratch, 'packages/a/test/x.test.ts'), '');
    write(join(scratch, 'packages/b/README.md'), '');
    const first = sourcesHash(scratch);
    expect(sourcesHash(scratch)).toBe(first);

    write(join(scratch, 'packages/a/test/x.test.ts'), 'a test changed');
    write(join(scratch, 'packages/b/README.md'), 'docs changed');
    expect(sourcesHash(scratch)).toBe(first);

    const seen = new Set([first]);
    const changes = [
      () => write(join(scratch, 'packages/a/src/x.ts'), 'export const x = 2;\n'),
      () => write(join(scratch, 'packages/b/src/deep/y.mjs'), 'export {};\n'),
      () => write(join(scratch, 'tsconfig.json'), '{"compilerOptions":{}}'),
      () => write(join(scratch, 'pnpm-lock.yaml'), 'lockfileVersion: 9.0\n'),
    ];
    for (const change of changes) {
      change();
      const hash = sourcesHash(scratch);
      expect(seen.has(hash)).toBe(false);
      seen.add(hash);
    }
  });
});

describe('a bundle', () => {
  it("is named after the workspace's sources and runs as they do", () => {
    const bundle = fileURLToPath(bundleOf(new URL('../src/main.ts', import.meta.url)));
    expect(basename(bundle)).toBe(`cli-src-main.${sourcesHash(root)}.mjs`);
    expect(readFileSync(`${bundle}.map`, 'utf8')).toContain('"sources"');
    // main.ts reads ../package.json from its own location, not from the bundle's.
    const { version } = JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8'));
    const out = execFileSync(process.execPath, [bundle, '--version'], { cwd: tmpdir(), encoding: 'utf8' });
    expect(out.trim()).toBe(`mmkit ${version}`);
  });
});
