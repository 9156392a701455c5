import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { renderHtml } from '../src/bench/reporters/html.ts';
import { conditions, layoutRatios, linuxRatios } from '../src/bench/runner.ts';
import { summarize } from '../src/bench/stats.ts';
import type { BenchReport, ResultRow } from '../src/bench/types.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `bench-html: skipping the browser test: ${CHROMIUM} is missing (install Debian's chromium: apt-get install -y chromium)`,
  );
}

function row(workload: string, metric: string, unit: string, layout: string, runs: number[]): ResultRow {
  return { workload, layout, arch: 'x86_64', metric, unit, ...summarize(runs), runs };
}

function sampleReport(): BenchReport {
  const rows: ResultRow[] = [];
  for (const [layout, f] of [
    ['soa', 3],
    ['aos', 2],
    ['object', 1],
  ] as const) {
    rows.push(row('map', 'pages_per_s', 'pages/s', layout, [f * 1e7, f * 1.1e7, f * 0.9e7]));
    rows.push(row('fault', 'faults_per_s', 'faults/s', layout, [f * 1e6, f * 1.2e6, f * 0.8e6]));
    rows.push(row('memory', 'meta_bytes_per_frame', 'bytes/frame', layout, [17 * f, 17 * f, 17 * f]));
  }
  rows.push(row('fault', 'faults_per_s', 'faults/s', 'linux', [3.9e5, 4e5, 3.8e5]));
  const all = [...rows, ...layoutRatios(rows, ['soa', 'aos', 'object']), ...linuxRatios(rows)];
  return {
    conditions: conditions(
      {
        workloads: ['map', 'fault', 'memory'],
        layouts: ['soa', 'aos', 'object'],
        archs: ['x86_64'],
        size: 1 << 30,
        runs: 3,
        warmup: 1,
        quick: false,
        vsLinux: true,
        command: 'mmkit bench </script><b>x</b>',
      },
      { replay: 'needs the replayer' },
      'Linux 6.1 (cc -O2)',
    ),
    results: all,
  };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-bench-html-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasChromium)('bench HTML report in headless Chromium', () => {
  it('renders every chart offline with no page error', { timeout: 60_000 }, async () => {
    const { chromium } = await import('playwright-core');
    const file = path.join(dir, 'report.html');
    writeFileSync(
      file,
      renderHtml(sampleReport(), { descriptions: { map: 'map pages' }, higherIsBetter: {} }),
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage();
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
      await page.waitForSelector('body[data-charts]');
      // A string, so that this file needs no DOM typings.
      const charts = (await page.evaluate(`[...document.querySelectorAll('.chart')].map((el) => {
        const canvas = el.querySelector('canvas');
        let inked = 0;
        if (canvas && canvas.width > 0 && canvas.height > 0) {
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) inked++;
        }
        return { points: Number(el.getAttribute('data-points')), inked, w: canvas ? canvas.width : 0 };
      })`)) as { points: number; inked: number; w: number }[];
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      expect(charts.length).toBe(3);
      for (const c of charts) {
        expect(c.points).toBeGreaterThan(0);
        expect(c.w).toBeGreaterThan(0);
        expect(c.inked).toBeGreaterThan(500);
      }
      // The fault chart has the Linux bar beside the three layouts; ratios are listed.
      expect(charts[1].points).toBe(4);
      const text = await page.textContent('body');
      expect(text).toMatch(/soa\/linux/);
      expect(text).toMatch(/mmkit bench <\/script><b>x<\/b>/);
      expect(text).toMatch(/replay: needs the replayer/);
    } finally {
      await browser.close();
    }
  });
});
