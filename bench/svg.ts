/**
 * Small self-contained SVG line charts for bench/RESULTS.md: log or linear axes, one colour
 * and marker per series, a legend. No dependencies, so the charts render on GitHub as files.
 */

export interface Series {
  label: string;
  points: [number, number][];
  dashed?: boolean;
  /** Series with the same key share a colour (e.g. p50 and p99 of one transport). */
  colourKey?: string;
}

export interface Panel {
  title: string;
  x: { label: string; log?: boolean };
  y: { label: string; log?: boolean; unit?: string };
  series: Series[];
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Round tick values: powers of ten on a log axis, 1-2-5 steps on a linear one. */
function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out;
  }
  const span = hi - lo || 1;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step / 2; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

export function formatTick(v: number, unit = ''): string {
  const si = (x: number, s: string) => `${Number(x.toPrecision(3))}${s}`;
  if (unit === 'ns') {
    if (v >= 1e9) return si(v / 1e9, ' s');
    if (v >= 1e6) return si(v / 1e6, ' ms');
    if (v >= 1e3) return si(v / 1e3, ' µs');
    return si(v, ' ns');
  }
  if (v >= 1e6) return si(v / 1e6, 'M');
  if (v >= 1e3) return si(v / 1e3, 'k');
  return `${Number(v.toPrecision(3))}${unit ? ` ${unit}` : ''}`;
}

function panel(p: Panel, ox: number, oy: number, w: number, h: number, colourOf: (label: string) => string): string {
  const m = { l: 64, r: 12, t: 26, b: 42 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => y);
  const xt = ticks(Math.min(...xs), Math.max(...xs), Boolean(p.x.log));
  const yt = ticks(p.y.log ? Math.min(...ys) : 0, Math.max(...ys), Boolean(p.y.log));
  const [x0, x1] = p.x.log ? [Math.min(...xs), Math.max(...xs)] : [xt[0] as number, xt.at(-1) as number];
  const [y0, y1] = [yt[0] as number, yt.at(-1) as number];
  const f = (v: number, lo: number, hi: number, log: boolean) =>
    log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1) : (v - lo) / (hi - lo || 1);
  const X = (v: number) => ox + m.l + f(v, x0, x1, Boolean(p.x.log)) * pw;
  const Y = (v: number) => oy + m.t + ph - f(v, y0, y1, Boolean(p.y.log)) * ph;
  const out: string[] = [];
  out.push(`<text x="${ox + m.l + pw / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  for (const t of yt) {
    out.push(`<line x1="${ox + m.l}" x2="${ox + m.l + pw}" y1="${Y(t)}" y2="${Y(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${ox + m.l - 6}" y="${Y(t) + 4}" text-anchor="end">${esc(formatTick(t, p.y.unit))}</text>`);
  }
  for (const t of xt.filter((t) => t >= x0 && t <= x1)) {
    out.push(`<line x1="${X(t)}" x2="${X(t)}" y1="${oy + m.t}" y2="${oy + m.t + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${X(t)}" y="${oy + m.t + ph + 16}" text-anchor="middle">${esc(formatTick(t))}</text>`);
  }
  out.push(`<rect x="${ox + m.l}" y="${oy + m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${ox + m.l + pw / 2}" y="${oy + h - 6}" text-anchor="middle">${esc(p.x.label)}</text>`);
  out.push(
    `<text transform="translate(${ox + 14},${oy + m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(p.y.label)}${p.y.log ? ' (log)' : ''}</text>`,
  );
  for (const s of p.series) {
    const c = colourOf(s.colourKey ?? s.label);
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (!ok.length) continue;
    const d = ok.map(([x, y], i) => `${i ? 'L' : 'M'}${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    for (const [x, y] of ok) out.push(`<circle cx="${X(x).toFixed(1)}" cy="${Y(y).toFixed(1)}" r="3" fill="${c}"/>`);
  }
  return out.join('\n');
}

/** Panels in a grid (`columns` wide) with one legend for every series label. */
export function chart(title: string, panels: Panel[], columns = 2, cell = { w: 440, h: 300 }): string {
  const all = panels.flatMap((p) => p.series);
  const labels = [...new Set(all.map((s) => s.label))];
  const keys = [...new Set(all.map((s) => s.colourKey ?? s.label))];
  const dashed = new Set(all.filter((s) => s.dashed).map((s) => s.label));
  const keyOf = new Map(all.map((s) => [s.label, s.colourKey ?? s.label]));
  const colourOf = (k: string) => COLOURS[keys.indexOf(keyOf.get(k) ?? k) % COLOURS.length] as string;
  const rows = Math.ceil(panels.length / columns);
  const legendRows = Math.ceil(labels.length / 2);
  const W = cell.w * Math.min(columns, panels.length);
  const top = 30;
  const H = top + rows * cell.h + 16 + legendRows * 18;
  const body = panels.map((p, i) => panel(p, (i % columns) * cell.w, top + Math.floor(i / columns) * cell.h, cell.w, cell.h, colourOf));
  const legend = labels.map((l, i) => {
    const x = 20 + (i % 2) * (W / 2);
    const y = top + rows * cell.h + 14 + Math.floor(i / 2) * 18;
    return `<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${colourOf(l)}" stroke-width="3"${dashed.has(l) ? ' stroke-dasharray="5,3"' : ''}/><text x="${x + 30}" y="${y}">${esc(l)}</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    ...body,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
