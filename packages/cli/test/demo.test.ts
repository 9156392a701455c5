import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ARCHS } from '../src/archs.ts';
import { runDemo } from '../src/commands/demo.ts';
import { CLI_BUNDLE } from './support/cli-bundle.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('mmkit demo', () => {
  it.each(Object.keys(ARCHS))('describes a clean kernel on %s', (name) => {
    const lines = runDemo(name, ARCHS[name]);
    expect(lines[0]).toMatch(new RegExp(`^== ${name}:`));
    expect(lines).toContain('kernel.check(): ok');
    // 16 user pages: 4 read-only, 4 unmapped.
    expect(lines.some((l) => /4 x 4K {2}r-- u-/.test(l))).toBe(true);
    // The linear mapping of 1 GiB uses the largest leaves: 1 GiB on Sv48, 2 MiB elsewhere.
    expect(
      lines.some((l) => (name === 'riscv-sv48' ? /1 x 1G {2}rw- -g/ : /512 x 2M {2}rw- -g/).test(l)),
    ).toBe(true);
    // The half-protected huge page was split into 4 KiB read-only pages.
    expect(lines.some((l) => /256 x 4K {2}r-- --/.test(l))).toBe(true);
  });

  it('runs from the command line and rejects an unknown architecture', () => {
    const cli = [CLI_BUNDLE];
    const out = execFileSync(process.execPath, [...cli, 'demo', '--arch', 'riscv-sv48'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out).toMatch(/== riscv-sv48: 4 levels/);
    let stderr = '';
    let status = 0;
    try {
      execFileSync(process.execPath, [...cli, 'demo', '--arch', 'mips'], {
        cwd: root,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (e) {
      const err = e as { status: number; stderr: string };
      status = err.status;
      stderr = err.stderr;
    }
    expect(status).toBe(2);
    expect(stderr).toMatch(/unknown architecture 'mips'/);
    expect(stderr).not.toMatch(/at .*\.ts:/);
  });
});
