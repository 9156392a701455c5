import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { x86_64 } from '@mmkit/arch-x86_64';
import { createKernel, LinuxSyscalls, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '@mmkit/core';
import { cow } from '@mmkit/plugins';
import { describe, expect, it } from 'vitest';
import { type FaultCounter, faultCounter } from './examples/fault-counter.ts';

const EXAMPLE = join(import.meta.dirname, 'examples', 'fault-counter.ts');
const DOC = join(import.meta.dirname, '..', '..', '..', 'docs', 'PLUGINS.md');

describe('the worked example of docs/PLUGINS.md', () => {
  it('is this very file, under 40 lines, importing only public entry points', () => {
    const source = readFileSync(EXAMPLE, 'utf8');
    expect(readFileSync(DOC, 'utf8')).toContain(`\`\`\`ts\n${source}\`\`\``);
    expect(source.trimEnd().split('\n').length).toBeLessThan(40);
    expect(source).not.toContain('@mmkit/core/internal');
  });

  it('counts faults per mapping and kind, next to the cow plugin', () => {
    const k = createKernel({ arch: x86_64, memory: 16 << 20, plugins: [cow(), faultCounter()] });
    const sys = new LinuxSyscalls(k);
    const p = sys.spawn();
    const a = sys.mmap(p, 0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    sys.writeMemory(p, a, Uint8Array.of(1));
    sys.writeMemory(p, a + 4096, Uint8Array.of(2));
    const c = sys.fork(p);
    sys.writeMemory(c, a, Uint8Array.of(3)); // shared with the parent: copied
    sys.writeMemory(p, a + 4096, Uint8Array.of(4)); // still shared with the child: copied
    sys.exit(c);
    sys.writeMemory(p, a, Uint8Array.of(5)); // the parent's frame is its own again: reused
    const counts = k.plugins.get<FaultCounter>('fault-counter')!.counts;
    expect(Object.fromEntries(counts)).toEqual({
      [`${p}:0x${a.toString(16)}`]: { anon: 2, cow: 1, reuse: 1 },
      [`${c}:0x${a.toString(16)}`]: { cow: 1 },
    });
    sys.exit(p);
    expect(k.frames.nrInUse).toBe(k.nrBootFrames);
    expect(k.check()).toEqual([]);
  });
});
