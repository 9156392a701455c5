import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BenchReport } from '../types.ts';

const require = createRequire(import.meta.url);

/** The chart library's minified files, read from node_modules when the report is generated. */
export function uplotAssets(): { js: string; css: string } {
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  return { js, css };
}

/** Makes text safe inside a `<script>` element (no `</script`, no `<!--`). */
export function escapeScript(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** Makes JSON safe inside `<script type="application/json">`. */
export function escapeJson(json: string): string {
  return json.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d2330;background:#fbfbfd}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin:2.2rem 0 .4rem;border-bottom:1px solid #dde;padding-bottom:.2rem}
.sub{color:#667;margin-top:0}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1.2rem}
.card{background:#fff;border:1px solid #e3e5ee;border-radius:8px;padding:.8rem 1rem}
.card h3{font-size:1rem;margin:.1rem 0 .1rem}.card p{margin:.1rem 0 .5rem;color:#556;font-size:.85rem}
table{border-collapse:collapse;font-size:.85rem;margin-top:.5rem;width:100%}th,td{padding:.2rem .5rem;text-align:right;border-bottom:1px solid #eef}
th:first-child,td:first-child{text-align:left}.ratio{font-weight:600}.good{color:#17803d}.bad{color:#b42318}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;font-size:.9rem}dt{color:#667}dd{margin:0}
.na li{color:#667}.noisy{color:#b45309;font-weight:600;font-size:.75rem;margin-left:.3rem}
`;

/** Client-side code: reads the embedded report and draws one bar chart per workload and metric. */
const CLIENT = `
(function () {
  var report = JSON.parse(document.getElementById('bench-data').textContent);
  var rows = report.results;
  var palette = { soa: '#2563eb', aos: '#9333ea', object: '#ea580c', linux: '#16a34a' };
  function si(v) {
    if (v === null || !isFinite(v)) return String(v);
    var a = Math.abs(v), d = 1, s = '';
    if (a >= 1e9) { d = 1e9; s = ' G'; } else if (a >= 1e6) { d = 1e6; s = ' M'; } else if (a >= 1e3) { d = 1e3; s = ' k'; }
    var x = v / d; return x.toFixed(Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2) + s;
  }
  var groups = [], byKey = {};
  rows.forEach(function (r) {
    if (r.unit === 'ratio') return;
    var k = r.workload + '|' + r.metric;
    if (!byKey[k]) { byKey[k] = { workload: r.workload, metric: r.metric, unit: r.unit, rows: [], ratios: [] }; groups.push(byKey[k]); }
    byKey[k].rows.push(r);
  });
  rows.forEach(function (r) {
    if (r.unit !== 'ratio') return;
    var g = byKey[r.workload + '|' + r.metric]; if (g) g.ratios.push(r);
  });
  var host = document.getElementById('charts');
  var better = report.higherIsBetter || {};
  groups.forEach(function (g, gi) {
    var card = document.createElement('div'); card.className = 'card';
    var h = document.createElement('h3'); h.textContent = g.workload + ' \\u2014 ' + g.metric + ' [' + g.unit + ']'; card.appendChild(h);
    var p = document.createElement('p'); p.textContent = (report.descriptions || {})[g.workload] || ''; card.appendChild(p);
    var chartEl = document.createElement('div'); chartEl.className = 'chart'; chartEl.id = 'chart-' + gi; card.appendChild(chartEl);
    host.appendChild(card);
    // With --workers, each bar is a column at one worker count.
    function threads(r) { return r.workers ? ' \u00d7' + r.workers + (r.workers === 1 ? ' worker' : ' workers') : ''; }
    var labels = g.rows.map(function (r) { return r.layout === 'linux' ? 'linux' : r.arch + '/' + r.layout + threads(r); });
    var xs = labels.map(function (_, i) { return i; });
    var med = g.rows.map(function (r) { return r.median; });
    var mins = g.rows.map(function (r) { return r.min; });
    var maxs = g.rows.map(function (r) { return r.max; });
    var colors = g.rows.map(function (r) { return palette[r.layout] || '#64748b'; });
    var plotted = med.filter(function (v) { return v !== null && isFinite(v); }).length;
    chartEl.setAttribute('data-points', String(plotted));
    // One colour per bar (its layout): uPlot's per-point fills need per-point strokes too.
    var bars = uPlot.paths.bars({ size: [0.6, 80], disp: {
      fill: { unit: 3, values: function () { return colors; } },
      stroke: { unit: 3, values: function () { return colors; } },
    } });
    var opts = {
      width: 480, height: 240,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: function (u, lo, hi) { return [0, hi * 1.1 || 1]; } } },
      axes: [
        { values: function (u, splits) { return splits.map(function (s) { return labels[s] !== undefined && Number.isInteger(s) ? labels[s] : ''; }); }, incrs: [1], size: 40 },
        { values: function (u, splits) { return splits.map(si); }, size: 60 },
      ],
      legend: { show: false },
      cursor: { show: false },
      series: [
        {},
        { label: 'median', fill: '#2563eb', stroke: '#1e40af', paths: bars, points: { show: false } },
        { label: 'min', stroke: '#111', width: 0, points: { show: true, size: 6, fill: '#111' } },
        { label: 'max', stroke: '#111', width: 0, points: { show: true, size: 6, fill: '#111' } },
      ],
    };
    new uPlot(opts, [xs, med, mins, maxs], chartEl);
    var t = document.createElement('table');
    var head = '<tr><th>run</th><th>median</th><th>min</th><th>max</th><th>runs</th></tr>';
    var noisy = function (r) { return r.noisy ? '<span class="noisy" title="runs vary by more than 20%">noisy</span>' : ''; };
    t.innerHTML = head + g.rows.map(function (r, i) {
      return '<tr' + (r.noisy ? ' data-noisy="true"' : '') + '><td>' + labels[i] + noisy(r) + '</td><td>' + si(r.median) + '</td><td>' + si(r.min) + '</td><td>' + si(r.max) + '</td><td>' + r.runs.length + '</td></tr>';
    }).join('') + g.ratios.map(function (r) {
      var hib = better[g.workload + '|' + g.metric] !== false;
      var good = hib ? r.median >= 1 : r.median <= 1;
      return '<tr class="ratio"' + (r.noisy ? ' data-noisy="true"' : '') + '><td>' + r.arch + ' ' + r.layout + (r.layout.indexOf('@') < 0 ? threads(r) : ' (scaling)') + noisy(r) + '</td><td class="' + (good ? 'good' : 'bad') + '">' + r.median.toFixed(2) + '\\u00d7</td><td>' + r.min.toFixed(2) + '\\u00d7</td><td>' + r.max.toFixed(2) + '\\u00d7</td><td>' + r.runs.length + '</td></tr>';
    }).join('');
    card.appendChild(t);
  });
  document.body.setAttribute('data-charts', String(groups.length));
})();
`;

export interface HtmlExtras {
  /** One line per workload, shown under its charts. */
  descriptions: Record<string, string>;
  /** `workload|metric` → whether higher is better (colours the ratios). */
  higherIsBetter: Record<string, boolean>;
}

/** A single self-contained HTML file: uPlot, its CSS and the data are inlined (opens offline). */
export function renderHtml(report: BenchReport, extras: HtmlExtras): string {
  const { js, css } = uplotAssets();
  const c = report.conditions;
  const data = escapeJson(
    JSON.stringify({ ...report, ...extras }, (_k, v) =>
      typeof v === 'number' && !Number.isFinite(v) ? null : v,
    ),
  );
  const dl: [string, string][] = [
    ['date', c.date],
    ['node', `${c.node} (V8 ${c.v8})`],
    ['cpu', `${c.cpu} × ${c.cpus}`],
    ['os', `${c.platform}, kernel ${c.kernel}`],
    ['size', `${c.sizeBytes} bytes per workload${c.quick ? ' (quick)' : ''}`],
    [
      'runs',
      `${c.runs} measured after ${c.warmup} warm-up, each workload × layout × arch in its own process, layouts interleaved run by run`,
    ],
    ...((c.workers ?? []).length > 0
      ? ([
          [
            'workers',
            `${c.workers.join(', ')} worker threads per column, started once per process and kept warm; a run is timed from the start barrier to the last worker done; COLUMN@N/COLUMN@B is the scaling ratio`,
          ],
        ] as [string, string][])
      : []),
    ['linux', c.linux],
    ['command', c.command],
  ];
  const na = Object.entries(c.unavailable);
  const failed = Object.entries(c.failures ?? {});
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mmkit bench</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${css.replace(/<\//g, '<\\/')}</style><style>${CSS}</style>
<script>${escapeScript(js)}</script>
</head><body>
<h1>mmkit bench</h1>
<p class="sub">Layouts of every component family (${c.layouts.map(escapeHtml).join(', ')}) on ${c.archs.map(escapeHtml).join(', ')}${c.linux.startsWith('Linux') ? ', beside this machine\u2019s Linux kernel' : ''}. Bars are medians, dots min and max. A ratio is the ratio of two medians of runs interleaved in this bench run (layout a, b, c, a, b, c, ...), with its 95% bootstrap interval as min and max; <span class="noisy">noisy</span> marks runs that vary by more than 20%.</p>
<h2>Conditions</h2>
<dl>${dl.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`).join('')}</dl>
${na.length ? `<h2>Not available</h2><ul class="na">${na.map(([n, why]) => `<li><b>${escapeHtml(n)}</b>: ${escapeHtml(why)}</li>`).join('')}</ul>` : ''}
${failed.length ? `<h2>Failed</h2><ul class="na">${failed.map(([n, why]) => `<li><b>${escapeHtml(n)}</b>: ${escapeHtml(why)}</li>`).join('')}</ul>` : ''}
<h2>Results</h2>
<div id="charts" class="grid"></div>
<script type="application/json" id="bench-data">${data}</script>
<script>${escapeScript(CLIENT)}</script>
</body></html>
`;
}

export function writeHtml(path: string, report: BenchReport, extras: HtmlExtras): void {
  writeFileSync(path, renderHtml(report, extras));
}
