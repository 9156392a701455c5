import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mappingRuns } from '@mmkit/core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARCH_NAMES, ARCHS } from '../src/archs.ts';
import { writeTraceUi } from '../src/commands/ui.ts';
import { TraceSession } from '../src/inspect/session.ts';
import { DEFAULT_PLUGINS, pluginSpecs } from '../src/plugins.ts';
import { buildTimeline } from '../src/ui/timeline.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `ui: skipping the browser test: ${CHROMIUM} is missing (install Debian's chromium: apt-get install -y chromium)`,
  );
}

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TRACE = path.join(root, 'packages/core/test/fixtures/traces/fork-0002.trace.jsonl');
/** Line 12 of the trace maps shared anonymous memory; line 13 writes into its second page. */
const MMAP_LINE = 12;
const WRITE_LINE = 13;
/** Screenshots are kept here after the run. */
const OUTPUT = path.join(os.tmpdir(), 'mmkit-ui-test');

function open(arch: string): TraceSession {
  return TraceSession.open(TRACE, { arch: ARCHS[arch], plugins: pluginSpecs(DEFAULT_PLUGINS) });
}

/** The model's own answer at `line`: process 0's mapping starts and present leaf addresses. */
function modelAt(arch: string, line: number): { starts: string[]; leaves: string[] } {
  const s = open(arch);
  s.runTo(line);
  const p = s.replayer.sys.procs.require(0);
  const starts = p.vmar.views().map((m) => m.start.toString(16));
  const leaves = p.vmar
    .views()
    .flatMap((m) => mappingRuns(p.vmar.space.pt, m.start, m.end))
    .flatMap((r) => Array.from({ length: r.count }, (_, i) => (r.va + i * r.pageSize).toString(16)));
  return { starts, leaves };
}

describe('mmkit ui: the timeline', () => {
  it.each(ARCH_NAMES)("rebuilds the model's mappings and PTEs at a line on %s", (arch) => {
    const t = buildTimeline(open(arch));
    expect(t.lines.length).toBe(t.steps.length);
    expect(t.results.length).toBe(t.steps.length);
    // Replaying the steps as the page does gives the model's state at a line.
    const vmas = new Map<number, number>();
    const leaves = new Set<number>();
    for (let i = 1; i < WRITE_LINE; i++) {
      const step = t.steps[i];
      const v = step.v?.[0];
      if (v) {
        for (const s of v[0]) vmas.delete(s);
        for (const m of v[1]) vmas.set(m[0], m[1]);
      }
      for (const l of step.p?.[0] ?? []) {
        if (l.length === 1) leaves.delete(l[0]);
        else leaves.add(l[0]);
      }
    }
    const expected = modelAt(arch, WRITE_LINE);
    expect([...vmas.keys()].map((s) => s.toString(16)).sort()).toEqual([...expected.starts].sort());
    expect([...leaves].map((v) => v.toString(16)).sort()).toEqual([...expected.leaves].sort());
    expect(t.rss.length).toBe(t.lines.length);
  });
});

describe.skipIf(!hasChromium)('mmkit ui in headless Chromium', () => {
  // One browser for the three pages (each in a context of its own): a launch costs more
  // CPU than a page's whole test.
  let browser: Browser;
  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 120_000);
  afterAll(() => browser?.close());

  it.each(ARCH_NAMES)(
    'steps to a line and shows the mapping and the PTE it created on %s',
    { timeout: 120_000 },
    async (arch) => {
      mkdirSync(OUTPUT, { recursive: true });
      const file = path.join(OUTPUT, `ui-${arch}.html`);
      writeTraceUi(TRACE, { arch, output: file });
      const before = modelAt(arch, MMAP_LINE);
      const after = modelAt(arch, WRITE_LINE);
      const newVma = after.starts.find((s) => !modelAt(arch, MMAP_LINE - 1).starts.includes(s))!;
      const newLeaf = after.leaves.find((l) => !before.leaves.includes(l))!;
      expect(newVma).toBeDefined();
      expect(newLeaf).toBeDefined();
      if (arch === 'x86_64') {
        expect(newVma).toBe('100000150000');
        expect(newLeaf).toBe('100000151000');
      }
      const context = await browser.newContext({ viewport: { width: 1280, height: 1100 } });
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        const requests: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        page.on('request', (r) => {
          if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
        });
        await page.goto(pathToFileURL(file).href);
        await page.waitForSelector('body[data-ready]');
        const goTo = async (line: number): Promise<void> => {
          await page.fill('#goto', String(line));
          await page.press('#goto', 'Enter');
          await page.waitForSelector(`body[data-line="${line}"]`);
        };
        const has = (selector: string): Promise<boolean> =>
          page.evaluate(`document.querySelector(${JSON.stringify(selector)}) !== null`) as Promise<boolean>;

        await goTo(MMAP_LINE - 1);
        expect(await has(`#vmas tr[data-start="${newVma}"]`)).toBe(false);
        await goTo(MMAP_LINE);
        expect(await page.textContent('#op')).toContain('"op":"mmap"');
        const row = await page.textContent(`#vmas tr[data-start="${newVma}"]`);
        expect(row).toContain('rw-s');
        expect(row).toContain('/dev/zero (deleted)');
        expect(await has(`#pt .leaf[data-va="${newLeaf}"]`)).toBe(false);
        await page.click('#next');
        await page.waitForSelector(`body[data-line="${WRITE_LINE}"]`);
        const leaf = await page.textContent(`#pt .leaf.new[data-va="${newLeaf}"]`);
        expect(leaf).toMatch(/[0-9a-f]{16}/);
        expect(leaf).toContain('frame 0x');
        expect(await page.textContent('#events')).toMatch(/fault: pid 0 write at 0x[0-9a-f]+: vmo/);
        // Back to the start: the state is rebuilt from the first line.
        await page.click('#first');
        await page.waitForSelector('body[data-line="1"]');
        expect(await has(`#vmas tr[data-start="${newVma}"]`)).toBe(false);
        await goTo(WRITE_LINE);
        expect(await has(`#pt .leaf[data-va="${newLeaf}"]`)).toBe(true);
        const shot = path.join(OUTPUT, `ui-${arch}.png`);
        await page.screenshot({ path: shot, fullPage: true });
        expect(existsSync(shot)).toBe(true);
        expect(errors).toEqual([]);
        expect(requests).toEqual([]);
      } finally {
        await context.close();
      }
    },
  );
});
