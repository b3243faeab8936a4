// test-tier: quick
// The benchmark's SVG (bench/latency/svg.ts) keeps every label inside the
// picture: the right-hand panel's last tick label, long legends and footers.
// Widths are estimated at CHAR_EM per character, the bound svg.ts lays out by.
import t from 'tap';
import { CHAR_EM, renderSvg, type Curve, type Panel } from '../bench/latency/svg';

const SIZES: Record<string, number> = { title: 14, head: 18, sub: 11.5, tick: 11, axislabel: 11, leg: 11.5, note: 12 };

function curve(label: string, from: number, to: number): Curve {
  const points = [1, 50, 90, 99, 99.9, 100].map((percentile, i) => ({
    percentile,
    value: from * (to / from) ** (i / 5),
    count: 1,
  }));
  return { label, color: '#1f77b4', points, total: 100_000 };
}

// Panels whose last decade is 10 ms or 100 ms: the widest labels at the right edge.
const panels: Panel[] = [0, 1, 2, 3].map((i) => ({
  title: `panel ${i}`,
  subtitle: `a subtitle that goes on ${'and on '.repeat(20)}`,
  curves: [
    curve(`pinned, a legend label that is long ${'very '.repeat(20)}`, 150, 9_000_000),
    curve('paged', 200, i % 2 === 0 ? 90_000_000 : 9_000_000),
  ],
}));

t.test('every text of the SVG fits its width (the right-hand labels are not clipped)', (t) => {
  const svg = renderSvg({
    title: 'memlock: what pinning buys',
    subtitle: 'machine',
    panels,
    footer: [`Clock: rdtscp, floor 20 ns per sample (included, not subtracted). ${'x: latency '.repeat(40)}`],
  });
  const width = Number(/<svg [^>]*width="([\d.]+)"/.exec(svg)![1]);
  const texts = [...svg.matchAll(/<text x="([\d.]+)"[^>]*class="(\w+)"(?: text-anchor="(\w+)")?>([^<]*)<\/text>/g)];
  t.ok(texts.length > 40, `the texts are found (${texts.length})`);
  const ticks = texts.filter((m) => m[2] === 'tick' && /s$/.test(m[4]!));
  t.ok(
    ticks.some((m) => m[4] === '100 ms'),
    'the widest tick label is drawn',
  );
  for (const [, x, cls, anchor = 'start', text] of texts) {
    const extent = text!.replace(/&\w+;/g, '_').length * SIZES[cls!]! * CHAR_EM;
    const right = Number(x) + (anchor === 'start' ? extent : anchor === 'middle' ? extent / 2 : 0);
    const left = Number(x) - (anchor === 'end' ? extent : anchor === 'middle' ? extent / 2 : 0);
    if (right > width || left < 0)
      t.fail(`"${text}" (${cls}) spans ${left.toFixed(0)}..${right.toFixed(0)} of ${width}`);
  }
  t.pass('checked every text');
  t.end();
});
