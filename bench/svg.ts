/**
 * Small hand-written SVG charts for bench/REPORT.md: grouped bars and lines, linear or log axes. No
 * dependencies; the output is plain SVG text that renders on GitHub and in any browser.
 */

const WIDTH = 720;
const HEIGHT = 380;
const MARGIN = { top: 56, right: 24, bottom: 64, left: 84 };
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, sans-serif"';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A number for an axis label: 1.2k, 3.4M, 0.05. */
export function compact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9)}G`;
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e3) return `${trim(n / 1e3)}k`;
  return trim(n);
}
const trim = (n: number): string => String(Number(n.toPrecision(3)));

interface Axis {
  readonly min: number;
  readonly max: number;
  readonly log: boolean;
  readonly ticks: number[];
}

function axis(values: readonly number[], log: boolean, zeroBased: boolean): Axis {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let min = finite.length ? Math.min(...finite) : 0;
  let max = finite.length ? Math.max(...finite) : 1;
  if (log) {
    min = 10 ** Math.floor(Math.log10(min));
    max = 10 ** Math.ceil(Math.log10(max));
    if (min === max) max = min * 10;
    const ticks: number[] = [];
    for (let t = min; t <= max * 1.0001; t *= 10) ticks.push(t);
    return { min, max, log, ticks };
  }
  if (zeroBased) min = Math.min(0, min);
  if (min === max) max = min + 1;
  const step = niceStep((max - min) / 5);
  min = Math.floor(min / step) * step;
  max = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let t = min; t <= max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { min, max, log, ticks };
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

const scale = (a: Axis, v: number, from: number, to: number): number => {
  const t = a.log ? (Math.log10(v) - Math.log10(a.min)) / (Math.log10(a.max) - Math.log10(a.min)) : (v - a.min) / (a.max - a.min);
  return from + t * (to - from);
};

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" ${FONT} font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600">${esc(title)}</text>`,
    `<text x="${MARGIN.left + (WIDTH - MARGIN.left - MARGIN.right) / 2}" y="${HEIGHT - 12}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + (HEIGHT - MARGIN.top - MARGIN.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

function yGrid(y: Axis): string[] {
  const out: string[] = [];
  for (const t of y.ticks) {
    const py = scale(y, t, HEIGHT - MARGIN.bottom, MARGIN.top);
    out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py.toFixed(1)}" y2="${py.toFixed(1)}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${(py + 4).toFixed(1)}" text-anchor="end" fill="#374151">${compact(t)}</text>`);
  }
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${HEIGHT - MARGIN.bottom}" stroke="#9ca3af"/>`);
  out.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${HEIGHT - MARGIN.bottom}" y2="${HEIGHT - MARGIN.bottom}" stroke="#9ca3af"/>`);
  return out;
}

function legend(names: readonly string[]): string[] {
  const out: string[] = [];
  let x = MARGIN.left + 8;
  const y = 42;
  names.forEach((name, i) => {
    out.push(`<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${x + 16}" y="${y + 1}" fill="#111827">${esc(name)}</text>`);
    x += 28 + name.length * 6.6;
  });
  return out;
}

/** A horizontal line across the plot with a label (a target, a naive baseline). */
export interface Reference {
  readonly value: number;
  readonly label: string;
}

function reference(y: Axis, r: Reference): string[] {
  const py = scale(y, r.value, HEIGHT - MARGIN.bottom, MARGIN.top);
  return [
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${py.toFixed(1)}" y2="${py.toFixed(1)}" stroke="#111827" stroke-dasharray="6 4"/>`,
    `<text x="${WIDTH - MARGIN.right - 4}" y="${(py - 5).toFixed(1)}" text-anchor="end" fill="#111827">${esc(r.label)}</text>`,
  ];
}

/** Grouped bars: one group per category, one bar per series; optional error bars (min–max). */
export function barChart(opts: {
  title: string;
  categories: readonly string[];
  series: readonly { name: string; values: readonly number[]; min?: readonly number[]; max?: readonly number[] }[];
  xLabel: string;
  yLabel: string;
  logY?: boolean;
  references?: readonly Reference[];
}): string {
  const all = opts.series.flatMap((s) => [...s.values, ...(s.max ?? [])]).concat((opts.references ?? []).map((r) => r.value));
  const y = axis(all, opts.logY ?? false, true);
  const body = yGrid(y);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const groupW = plotW / opts.categories.length;
  const barW = (groupW * 0.8) / opts.series.length;
  const base = HEIGHT - MARGIN.bottom;
  opts.categories.forEach((c, ci) => {
    const gx = MARGIN.left + ci * groupW + groupW * 0.1;
    body.push(`<text x="${(MARGIN.left + ci * groupW + groupW / 2).toFixed(1)}" y="${base + 18}" text-anchor="middle" fill="#374151">${esc(c)}</text>`);
    opts.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined || !Number.isFinite(v) || (y.log && v <= 0)) return;
      const x = gx + si * barW;
      const top = scale(y, v, base, MARGIN.top);
      const bottom = y.log ? base : scale(y, Math.max(y.min, 0), base, MARGIN.top);
      body.push(`<rect x="${x.toFixed(1)}" y="${Math.min(top, bottom).toFixed(1)}" width="${(barW * 0.92).toFixed(1)}" height="${Math.abs(bottom - top).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name}, ${c}: ${v}`)}</title></rect>`);
      const lo = s.min?.[ci];
      const hi = s.max?.[ci];
      if (lo !== undefined && hi !== undefined && hi > lo) {
        const cx = x + (barW * 0.92) / 2;
        body.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${scale(y, lo, base, MARGIN.top).toFixed(1)}" y2="${scale(y, hi, base, MARGIN.top).toFixed(1)}" stroke="#111827"/>`);
      }
      body.push(`<text x="${(x + (barW * 0.92) / 2).toFixed(1)}" y="${(Math.min(top, bottom) - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="#111827">${compact(v)}</text>`);
    });
  });
  for (const r of opts.references ?? []) body.push(...reference(y, r));
  body.push(...legend(opts.series.map((s) => s.name)));
  return frame(opts.title, opts.xLabel, opts.yLabel, body);
}

/** Lines through points; x and y each linear or log. */
export function lineChart(opts: {
  title: string;
  series: readonly { name: string; points: readonly (readonly [number, number])[]; dashed?: boolean }[];
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  references?: readonly Reference[];
  /** Shaded x-ranges (e.g. "load on"). */
  bands?: readonly { from: number; to: number; label: string }[];
}): string {
  const xs = opts.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = opts.series.flatMap((s) => s.points.map((p) => p[1])).concat((opts.references ?? []).map((r) => r.value));
  const x = axis(xs, opts.logX ?? false, false);
  const y = axis(ys, opts.logY ?? false, true);
  const body: string[] = [];
  const base = HEIGHT - MARGIN.bottom;
  for (const b of opts.bands ?? []) {
    const x1 = scale(x, b.from, MARGIN.left, WIDTH - MARGIN.right);
    const x2 = scale(x, b.to, MARGIN.left, WIDTH - MARGIN.right);
    body.push(`<rect x="${x1.toFixed(1)}" y="${MARGIN.top}" width="${(x2 - x1).toFixed(1)}" height="${base - MARGIN.top}" fill="#fef3c7"/>`);
    body.push(`<text x="${((x1 + x2) / 2).toFixed(1)}" y="${MARGIN.top + 28}" text-anchor="middle" fill="#92400e">${esc(b.label)}</text>`);
  }
  body.push(...yGrid(y));
  for (const t of x.ticks) {
    const px = scale(x, t, MARGIN.left, WIDTH - MARGIN.right);
    body.push(`<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${base}" y2="${base + 5}" stroke="#9ca3af"/>`);
    body.push(`<text x="${px.toFixed(1)}" y="${base + 18}" text-anchor="middle" fill="#374151">${compact(t)}</text>`);
  }
  opts.series.forEach((s, i) => {
    const pts = s.points.filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py) && (!x.log || px > 0) && (!y.log || py > 0));
    if (pts.length === 0) return;
    const d = pts.map(([px, py], j) => `${j === 0 ? 'M' : 'L'}${scale(x, px, MARGIN.left, WIDTH - MARGIN.right).toFixed(1)} ${scale(y, py, base, MARGIN.top).toFixed(1)}`).join(' ');
    const color = COLORS[i % COLORS.length];
    body.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 4"' : ''}/>`);
    if (pts.length <= 30) {
      for (const [px, py] of pts) body.push(`<circle cx="${scale(x, px, MARGIN.left, WIDTH - MARGIN.right).toFixed(1)}" cy="${scale(y, py, base, MARGIN.top).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${s.name}: ${compact(px)} → ${compact(py)}`)}</title></circle>`);
    }
  });
  for (const r of opts.references ?? []) body.push(...reference(y, r));
  body.push(...legend(opts.series.map((s) => s.name)));
  return frame(opts.title, opts.xLabel, opts.yLabel, body);
}
