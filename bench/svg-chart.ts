// Line charts as standalone SVG files: no dependencies, readable in any browser or markdown viewer.

export interface Series {
  label: string;
  color: string;
  /** [seconds since the storm, value] */
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  yLabel: string;
  width?: number;
  height?: number;
  /** Vertical markers, e.g. the storm and the end of the drain. */
  markers?: { x: number; label: string }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round step for about `n` ticks over [0, max]. */
function niceStep(max: number, n: number): number {
  const raw = Math.max(max, 1e-9) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

const fmt = (v: number) => (v >= 1e6 ? `${+(v / 1e6).toFixed(1)}M` : v >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toFixed(2)}`);

export function lineChart(series: Series[], opts: ChartOptions): string {
  const W = opts.width ?? 760;
  const H = opts.height ?? 260;
  const m = { left: 60, right: 16, top: 34, bottom: 42 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]), ...(opts.markers ?? []).map((mk) => mk.x));
  const yStep = niceStep(Math.max(0, ...all.map((p) => p[1])), 4);
  const yMax = Math.max(yStep, Math.ceil(Math.max(0, ...all.map((p) => p[1])) / yStep) * yStep);
  const xStep = niceStep(xMax, 8);
  const x = (v: number) => m.left + (v / xMax) * pw;
  const y = (v: number) => m.top + ph - (v / yMax) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${m.left}" y="18" font-size="13" font-weight="600" fill="#1d2330">${esc(opts.title)}</text>`,
  ];
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y(v)}" y2="${y(v)}" stroke="#eceef3"/>`);
    out.push(`<text x="${m.left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#6b7385">${fmt(v)}</text>`);
  }
  for (let v = 0; v <= xMax + 1e-9; v += xStep) {
    out.push(`<text x="${x(v)}" y="${H - m.bottom + 16}" text-anchor="middle" fill="#6b7385">${fmt(v)}</text>`);
  }
  out.push(`<text x="${m.left + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#6b7385">seconds since the storm</text>`);
  out.push(`<text x="14" y="${m.top + ph / 2}" text-anchor="middle" fill="#6b7385" transform="rotate(-90 14 ${m.top + ph / 2})">${esc(opts.yLabel)}</text>`);
  for (const mk of opts.markers ?? []) {
    out.push(`<line x1="${x(mk.x)}" x2="${x(mk.x)}" y1="${m.top}" y2="${m.top + ph}" stroke="#9aa3b5" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${x(mk.x) + 3}" y="${m.top + 10}" fill="#6b7385">${esc(mk.label)}</text>`);
  }
  let lx = W - m.right;
  for (const s of [...series].reverse()) {
    const w = 18 + s.label.length * 6;
    lx -= w;
    out.push(`<rect x="${lx}" y="10" width="10" height="3" fill="${s.color}"/><text x="${lx + 13}" y="15" fill="#1d2330">${esc(s.label)}</text>`);
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#d5d9e2"/>`, '</svg>');
  return out.join('\n');
}
