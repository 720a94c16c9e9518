// @ts-check
/* global document, CSS, EventSource */
// The shardflow dev dashboard: one page, no framework, nothing from the internet. The server sends,
// over Server-Sent Events, a `hello` (graph, history, figures), a `sample` every second (rates, iterator
// age, the functions' EMF totals) and a `snapshot` every two seconds (what the tables hold).
'use strict';

/** @type {any} */ let hello;
/** @type {any[]} */ let history = [];
/** @type {any} */ let status;
/** @type {any} */ let snapshot;
/** Charts show the last five minutes, or since the start (at least one minute). */
const MAX_WINDOW_MS = 5 * 60 * 1000;
const MIN_WINDOW_MS = 60 * 1000;
const SVG = 'http://www.w3.org/2000/svg';

// ---- formatting -------------------------------------------------------------------------------
const esc = (/** @type {unknown} */ s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] || c);
const num = (/** @type {number} */ n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
/** Bytes as B, KB or MB (packed state, as DynamoDB bills it). */
const bytes = (/** @type {number | undefined} */ n) =>
  n === undefined || !Number.isFinite(n) ? '—' : n < 1024 ? `${Math.round(n)} B` : n < 1_048_576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1_048_576).toFixed(1)} MB`;
const rate = (/** @type {number} */ n) => (n >= 100 ? num(n) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const time = (/** @type {number | undefined} */ ms) => (ms === undefined || ms === null ? '—' : new Date(ms).toISOString().slice(11, 23));
const shortTime = (/** @type {number | undefined} */ ms) => (ms === undefined || ms === null ? '—' : new Date(ms).toISOString().slice(11, 19));
function duration(/** @type {number | undefined} */ ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return '—';
  const a = Math.abs(ms);
  const s = a < 1000 ? `${Math.round(a)} ms` : a < 60_000 ? `${(a / 1000).toFixed(1)} s` : a < 3_600_000 ? `${Math.floor(a / 60_000)} m ${Math.round((a % 60_000) / 1000)} s` : `${(a / 3_600_000).toFixed(1)} h`;
  return ms < 0 ? `−${s}` : s;
}
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
function svg(/** @type {string} */ tag, /** @type {Record<string, string | number>} */ attrs = {}, /** @type {string} */ text = '') {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text) el.textContent = text;
  return el;
}
const metricOf = (/** @type {any} */ stage, /** @type {string} */ name) => (stage && stage.metrics && stage.metrics[name]) || undefined;
const sumOf = (/** @type {any} */ stage, /** @type {string} */ name) => metricOf(stage, name)?.sum ?? 0;

// ---- the job graph ------------------------------------------------------------------------------
const NODE_W = 200;
const NODE_H = 78;
const COL_W = 256;
const ROW_H = 118;
const PAD = 16;

function drawGraph() {
  const g = hello.graph;
  const root = /** @type {SVGSVGElement} */ (/** @type {unknown} */ ($('graph')));
  root.replaceChildren();
  const cols = Math.max(...g.nodes.map((/** @type {any} */ n) => n.column)) + 1;
  const rows = Math.max(...g.nodes.map((/** @type {any} */ n) => n.row)) + 1;
  const width = PAD * 2 + (cols - 1) * COL_W + NODE_W;
  const height = PAD * 2 + (rows - 1) * ROW_H + NODE_H;
  root.setAttribute('viewBox', `0 0 ${width} ${height}`);
  root.setAttribute('height', String(Math.min(height, 420)));
  const defs = svg('defs');
  for (const [id, color] of [['data', '#8795a8'], ['state', '#7d5bd6'], ['late', '#c08a00'], ['dead-letter', '#d14343'], ['flowing', '#2f7ed8']]) {
    const marker = svg('marker', { id: `arrow-${id}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: color }));
    defs.append(marker);
  }
  root.append(defs);
  /** @type {Map<string, {x: number, y: number, n: any}>} */
  const at = new Map();
  for (const n of g.nodes) at.set(n.id, { x: PAD + n.column * COL_W, y: PAD + n.row * ROW_H, n });

  const edges = svg('g');
  for (const e of g.edges) {
    const a = at.get(e.from);
    const b = at.get(e.to);
    if (!a || !b) continue;
    let d;
    let lx;
    let ly;
    if (e.kind === 'dead-letter') {
      // Dead letters ride a bus: down into the gap under the sender's row, along it, then down the gap
      // before the table's column, so the lines never cross a box.
      const x1 = a.x + 18;
      const y1 = a.y + NODE_H;
      const busY = a.y + NODE_H + (ROW_H - NODE_H) / 2;
      const gapX = b.x - (COL_W - NODE_W) / 2;
      const y2 = b.y + NODE_H / 2 + 10;
      d = `M ${x1} ${y1} V ${busY} H ${gapX} V ${y2} H ${b.x}`;
    } else if (a.n.column === b.n.column) {
      const x = a.x + NODE_W / 2;
      const [y1, y2] = a.y < b.y ? [a.y + NODE_H, b.y] : [a.y, b.y + NODE_H];
      d = `M ${x} ${y1} L ${x} ${y2}`;
      [lx, ly] = [x + 6, y1 + 12];
    } else {
      const [x1, x2] = a.x < b.x ? [a.x + NODE_W, b.x] : [a.x, b.x + NODE_W];
      const y1 = a.y + NODE_H / 2;
      const y2 = b.y + NODE_H / 2;
      const bend = Math.max(40, Math.abs(x2 - x1) / 2);
      const s = x2 > x1 ? 1 : -1;
      d = `M ${x1} ${y1} C ${x1 + s * bend} ${y1}, ${x2 - s * bend} ${y2}, ${x2} ${y2}`;
      [lx, ly] = [(x1 + x2) / 2 - 20, (y1 + y2) / 2 - 6];
    }
    const path = svg('path', { d, class: `edge ${e.kind}`, 'marker-end': `url(#arrow-${e.kind})`, 'data-edge': `${e.from}>${e.to}` });
    edges.append(path);
    if (e.label && e.kind !== 'dead-letter') edges.append(svg('text', { x: lx, y: ly, class: 'edge-label' }, e.label));
  }
  root.append(edges);

  for (const { x, y, n } of at.values()) {
    const node = svg('g', { class: `node ${n.kind}`, transform: `translate(${x},${y})`, 'data-node': n.id, ...(n.stage ? { 'data-stage': n.stage } : {}) });
    node.append(svg('rect', { width: NODE_W, height: NODE_H, rx: 7 }));
    node.append(svg('text', { x: 10, y: 15, class: 'role' }, n.role));
    node.append(svg('text', { x: 10, y: 34, class: 'label' }, n.label.length > 26 ? `${n.label.slice(0, 25)}…` : n.label));
    if (n.kind === 'stage') {
      node.append(svg('text', { x: 40, y: 34, class: 'detail' }, (n.detail[0] || '').slice(0, 27)));
      node.append(svg('text', { x: 10, y: 54, class: 'live', 'data-live': 'in' }, 'in —'));
      node.append(svg('text', { x: 104, y: 54, class: 'live out', 'data-live': 'out' }, 'out —'));
      node.append(svg('text', { x: 10, y: 70, class: 'detail', 'data-live': 'lag' }, 'iterator age —'));
    } else {
      n.detail.forEach((/** @type {string} */ line, /** @type {number} */ i) => node.append(svg('text', { x: 10, y: 54 + i * 14, class: 'detail' }, line.slice(0, 32))));
    }
    const title = svg('title');
    title.textContent = `${n.role}: ${n.label}\n${n.detail.join('\n')}`;
    node.append(title);
    root.append(node);
  }
}

function updateGraph() {
  const last = history[history.length - 1];
  if (!last) return;
  for (const node of document.querySelectorAll('#graph .node.stage')) {
    const id = node.getAttribute('data-stage') || '';
    const s = last.stages[id];
    if (!s) continue;
    node.querySelector('[data-live="in"]').textContent = `in ${rate(s.inPerSec)}/s`;
    node.querySelector('[data-live="out"]').textContent = `out ${rate(s.outPerSec)}/s`;
    node.querySelector('[data-live="lag"]').textContent = `iterator age ${duration(s.iteratorAgeMs)}`;
    node.classList.toggle('active', s.inPerSec > 0);
    // Data edges into a busy stage animate.
    for (const path of document.querySelectorAll(`#graph path.edge.data[data-edge$=">stage:${CSS.escape(id)}"]`)) {
      path.classList.toggle('flowing', s.inPerSec > 0);
      path.setAttribute('marker-end', `url(#arrow-${s.inPerSec > 0 ? 'flowing' : 'data'})`);
    }
  }
}

// ---- stage cards with live charts -------------------------------------------------------------
const TILES = [
  ['recordsIn', 'records in', (/** @type {any} */ s) => num(sumOf(s, 'RecordsIn'))],
  ['recordsOut', 'records out', (/** @type {any} */ s) => num(sumOf(s, 'RecordsOut'))],
  ['iteratorAge', 'iterator age', (/** @type {any} */ s) => duration(s.iteratorAgeMs)],
  ['throttles', 'throttles', (/** @type {any} */ s) => num(s.throttles ?? 0)],
  ['watermarkLag', 'watermark lag', (/** @type {any} */ s) => duration(metricOf(s, 'WatermarkLag')?.last)],
  ['batchDuration', 'batch (avg)', (/** @type {any} */ s) => { const m = metricOf(s, 'BatchDuration'); return m ? duration(m.sum / m.samples) : '—'; }],
  ['stateWritten', 'state written', (/** @type {any} */ s) => bytes(sumOf(s, 'StateBytes'))],
  ['stateSize', 'state size', (/** @type {any} */ s) => bytes(metricOf(s, 'ShardStateBytes')?.max)],
  ['lostSlots', 'lost slots', (/** @type {any} */ s) => num(sumOf(s, 'LostSlots'))],
  ['late', 'late', (/** @type {any} */ s) => num(sumOf(s, 'LateRecords'))],
  ['deadLetters', 'dead letters', (/** @type {any} */ s) => num(sumOf(s, 'DeadLetters'))],
];

function buildStageCards() {
  const host = $('stages');
  host.replaceChildren();
  for (const n of hello.graph.nodes.filter((/** @type {any} */ n) => n.kind === 'stage')) {
    const card = document.createElement('section');
    card.className = 'panel stage-card';
    card.dataset.stage = n.stage;
    card.innerHTML = `
      <div class="title"><h3>stage ${esc(n.stage)}</h3><span class="sub">${esc(n.detail.join(' · '))}</span></div>
      <div class="tiles">${TILES.filter(([key]) => n.keyed || !['late', 'stateWritten', 'stateSize', 'lostSlots'].includes(/** @type {string} */ (key))).map(([key, label]) => `<div class="tile ${key === 'late' ? 'late' : ''}" data-figure="${key}"><div class="k">${label}</div><div class="v">—</div></div>`).join('')}</div>
      <div class="charts">
        <div class="chart" data-chart="throughput"><h4><span>records/s<span class="swatch in"></span>in<span class="swatch out"></span>out</span><span class="now"></span></h4><svg preserveAspectRatio="none"></svg></div>
        <div class="chart" data-chart="lag"><h4><span>iterator age<span class="swatch lag"></span></span><span class="now"></span></h4><svg preserveAspectRatio="none"></svg></div>
      </div>`;
    host.append(card);
  }
}

function updateStageCards() {
  if (!status) return;
  for (const s of status.stages) {
    const card = document.querySelector(`.stage-card[data-stage="${CSS.escape(s.id)}"]`);
    if (!card) continue;
    for (const [key, , value] of TILES) {
      const tile = card.querySelector(`[data-figure="${key}"]`);
      if (!tile) continue;
      tile.querySelector('.v').textContent = /** @type {Function} */ (value)(s);
      if (key === 'deadLetters' || key === 'lostSlots') tile.classList.toggle('warn', sumOf(s, key === 'deadLetters' ? 'DeadLetters' : 'LostSlots') > 0);
      if (key === 'throttles') tile.classList.toggle('warn', (s.throttles ?? 0) > 0);
    }
    const points = history.map((h) => ({ t: h.atMs, s: h.stages[s.id] })).filter((p) => p.s);
    const last = points[points.length - 1]?.s;
    const tp = card.querySelector('[data-chart="throughput"]');
    drawChart(tp.querySelector('svg'), [
      { cls: 'in', points: points.map((p) => [p.t, p.s.inPerSec]) },
      { cls: 'out', points: points.map((p) => [p.t, p.s.outPerSec]) },
    ], rate);
    tp.querySelector('.now').textContent = last ? `${rate(last.inPerSec)} in · ${rate(last.outPerSec)} out` : '';
    const lag = card.querySelector('[data-chart="lag"]');
    drawChart(lag.querySelector('svg'), [{ cls: 'lag', points: points.map((p) => [p.t, p.s.iteratorAgeMs]) }], duration);
    lag.querySelector('.now').textContent = last ? duration(last.iteratorAgeMs) : '';
  }
}

/** A line chart of the last five minutes: y from 0 to a round maximum, three grid lines. */
function drawChart(/** @type {SVGSVGElement} */ el, /** @type {{cls: string, points: number[][]}[]} */ series, /** @type {(n: number) => string} */ fmt) {
  const W = 520;
  const H = 130;
  const L = 46;
  const B = 16;
  el.setAttribute('viewBox', `0 0 ${W} ${H}`);
  el.replaceChildren();
  const now = history.length ? history[history.length - 1].atMs : Date.now();
  const span = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, history.length ? now - history[0].atMs : 0));
  const from = now - span;
  const { max, step } = niceScale(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const x = (/** @type {number} */ t) => L + ((t - from) / span) * (W - L - 4);
  const y = (/** @type {number} */ v) => 6 + (1 - v / max) * (H - B - 6);
  const grid = svg('g', { class: 'grid' });
  for (let v = 0; v <= max + step / 2; v += step) {
    grid.append(svg('line', { x1: L, x2: W - 4, y1: y(v), y2: y(v) }));
    grid.append(svg('text', { x: L - 6, y: y(v) + 3, 'text-anchor': 'end', class: 'axis' }, fmt(v)));
  }
  const tick = span > 120_000 ? 60_000 : span > 60_000 ? 30_000 : 15_000;
  for (let back = 0; back <= span; back += tick) {
    const label = back === 0 ? 'now' : back % 60_000 === 0 ? `−${back / 60_000} min` : `−${back / 1000} s`;
    grid.append(svg('text', { x: x(now - back), y: H - 3, 'text-anchor': back === 0 ? 'end' : back + tick > span ? 'start' : 'middle', class: 'axis' }, label));
  }
  el.append(grid);
  for (const s of series) {
    const pts = s.points.filter((p) => p[0] >= from);
    if (pts.length < 2) continue;
    const line = pts.map((p, i) => `${i ? 'L' : 'M'} ${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`).join(' ');
    el.append(svg('path', { d: `${line} L ${x(pts[pts.length - 1][0]).toFixed(1)} ${y(0)} L ${x(pts[0][0]).toFixed(1)} ${y(0)} Z`, class: `area series-${s.cls}` }));
    el.append(svg('path', { d: line, class: `series series-${s.cls}`, 'data-points': pts.length }));
  }
}

/** A y axis from 0 with three or four round steps above the highest value. */
function niceScale(/** @type {number} */ v) {
  if (v <= 0) return { max: 1, step: 0.25 };
  const raw = v / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) || 10 * p;
  return { max: step * Math.ceil(v / step), step };
}

// ---- header -------------------------------------------------------------------------------------
function updateSummary() {
  if (!status) return;
  const first = status.stages[0];
  // The last keyed stage's watermark: the one the results have reached.
  const keyed = [...status.stages].reverse().find((/** @type {any} */ s) => s.watermarkMs !== undefined);
  const results = snapshot ? snapshot.state.results.reduce((/** @type {number} */ n, /** @type {any} */ r) => n + r.total, 0) : undefined;
  const lag = Math.max(0, ...status.stages.map((/** @type {any} */ s) => s.iteratorAgeMs));
  const last = history[history.length - 1];
  const items = [
    ['events in', num(sumOf(first, 'RecordsIn'))],
    ['events/s', last && first ? rate(last.stages[first.id]?.inPerSec ?? 0) : '—'],
    ['results', results === undefined ? '—' : num(results)],
    ['watermark', time(keyed?.watermarkMs)],
    ['max iterator age', duration(lag)],
    ['uptime', duration(Date.now() - hello.startedAtMs)],
  ];
  $('summary').innerHTML = items.map(([k, v]) => `<div data-summary="${esc(k)}"><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('');
}

// ---- tables from the snapshot -------------------------------------------------------------------
function table(/** @type {string[]} */ heads, /** @type {string[][]} */ rows, /** @type {string[]} */ classes = []) {
  return `<table><thead><tr>${heads.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => `<td class="${classes[i] || ''}">${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/**
 * `shardId-000000000001` → `shard 1`; a logical shard of a stage with key groups (parallelizationFactor > 1),
 * `shardId-000000000001.g2` → `shard 1 · group 2`.
 */
const shardName = (/** @type {string} */ id) => {
  const m = /^shardId-(\d+)(?:\.g(\d+))?$/.exec(id);
  return m ? `shard ${Number(m[1])}${m[2] === undefined ? '' : ` · group ${m[2]}`}` : id;
};
/** The Kinesis shard of a logical shard: its iterator age is the shard's. */
const physicalShard = (/** @type {string} */ id) => id.replace(/\.g\d+$/, '');

function renderWatermarks() {
  const el = $('watermarks');
  const groups = snapshot.state.watermarks.filter((/** @type {any} */ w) => w.inputs.length > 0);
  if (groups.length === 0) return;
  el.className = '';
  const now = snapshot.atMs;
  el.innerHTML = groups
    .map((/** @type {any} */ w) => {
      const st = snapshot.status.stages.find((/** @type {any} */ s) => s.id === w.stage);
      const age = new Map((st?.shards ?? []).map((/** @type {any} */ s) => [s.shardId, s.iteratorAgeMs]));
      const shuffled = w.inputs.some((/** @type {any} */ i) => i.fromShard);
      const rows = w.inputs.map((/** @type {any} */ i) => [
        esc(shardName(i.shardId)) + (i.fromShard ? ` <span class="note">← ${esc(shardName(i.fromShard))}</span>` : ''),
        `<span data-watermark>${time(i.watermarkMs)}</span>`,
        i.maxEventTimeMs !== undefined ? time(i.maxEventTimeMs) : '—',
        `${duration(now - i.lastActiveMs)} ago`,
        duration(age.get(physicalShard(i.shardId))),
        i.idle ? '<span class="badge idle">idle</span>' : '<span class="badge ok">active</span>',
      ]);
      const fired = w.firedWatermarkMs !== undefined ? `<span class="note">windows fired up to <b class="mono">${time(w.firedWatermarkMs)}</b></span>` : '';
      // A keyed stage's shards: each one's watermark, and its state (packed) that must fit the function's memory.
      const shards = (w.shards ?? []).length
        ? table(
            ['keyed shard', 'watermark', 'keys', 'state size'],
            w.shards.map((/** @type {any} */ s) => [esc(shardName(s.shardId)), s.watermarkMs !== undefined ? time(s.watermarkMs) : '—', num(s.keys), bytes(s.stateBytes)]),
            ['', 'mono', 'mono', 'mono'],
          )
        : '';
      return `<div class="group" data-watermarks="${esc(w.stage)}"><div class="group-head"><h3>stage ${esc(w.stage)}</h3>${fired}</div>${table(
        [shuffled ? 'shard ← upstream' : 'shard', 'watermark', 'max event time', 'last heard', 'iterator age', ''],
        rows,
        ['', 'mono', 'mono', '', 'mono', ''],
      )}${shards}</div>`;
    })
    .join('');
}

function renderWindows() {
  const el = $('windows');
  const groups = snapshot.state.openWindows;
  const total = groups.reduce((/** @type {number} */ n, /** @type {any} */ g) => n + g.total, 0);
  $('windows-note').textContent = `${num(total)} open`;
  if (total === 0) {
    el.className = 'empty';
    el.textContent = 'no window open';
    return;
  }
  el.className = '';
  const now = snapshot.atMs;
  const wm = (/** @type {string} */ stage) => snapshot.status.stages.find((/** @type {any} */ s) => s.id === stage)?.watermarkMs;
  el.innerHTML = groups
    .filter((/** @type {any} */ g) => g.total > 0)
    .map((/** @type {any} */ g) => {
      const rows = g.soonest.map((/** @type {any} */ w) => {
        const due = wm(g.stage) !== undefined ? w.fireAtMs - wm(g.stage) : undefined;
        return [
          esc(w.key),
          w.startMs !== undefined ? `[${shortTime(w.startMs)} – ${shortTime(w.endMs)})` : esc(w.slot),
          time(w.fireAtMs),
          due === undefined ? '—' : due <= 0 ? 'due now' : `in ${duration(due)} of event time`,
          esc(w.value || '—'),
        ];
      });
      void now;
      return `<div class="group"><div class="group-head"><h3>stage ${esc(g.stage)}</h3><span class="count" data-open-windows="${esc(g.stage)}">${num(g.total)}</span><span class="note">open, soonest to fire first</span></div>${table(
        ['key', 'window (UTC)', 'fires at watermark', 'due', 'so far'],
        rows,
        ['', 'mono', 'mono', '', 'mono'],
      )}</div>`;
    })
    .join('');
}

function renderResults() {
  const el = $('results');
  const tables = snapshot.state.results;
  const total = tables.reduce((/** @type {number} */ n, /** @type {any} */ t) => n + t.total, 0);
  $('results-note').textContent = tables.length ? `${num(total)} in ${tables.map((/** @type {any} */ t) => t.table).join(', ')}` : 'results go to Kinesis or logs';
  if (total === 0) return;
  el.className = '';
  el.innerHTML = tables
    .map((/** @type {any} */ t) => {
      const fields = [...new Set(t.latest.flatMap((/** @type {any} */ i) => Object.keys(i)))].filter((k) => !['key', 'windowStart', 'windowEnd', 'id', 'resultOrder'].includes(k));
      const rows = t.latest.map((/** @type {any} */ i) => [
        esc(i.key),
        i.windowEnd !== undefined ? `[${shortTime(i.windowStart)} – ${shortTime(i.windowEnd)})` : esc(i.windowStart),
        ...fields.map((f) => esc(typeof i[f] === 'number' && !Number.isInteger(i[f]) ? i[f].toFixed(2) : i[f] ?? '')),
      ]);
      const heads = ['key', 'window (UTC)', ...fields];
      return `<div class="group"><div class="group-head"><h3>${esc(t.table)}</h3><span class="count">${num(t.total)}</span><span class="note">newest windows first</span></div>${table(heads, rows, ['', ...heads.slice(1).map(() => 'mono')])}</div>`;
    })
    .join('');
}

function renderProblems() {
  const el = $('problems');
  const late = snapshot.status.stages.reduce((/** @type {number} */ n, /** @type {any} */ s) => n + sumOf(s, 'LateRecords'), 0);
  const dl = snapshot.state.deadLetters;
  const lateSinks = snapshot.state.lateSinks;
  const logged = snapshot.logged;
  let html = `<div class="counts">
    <div class="count-box late" data-count="late"><div class="k">late records</div><div class="v">${num(late)}</div></div>
    <div class="count-box dead" data-count="dead-letters"><div class="k">dead letters</div><div class="v">${num(dl.total)}</div></div>
    ${lateSinks.map((/** @type {any} */ t) => `<div class="count-box"><div class="k">in ${esc(t.table)}</div><div class="v">${num(t.total)}</div></div>`).join('')}
  </div>`;
  if (dl.latest.length) {
    html += `<div class="group"><div class="group-head"><h3>last dead letters</h3><span class="note">${esc(dl.table)}</span></div>${table(
      ['reason', 'operator', 'from', 'record'],
      dl.latest.slice(0, 6).map((/** @type {any} */ d) => [`<span class="reason">${esc(d.reason)}</span>`, esc(d.operator), esc(`${shardName(d.shardId)} #…${String(d.sequenceNumber).slice(-6)}`), esc(String(d.data ?? '').slice(0, 60))]),
      ['wrap', 'mono', 'mono', 'mono wrap'],
    )}</div>`;
  }
  if (logged.late.length) {
    html += `<div class="group"><div class="group-head"><h3>last late records</h3><span class="note">every window they belong to had fired and closed</span></div>${table(
      ['stage', 'key', 'event time', 'from', 'seen'],
      logged.late.slice(0, 6).map((/** @type {any} */ l) => [esc(l.stage), esc(l.key ?? ''), time(l.eventTimeMs), esc(`${shardName(l.shardId)} #…${String(l.sequenceNumber).slice(-6)}`), shortTime(l.atMs)]),
      ['', '', 'mono', 'mono', 'mono'],
    )}</div>`;
  }
  if (!dl.latest.length && !logged.late.length) html += '<div class="empty">nothing late, nothing refused</div>';
  el.innerHTML = html;
}

// ---- wiring -------------------------------------------------------------------------------------
function renderSnapshot() {
  if (!snapshot) return;
  renderWatermarks();
  renderWindows();
  renderResults();
  renderProblems();
  updateSummary();
}

function connect() {
  const conn = $('conn');
  const events = new EventSource('/events');
  events.addEventListener('hello', (e) => {
    hello = JSON.parse(/** @type {MessageEvent} */ (e).data);
    history = hello.history;
    status = hello.status;
    snapshot = hello.snapshot;
    document.title = `${hello.job} · shardflow`;
    $('job').textContent = hello.job;
    $('foot').textContent = `edge ${hello.edgeUrl} · charts: up to the last 5 minutes, sampled every second · figures from the functions' EMF metrics (namespace shardflow), the event source mapping and the job's tables`;
    drawGraph();
    buildStageCards();
    updateGraph();
    updateStageCards();
    renderSnapshot();
    updateSummary();
    conn.dataset.state = 'live';
    conn.textContent = 'live';
  });
  events.addEventListener('sample', (e) => {
    if (!hello) return;
    const { sample, status: s } = JSON.parse(/** @type {MessageEvent} */ (e).data);
    history.push(sample);
    while (history.length && history[0].atMs < sample.atMs - MAX_WINDOW_MS) history.shift();
    status = s;
    updateGraph();
    updateStageCards();
    updateSummary();
  });
  events.addEventListener('snapshot', (e) => {
    snapshot = JSON.parse(/** @type {MessageEvent} */ (e).data);
    renderSnapshot();
  });
  events.onerror = () => {
    conn.dataset.state = 'lost';
    conn.textContent = 'reconnecting…';
  };
}

connect();
