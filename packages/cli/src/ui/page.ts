import { writeFileSync } from 'node:fs';
import { escapeHtml, escapeJson, escapeScript, uplotAssets } from '../bench/reporters/html.ts';
import { CLIENT_JS } from './client.ts';
import type { UiTimeline } from './timeline.ts';

const CSS = `
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1rem auto;max-width:1280px;padding:0 1rem;color:#1d2330;background:#fbfbfd}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1rem;margin:.2rem 0 .4rem}.sub{color:#667;margin:0 0 .6rem}
.controls{display:flex;gap:.4rem;align-items:center;position:sticky;top:0;background:#fbfbfd;padding:.4rem 0;z-index:2}
.controls input[type=range]{flex:1}.controls input[type=number]{width:6rem}
.card{background:#fff;border:1px solid #e3e5ee;border-radius:8px;padding:.6rem .8rem;margin-bottom:.8rem}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:.8rem}.charts{display:flex;gap:.8rem;flex-wrap:wrap}
code,#op,#result,.leaf,summary{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
#op,#result{white-space:pre-wrap;word-break:break-all;margin:.2rem 0}#events{margin:.2rem 0;padding-left:1.2rem;font-size:13px}.none{color:#889}
#bar{position:relative;height:28px;background:#f1f5f9;border-radius:4px;overflow:hidden;margin-bottom:.4rem}
.vma{position:absolute;top:3px;bottom:3px;border-radius:2px;background:#64748b}.vma.shared{background-image:repeating-linear-gradient(45deg,transparent 0 3px,rgba(255,255,255,.5) 3px 6px)}
.p-rw_{background-color:#16a34a}.p-r__{background-color:#2563eb}.p-r_x{background-color:#ea580c}.p-rwx{background-color:#dc2626}.p-___{background-color:#94a3b8}.p-_w_,.p-_wx{background-color:#a16207}
.new{outline:2px solid #f59e0b}tr.new td{background:#fef3c7}.leaf.new{background:#fef3c7}
table{border-collapse:collapse;font-size:12px;width:100%}td,th{padding:.1rem .4rem;text-align:left;border-bottom:1px solid #eef}
#pt{max-height:420px;overflow:auto}details{margin-left:1rem}summary{cursor:pointer}.leaf{margin-left:1.4rem;white-space:nowrap}.prop{color:#556}.huge{color:#b42318}
#frames{image-rendering:pixelated;width:100%;border:1px solid #e3e5ee}#frame-counts span{margin-right:.8rem;font-size:12px}#frame-counts i{display:inline-block;width:10px;height:10px;margin-right:3px;vertical-align:middle}
`;

/** One self-contained HTML page (uPlot, styles, script and the timeline inlined; no network) stepping through a trace. */
export function renderUiPage(t: UiTimeline): string {
  const { js, css } = uplotAssets();
  const title = `mmkit: ${t.trace}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${css}${CSS}</style></head>
<body>
<h1>${escapeHtml(t.trace)}</h1>
<p class="sub">${escapeHtml(t.arch)}, ${t.lines.length} lines. Arrow keys step; the red line on the charts is the current line; what the line changed is outlined in amber.</p>
<div class="controls">
<button id="first" title="first line">&laquo;</button><button id="prev" title="previous line">&#x25C0;</button>
<input id="step" type="range" min="0" value="0" aria-label="line"><button id="next" title="next line">&#x25B6;</button><button id="last" title="last line">&raquo;</button>
<label>line <input id="goto" type="number" min="1" max="${t.lines.length}"></label><span id="line"></span>
</div>
<div class="card"><h2>Current line</h2><div id="op"></div><div id="result"></div><ul id="events"></ul></div>
<div class="card"><h2>Address space <select id="pid" aria-label="process"></select></h2><div id="bar"></div><table id="vmas"></table></div>
<div class="grid">
<div class="card"><h2>Page table (leaves: raw PTE, hardware bits, frame, decoded property)</h2><div id="pt"></div></div>
<div class="card"><h2>Physical frames</h2><canvas id="frames"></canvas><div id="frame-counts"></div></div>
</div>
<div class="card"><h2>Over the trace</h2><div class="charts"><div><b>RSS (pages, all processes)</b><div id="chart-rss"></div></div><div><b>page faults (cumulative)</b><div id="chart-faults"></div></div><div><b>TLB flushes (cumulative)</b><div id="chart-flushes"></div></div></div></div>
<script type="application/json" id="ui-data">${escapeJson(JSON.stringify(t))}</script>
<script>${escapeScript(js)}</script>
<script>${escapeScript(CLIENT_JS)}</script>
</body></html>
`;
}

export function writeUiPage(path: string, t: UiTimeline): void {
  writeFileSync(path, renderUiPage(t));
}
