/**
 * The page's script (plain ES2017, inlined into the HTML). It reads the timeline from
 * `#ui-data`, rebuilds the model's state at the chosen line by applying the steps in order
 * (forward from the current line, or from the start when going back) and draws it.
 */
export const CLIENT_JS = String.raw`
(function () {
  'use strict';
  var T = JSON.parse(document.getElementById('ui-data').textContent);
  var N = T.lines.length;
  var COLORS = ['#f1f5f9', '#16a34a', '#2563eb', '#94a3b8', '#ea580c', '#7c3aed'];
  var TYPE_NAMES = ['free', 'untyped', 'page-table', 'meta-page', 'page-cache', 'kernel'];
  var $ = function (id) { return document.getElementById(id); };
  var hex = function (v) { return v.toString(16); };
  var esc = function (s) { return String(s).replace(/[&<>"]/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; }); };

  var procs, frames, cur, chosenPid = null;
  function reset() {
    procs = new Map();
    procs.set(0, { vmas: new Map(), leaves: new Map() });
    frames = new Uint8Array(T.nrFrames);
    var pfn = 0;
    for (var i = 0; i < T.framesAtStart.length; i += 2) {
      frames.fill(T.framesAtStart[i], pfn, pfn + T.framesAtStart[i + 1]);
      pfn += T.framesAtStart[i + 1];
    }
    cur = 0;
  }
  function proc(pid) {
    var p = procs.get(pid);
    if (!p) { p = { vmas: new Map(), leaves: new Map() }; procs.set(pid, p); }
    return p;
  }
  function apply(step) {
    var pid, i;
    if (step.v) for (pid in step.v) {
      var ch = step.v[pid];
      if (ch === null) { procs.delete(Number(pid)); continue; }
      var p = proc(Number(pid));
      ch[0].forEach(function (s) { p.vmas.delete(s); });
      ch[1].forEach(function (m) { p.vmas.set(m[0], m); });
    }
    if (step.p) for (pid in step.p) {
      var list = step.p[pid];
      if (list === null) continue;
      var q = proc(Number(pid));
      list.forEach(function (l) { if (l.length === 1) q.leaves.delete(l[0]); else q.leaves.set(l[0], l); });
    }
    if (step.f) for (i = 0; i < step.f.length; i += 2) frames[step.f[i]] = step.f[i + 1];
  }
  function goTo(i) {
    i = Math.max(0, Math.min(N - 1, i | 0));
    if (i < cur) reset();
    while (cur < i) { cur++; apply(T.steps[cur]); }
    render();
  }

  function opOf(i) { try { return JSON.parse(T.lines[i]); } catch (e) { return {}; } }
  function selectedPid() {
    var op = opOf(cur);
    if (chosenPid !== null && procs.has(chosenPid)) return chosenPid;
    if (op.pid !== undefined && procs.has(op.pid)) return op.pid;
    var first = procs.keys().next();
    return first.done ? null : first.value;
  }

  function renderOp() {
    $('step').value = String(cur);
    $('line').textContent = 'line ' + (cur + 1) + ' of ' + N;
    $('op').textContent = T.lines[cur];
    $('result').textContent = T.results[cur];
    var ev = T.steps[cur].e || [];
    $('events').innerHTML = ev.length ? ev.map(function (e) { return '<li>' + esc(e) + '</li>'; }).join('') : '<li class="none">nothing happened inside the kernel</li>';
  }

  function permsClass(perms) { return 'p-' + perms.slice(0, 3).replace(/-/g, '_') + (perms[3] === 's' ? ' shared' : ''); }
  function renderSpace(pid) {
    var sel = $('pid');
    var pids = Array.from(procs.keys()).sort(function (a, b) { return a - b; });
    sel.innerHTML = pids.map(function (p) { return '<option value="' + p + '"' + (p === pid ? ' selected' : '') + '>pid ' + p + '</option>'; }).join('');
    var bar = $('bar'), table = $('vmas');
    if (pid === null) { bar.innerHTML = ''; table.innerHTML = '<tr><td>no live process</td></tr>'; return; }
    var p = procs.get(pid);
    var vmas = Array.from(p.vmas.values()).sort(function (a, b) { return a[0] - b[0]; });
    var changed = {};
    var step = T.steps[cur];
    if (step.v && step.v[pid]) step.v[pid][1].forEach(function (m) { changed[m[0]] = true; });
    var rssOf = function (m) { var n = 0; p.leaves.forEach(function (l) { if (l[0] >= m[0] && l[0] < m[1]) n += l[5] / 4096; }); return n; };
    // Mappings in address order, widths by size; a hole between two mappings is a fixed gap.
    var GAP = 0.6, mapped = 0, holes = 0;
    vmas.forEach(function (m, i) { mapped += m[1] - m[0]; if (i > 0 && vmas[i - 1][1] !== m[0]) holes++; });
    var scale = (100 - GAP * holes) / Math.max(mapped, 1), x = 0;
    bar.innerHTML = vmas.map(function (m, i) {
      if (i > 0 && vmas[i - 1][1] !== m[0]) x += GAP;
      var left = x, width = (m[1] - m[0]) * scale;
      x += width;
      return '<div class="vma ' + permsClass(m[2]) + (changed[m[0]] ? ' new' : '') + '" style="left:' + left + '%;width:max(2px,' + width + '%)" title="' +
        hex(m[0]) + '-' + hex(m[1]) + ' ' + m[2] + ' ' + esc(m[3]) + '"></div>';
    }).join('');
    table.innerHTML = '<tr><th>start-end</th><th>perms</th><th>size</th><th>RSS pages</th><th>name</th></tr>' + vmas.map(function (m) {
      return '<tr class="vma-row' + (changed[m[0]] ? ' new' : '') + '" data-start="' + hex(m[0]) + '"><td>' + hex(m[0]) + '-' + hex(m[1]) + '</td><td>' + m[2] + '</td><td>' +
        ((m[1] - m[0]) / 1024) + ' KiB</td><td>' + rssOf(m) + '</td><td>' + esc(m[3]) + '</td></tr>';
    }).join('');
  }

  var openNodes = new Set();
  function renderPt(pid) {
    var host = $('pt');
    if (pid === null) { host.innerHTML = ''; return; }
    var leaves = Array.from(procs.get(pid).leaves.values()).sort(function (a, b) { return a[0] - b[0]; });
    var step = T.steps[cur], fresh = {};
    if (step.p && step.p[pid]) step.p[pid].forEach(function (l) { if (l.length > 1) fresh[l[0]] = true; });
    var S = T.levelSizes, L = T.nrLevels;
    var root = { kids: new Map(), leaves: [], count: 0 };
    leaves.forEach(function (l) {
      var node = root;
      node.count++;
      for (var level = L; S[level] > l[5]; level--) {
        var idx = Math.floor(l[0] / S[level]) % 512;
        var key = level + ':' + Math.floor(l[0] / S[level]);
        var kid = node.kids.get(idx);
        if (!kid) { kid = { level: level, idx: idx, key: key, va: Math.floor(l[0] / S[level]) * S[level], kids: new Map(), leaves: [], count: 0 }; node.kids.set(idx, kid); }
        kid.count++;
        node = kid;
      }
      node.leaves.push(l);
    });
    var autoOpen = leaves.length <= 64;
    function draw(node, level) {
      var html = '';
      node.kids.forEach(function (kid) {
        var open = autoOpen || openNodes.has(kid.key);
        html += '<details data-key="' + kid.key + '"' + (open ? ' open' : '') + '><summary>L' + level + '[' + kid.idx + '] ' + hex(kid.va) + ' \u2014 ' + kid.count + ' page' + (kid.count === 1 ? '' : 's') + '</summary>' + draw(kid, level - 1) + '</details>';
      });
      node.leaves.forEach(function (l) {
        var idx = Math.floor(l[0] / l[5]) % 512;
        var huge = l[5] > 4096 ? ' <b class="huge">HUGE ' + (l[5] >= 1 << 30 ? l[5] / (1 << 30) + ' GiB' : l[5] / (1 << 20) + ' MiB') + '</b>' : '';
        html += '<div class="leaf' + (fresh[l[0]] ? ' new' : '') + '" data-va="' + hex(l[0]) + '">L' + level + '[' + idx + '] ' + hex(l[0]) + '  <code>' + l[1] + '</code> ' + esc(l[2]) + ' \u2192 frame 0x' + hex(l[4]) + ' <span class="prop">' + esc(l[3]) + '</span>' + huge + '</div>';
      });
      return html;
    }
    host.innerHTML = leaves.length ? '<div class="root">L' + L + ' root</div>' + draw(root, L) : '<p class="none">no page mapped</p>';
  }
  $('pt').addEventListener('toggle', function (e) {
    var k = e.target.getAttribute && e.target.getAttribute('data-key');
    if (!k) return;
    if (e.target.open) openNodes.add(k); else openNodes.delete(k);
  }, true);

  var canvas = $('frames'), W = 128, SHOWN = Math.min(T.nrFrames, Math.ceil(T.framesShown / W) * W);
  canvas.width = W; canvas.height = SHOWN / W;
  var ctx = canvas.getContext('2d'), img = ctx.createImageData(canvas.width, canvas.height);
  var RGB = COLORS.map(function (c) { return [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)]; });
  function renderFrames() {
    var counts = [0, 0, 0, 0, 0, 0];
    for (var pfn = 0; pfn < T.nrFrames; pfn++) {
      counts[frames[pfn]]++;
      if (pfn >= SHOWN) continue;
      var c = RGB[frames[pfn]] || [0, 0, 0], o = pfn * 4;
      img.data[o] = c[0]; img.data[o + 1] = c[1]; img.data[o + 2] = c[2]; img.data[o + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    $('frame-counts').innerHTML = TYPE_NAMES.map(function (n, t) { return '<span><i style="background:' + COLORS[t] + '"></i>' + n + ' ' + counts[t] + '</span>'; }).join('');
  }

  var charts = [];
  function chart(id, label, ys, color) {
    var xs = ys.map(function (_, i) { return i + 1; });
    var u = new uPlot({
      width: 340, height: 160, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false } },
      axes: [{ size: 30 }, { size: 50 }],
      series: [{}, { label: label, stroke: color, width: 1.5, points: { show: false } }],
      hooks: { draw: [function (u) {
        var x = u.valToPos(cur + 1, 'x', true), c = u.ctx;
        c.save(); c.strokeStyle = '#dc2626'; c.lineWidth = 2; c.beginPath(); c.moveTo(x, u.bbox.top); c.lineTo(x, u.bbox.top + u.bbox.height); c.stroke(); c.restore();
      }] },
    }, [xs, ys], $(id));
    charts.push(u);
  }
  function cumulative(a) { var s = 0; return a.map(function (v) { return (s += v); }); }

  function render() {
    var pid = selectedPid();
    renderOp();
    renderSpace(pid);
    renderPt(pid);
    renderFrames();
    charts.forEach(function (u) { u.redraw(false, false); });
    document.body.setAttribute('data-line', String(cur + 1));
  }

  $('step').max = String(N - 1);
  $('step').addEventListener('input', function () { chosenPid = null; goTo(Number(this.value)); });
  $('first').onclick = function () { chosenPid = null; goTo(0); };
  $('prev').onclick = function () { chosenPid = null; goTo(cur - 1); };
  $('next').onclick = function () { chosenPid = null; goTo(cur + 1); };
  $('last').onclick = function () { chosenPid = null; goTo(N - 1); };
  $('goto').addEventListener('change', function () { chosenPid = null; goTo(Number(this.value) - 1); });
  $('pid').addEventListener('change', function () { chosenPid = Number(this.value); render(); });
  document.addEventListener('keydown', function (e) {
    if (e.target && e.target.tagName === 'INPUT' && e.target.type !== 'range') return;
    if (e.key === 'ArrowRight') { chosenPid = null; goTo(cur + 1); }
    if (e.key === 'ArrowLeft') { chosenPid = null; goTo(cur - 1); }
  });

  reset();
  chart('chart-rss', 'RSS (pages)', T.rss, '#16a34a');
  chart('chart-faults', 'page faults', cumulative(T.faults), '#2563eb');
  chart('chart-flushes', 'TLB flushes', cumulative(T.flushes), '#dc2626');
  goTo(0);
  // Milliseconds from navigation to a drawn page (what a 10 000-line trace must keep under 2 s).
  document.body.setAttribute('data-ready', String(Math.round(performance.now())));
})();
`;
