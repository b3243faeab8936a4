// Latency CDFs as SVG, the way latency people read them: x is latency on a
// log scale, y is the percentile on HdrHistogram's log(1 / (1 - p)) scale,
// so 90%, 99%, 99.9% ... are equally spaced and the tail gets the room.
// Plain SVG 1.1, no scripts or external fonts: opens in any browser.
import type { Point } from '../common/histogram';

export interface Curve {
  label: string;
  color: string;
  dashed?: boolean;
  points: Point[];
  /** Samples behind the curve: the top of the y axis it can reach. */
  total: number;
}

export interface Panel {
  title: string;
  subtitle: string;
  curves: Curve[];
  /** Shown instead of a plot. */
  skipped?: string;
}

export interface Figure {
  title: string;
  subtitle: string;
  panels: Panel[];
  footer: string[];
}

const W = 560; // panel
const H = 370;
const LEGEND_LINES = 4; // room under each plot
// right: half the widest tick label ("100 ms", centred on the last
// gridline) and a margin, so the right-hand panel's last label is not clipped.
const PAD = { left: 62, right: 34, top: 46, bottom: 46 + 15 * LEGEND_LINES };
const COLUMNS = 2;
const HEAD = 64;
const LINE = 15;
/** An upper bound of DejaVu Sans' average advance, in em: how many characters fit a width. */
export const CHAR_EM = 0.62;
const FOOTER_PX = 11.5;

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f = (v: number): string => v.toFixed(1);

function nsLabel(decade: number): string {
  const units = ['ns', 'us', 'ms', 's'];
  const unit = Math.min(Math.floor(decade / 3), units.length - 1);
  return `${10 ** (decade - unit * 3)} ${units[unit]}`;
}

// Greedy word wrap to lines of at most `width` characters.
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + word.length + 1 > width) {
      lines.push(line);
      line = '';
    }
    line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

// Cut to what fits `px` pixels at font size `size`, with an ellipsis.
function fit(text: string, px: number, size: number): string {
  const max = Math.floor(px / (size * CHAR_EM));
  return text.length <= max ? text : `${text.slice(0, max - 1)}\u2026`;
}

const Y_LABELS = ['0%', '90%', '99%', '99.9%', '99.99%', '99.999%', '99.9999%'];

function panel(p: Panel, x0: number, y0: number): string {
  const out: string[] = [];
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const left = x0 + PAD.left;
  const top = y0 + PAD.top;
  out.push(`<text x="${f(x0 + 8)}" y="${f(y0 + 18)}" class="title">${esc(p.title)}</text>`);
  out.push(`<text x="${f(x0 + 8)}" y="${f(y0 + 34)}" class="sub">${esc(fit(p.subtitle, W - 16, FOOTER_PX))}</text>`);
  out.push(`<rect x="${f(left)}" y="${f(top)}" width="${f(plotW)}" height="${f(plotH)}" class="frame"/>`);
  if (p.skipped !== undefined) {
    wrap(p.skipped, 62).forEach((l, row) =>
      out.push(`<text x="${f(left + 12)}" y="${f(top + 30 + LINE * row)}" class="note">${esc(l)}</text>`),
    );
    return out.join('\n');
  }

  // The x axis starts at the lowest 1st percentile, not the minimum: a few
  // samples clamped to 1 ns (a timer that fired early) would waste decades.
  const values = p.curves.flatMap((c) => c.points.map((pt) => pt.value)).filter((v) => v > 0);
  const firsts = p.curves.map((c) => c.points.find((pt) => pt.percentile >= 1)?.value ?? c.points[0]?.value ?? 1);
  const lo = Math.floor(Math.log10(Math.max(1, Math.min(...firsts))));
  let hi = Math.ceil(Math.log10(Math.max(...values)));
  if (hi - lo < 2) hi = lo + 2;
  const yTop = Math.min(6, Math.max(2, Math.ceil(Math.log10(Math.max(...p.curves.map((c) => c.total))))));
  const sx = (v: number): number => left + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * plotW;
  const sy = (y: number): number => top + plotH - (Math.min(y, yTop) / yTop) * plotH;

  for (let d = lo; d <= hi; d++) {
    const x = sx(10 ** d);
    out.push(`<line x1="${f(x)}" y1="${f(top)}" x2="${f(x)}" y2="${f(top + plotH)}" class="grid"/>`);
    out.push(`<text x="${f(x)}" y="${f(top + plotH + 16)}" class="tick" text-anchor="middle">${nsLabel(d)}</text>`);
    for (let m = 2; m < 10 && d < hi; m++) {
      const xm = sx(m * 10 ** d);
      out.push(`<line x1="${f(xm)}" y1="${f(top + plotH)}" x2="${f(xm)}" y2="${f(top + plotH - 4)}" class="axis"/>`);
    }
  }
  const yTicks: [number, string][] = [
    [Math.log10(2), '50%'],
    ...Array.from({ length: yTop + 1 }, (_, i) => [i, Y_LABELS[i]!] as [number, string]),
  ];
  for (const [y, label] of yTicks) {
    out.push(`<line x1="${f(left)}" y1="${f(sy(y))}" x2="${f(left + plotW)}" y2="${f(sy(y))}" class="grid"/>`);
    out.push(`<text x="${f(left - 6)}" y="${f(sy(y) + 4)}" class="tick" text-anchor="end">${label}</text>`);
  }
  out.push(
    `<text x="${f(left + plotW / 2)}" y="${f(top + plotH + 36)}" class="axislabel" text-anchor="middle">latency (log scale)</text>`,
  );
  out.push(
    `<text transform="translate(${f(x0 + 14)} ${f(top + plotH / 2)}) rotate(-90)" class="axislabel" text-anchor="middle">percentile</text>`,
  );

  for (const c of p.curves) {
    const pts = c.points.map((pt) => {
      // No curve can claim more than 1 in `total`: levels past that, and
      // the final 100%, sit at log10(total).
      const ceiling = Math.log10(c.total);
      const y = pt.percentile >= 100 ? ceiling : Math.min(ceiling, Math.log10(1 / (1 - pt.percentile / 100)));
      return `${f(sx(pt.value))},${f(sy(y))}`;
    });
    out.push(
      `<polyline points="${pts.join(' ')}" fill="none" stroke="${c.color}" stroke-width="${c.dashed ? 1.6 : 2.2}"` +
        `${c.dashed ? ' stroke-dasharray="6 4"' : ''} stroke-linejoin="round"/>`,
    );
  }
  // Legend under the plot: a CDF leaves no corner reliably empty.
  p.curves.slice(0, LEGEND_LINES).forEach((c, i) => {
    const y = top + plotH + 48 + LINE * i;
    out.push(
      `<line x1="${f(left)}" y1="${f(y)}" x2="${f(left + 24)}" y2="${f(y)}" stroke="${c.color}" stroke-width="2.2"${c.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${f(left + 30)}" y="${f(y + 4)}" class="leg">${esc(fit(c.label, plotW - 30, 11.5))}</text>`);
  });
  return out.join('\n');
}

export function renderSvg(fig: Figure): string {
  const rows = Math.ceil(fig.panels.length / COLUMNS);
  const width = W * COLUMNS;
  const footerLines = fig.footer.flatMap((l) => wrap(l, Math.floor((width - 20) / (FOOTER_PX * CHAR_EM))));
  const height = HEAD + rows * H + 16 + LINE * footerLines.length;
  const body = fig.panels.map((p, i) => panel(p, (i % COLUMNS) * W, HEAD + Math.floor(i / COLUMNS) * H));
  const footer = footerLines.map(
    (l, i) => `<text x="10" y="${f(HEAD + rows * H + 12 + LINE * i)}" class="sub">${esc(l)}</text>`,
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 14px; font-weight: bold; fill: #222; }
  .head { font-size: 18px; font-weight: bold; fill: #111; }
  .sub { font-size: ${FOOTER_PX}px; fill: #555; }
  .tick { font-size: 11px; fill: #444; }
  .axislabel { font-size: 11px; fill: #666; }
  .leg { font-size: 11.5px; fill: #222; }
  .note { font-size: 12px; fill: #666; }
  .frame { fill: none; stroke: #999; }
  .grid { stroke: #e4e4e4; }
  .axis { stroke: #999; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="26" class="head">${esc(fig.title)}</text>
<text x="10" y="46" class="sub">${esc(fig.subtitle)}</text>
${body.join('\n')}
${footer.join('\n')}
</svg>
`;
}
