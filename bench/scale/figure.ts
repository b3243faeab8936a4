// Cost against live locks as SVG: log x (live locks), log y (CPU time), one
// panel for per-call costs and one for whole-table calls, so a reader sees
// whether a cost is flat, logarithmic or linear (a slope of one decade per
// decade). Plain SVG 1.1, no scripts or external fonts.

export interface ScalePoint {
  live: number;
  lockFreshNs: number;
  rawMlockNs: number;
  releaseNs: number;
  releaseRandomNs: number;
  rawMunlockNs: number;
  rawMunlockRandomNs: number;
  relockHeldNs: number;
  releaseRelockNs: number;
  relockPairNs: number;
  /** One dependent random read in a table the registry's size at this many locks. */
  randomReadNs: number;
  locksMs: number;
  /** locksPage() of the oldest 10,000 (the paged form of locks()). */
  locksPageMs: number;
  verifyMs: number;
  statsUs: number;
}

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  ns: (p: ScalePoint) => number;
}

const PER_CALL: Series[] = [
  { label: 'lock() of a fresh page', color: '#1f77b4', ns: (p) => p.lockFreshNs },
  { label: 'raw mlock, same pages', color: '#1f77b4', dashed: true, ns: (p) => p.rawMlockNs },
  { label: 'release(), newest first', color: '#d62728', ns: (p) => p.releaseNs },
  { label: 'release(), random order', color: '#ff7f0e', ns: (p) => p.releaseRandomNs },
  { label: 'raw munlock, newest first', color: '#d62728', dashed: true, ns: (p) => p.rawMunlockNs },
  { label: 'raw munlock, random order', color: '#ff7f0e', dashed: true, ns: (p) => p.rawMunlockRandomNs },
  { label: 're-lock, handles held', color: '#2ca02c', ns: (p) => p.relockHeldNs },
  { label: 'release of a re-lock', color: '#9467bd', ns: (p) => p.releaseRelockNs },
  { label: 'lock().release() on a locked page', color: '#8c564b', ns: (p) => p.relockPairNs },
  { label: 'one random read, registry-sized table', color: '#7f7f7f', dashed: true, ns: (p) => p.randomReadNs },
];

const WHOLE_TABLE: Series[] = [
  { label: 'locks()', color: '#1f77b4', ns: (p) => p.locksMs * 1e6 },
  { label: 'locksPage(), 10k', color: '#1f77b4', dashed: true, ns: (p) => p.locksPageMs * 1e6 },
  { label: 'verify()', color: '#d62728', ns: (p) => p.verifyMs * 1e6 },
  { label: 'stats()', color: '#2ca02c', ns: (p) => p.statsUs * 1e3 },
];

const W = 560;
const H = 400;
const PAD = { left: 64, right: 16, top: 40, bottom: 56 + 15 * 10 };
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f = (v: number): string => v.toFixed(1);

function nsLabel(decade: number): string {
  const units = ['ns', 'us', 'ms', 's'];
  const unit = Math.min(Math.floor(decade / 3), units.length - 1);
  return `${10 ** (decade - unit * 3)} ${units[unit]}`;
}

const liveLabel = (decade: number): string =>
  decade >= 6 ? `${10 ** (decade - 6)}M` : decade >= 3 ? `${10 ** (decade - 3)}k` : String(10 ** decade);

function panel(title: string, series: Series[], points: ScalePoint[], x0: number): string {
  const values = series.flatMap((s) => points.map(s.ns)).filter((v) => v > 0);
  const yMin = Math.floor(Math.log10(Math.min(...values)));
  const yMax = Math.max(yMin + 1, Math.ceil(Math.log10(Math.max(...values))));
  const xMin = Math.floor(Math.log10(points[0]!.live));
  const xMax = Math.max(xMin + 1, Math.ceil(Math.log10(points.at(-1)!.live)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const px = (live: number): number => x0 + PAD.left + ((Math.log10(live) - xMin) / (xMax - xMin)) * plotW;
  const py = (ns: number): number => PAD.top + plotH - ((Math.log10(ns) - yMin) / (yMax - yMin)) * plotH;
  const out: string[] = [`<text x="${f(x0 + PAD.left)}" y="24" font-weight="bold">${esc(title)}</text>`];
  for (let d = yMin; d <= yMax; d++) {
    const y = py(10 ** d);
    out.push(`<line x1="${f(x0 + PAD.left)}" x2="${f(x0 + W - PAD.right)}" y1="${f(y)}" y2="${f(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${f(x0 + PAD.left - 6)}" y="${f(y + 4)}" text-anchor="end">${nsLabel(d)}</text>`);
  }
  for (let d = xMin; d <= xMax; d++) {
    const x = px(10 ** d);
    out.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${PAD.top}" y2="${f(PAD.top + plotH)}" stroke="#ddd"/>`);
    out.push(`<text x="${f(x)}" y="${f(PAD.top + plotH + 16)}" text-anchor="middle">${liveLabel(d)}</text>`);
  }
  out.push(
    `<text x="${f(x0 + PAD.left + plotW / 2)}" y="${f(PAD.top + plotH + 34)}" text-anchor="middle">live locks (log scale); y: CPU time per call (log scale)</text>`,
  );
  series.forEach((s, i) => {
    const path = points
      .filter((p) => s.ns(p) > 0)
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${f(px(p.live))},${f(py(s.ns(p)))}`)
      .join(' ');
    const dash = s.dashed === true ? ' stroke-dasharray="6 4"' : '';
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const p of points) {
      if (s.ns(p) > 0) out.push(`<circle cx="${f(px(p.live))}" cy="${f(py(s.ns(p)))}" r="2.5" fill="${s.color}"/>`);
    }
    const ly = PAD.top + plotH + 52 + i * 15;
    out.push(
      `<line x1="${f(x0 + PAD.left)}" x2="${f(x0 + PAD.left + 24)}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${f(x0 + PAD.left + 30)}" y="${ly}">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

export function scaleFigure(points: ScalePoint[], machine: string): string {
  const width = 2 * W;
  const height = H + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel('Per call: lock, release, re-lock', PER_CALL, points, 0),
    panel('Whole table: locks(), verify(), stats()', WHOLE_TABLE, points, W),
    `<text x="8" y="${height - 10}" fill="#555">${esc(`npm run bench:scale; ${machine}`)}</text>`,
    '</svg>',
  ].join('\n');
}
