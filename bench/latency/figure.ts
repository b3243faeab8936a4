// The picture: one CDF panel per latency scenario and per jitter view,
// pinned against paged, from the reports of bench/latency/latency.ts and bench/latency/jitter.ts.
import type { Point, Recorded } from '../common/histogram';
import type { JitterReport } from './jitter';
import type { JitterRun } from './jitter-child';
import type { LatencyReport, SideResult, VariantResult } from './latency-types';
import { duration } from '../common/report';
import { renderSvg, type Curve, type Panel } from './svg';

const PINNED = '#1f6fb4';
const PAGED = '#d9480f';

const stats = (s: { summary: { p50: number; p999: number } }): string =>
  `p50 ${duration(s.summary.p50)}, p99.9 ${duration(s.summary.p999)}`;

function curve(label: string, color: string, side: SideResult | Recorded, dashed = false): Curve {
  const points: Point[] = side.distribution;
  return { label: `${label}: ${stats(side)}`, color, dashed, points, total: side.summary.count };
}

function latencyPanels(r: LatencyReport): Panel[] {
  return r.scenarios.map((s) => {
    const name = { 'first-touch': 'First touch', file: 'Evicted, file-backed', anon: 'Evicted, anonymous (swap)' }[
      s.id
    ];
    if (s.status === 'skipped') return { title: name, subtitle: 'skipped', curves: [], skipped: s.reason ?? '' };
    const main = s.variants[0]!;
    const curves = [curve('pinned', PINNED, main.pinned), curve('paged', PAGED, main.paged)];
    // One dashed curve for what the main variant hides: readahead for the
    // evicted scenarios, a region larger than the caches for first touch.
    const extra: VariantResult | undefined =
      s.id === 'first-touch'
        ? s.variants.find((v) => v.id === 'random-64mib')
        : s.variants.find((v) => v.id === 'sequential');
    if (extra && s.id === 'first-touch') curves.push(curve('pinned, 64 MiB regions', PINNED, extra.pinned, true));
    if (extra && s.id !== 'first-touch') curves.push(curve('paged, sequential', PAGED, extra.paged, true));
    const access = s.access === 'write' ? 'one write per page' : 'one read per page';
    return {
      title: name,
      subtitle: `${main.label}, ${access}, ${main.pinned.accesses.toLocaleString('en-US')} accesses per curve`,
      curves,
    };
  });
}

function jitterPanels(j: JitterReport): Panel[] {
  const run = (mode: 'paged' | 'pinned'): JitterRun | null => {
    const found = j.runs.find((x) => x.mode === mode && x.pressure);
    return found && !('error' in found) ? found : null;
  };
  const paged = run('paged');
  const pinned = run('pinned');
  if (!paged || !pinned) {
    return [
      {
        title: 'Jitter under pressure',
        subtitle: 'not measured',
        curves: [],
        skipped: 'a jitter run failed: see the text output',
      },
    ];
  }
  const wake = (r: JitterRun, w: 'setTimeout' | 'busy-wait') => r.wakes.find((x) => x.wake === w)!;
  const every = `every ${j.config.intervalUs} us, pressure every ${j.config.pressurePeriodMs} ms`;
  return [
    {
      title: 'Jitter under pressure: wake lateness',
      subtitle: `${every}; pinned = lockAll`,
      curves: [
        curve('pinned, busy-wait', PINNED, wake(pinned, 'busy-wait').lateness),
        curve('paged, busy-wait', PAGED, wake(paged, 'busy-wait').lateness),
        curve('pinned, setTimeout', PINNED, wake(pinned, 'setTimeout').lateness, true),
        curve('paged, setTimeout', PAGED, wake(paged, 'setTimeout').lateness, true),
      ],
    },
    {
      title: 'Jitter under pressure: work per cycle',
      subtitle: `reading ${j.config.wsBytes / 2 ** 20} MiB of file mapping, ${every}`,
      curves: [
        curve('pinned, busy-wait', PINNED, wake(pinned, 'busy-wait').work),
        curve('paged, busy-wait', PAGED, wake(paged, 'busy-wait').work),
        curve('pinned, setTimeout', PINNED, wake(pinned, 'setTimeout').work, true),
        curve('paged, setTimeout', PAGED, wake(paged, 'setTimeout').work, true),
      ],
    },
  ];
}

export function figure(latency: LatencyReport | null, jitter: JitterReport | null, machine: string): string {
  // Skipped scenarios get a footer line, not an empty panel.
  const all = [...(latency ? latencyPanels(latency) : []), ...(jitter ? jitterPanels(jitter) : [])];
  const panels = all.filter((p) => p.skipped === undefined);
  const skipped = all.filter((p) => p.skipped !== undefined).map((p) => `${p.title}: skipped: ${p.skipped}`);
  const clock = latency
    ? `Clock: ${latency.clock.name}, floor ${duration(
        (latency.clock.name === 'rdtscp' ? latency.clock.floor.rdtscp! : latency.clock.floor.clockGettime).p50,
      )} per sample (included, not subtracted). `
    : '';
  return renderSvg({
    title: 'memlock: what pinning buys, latency CDFs, pinned (blue) against paged (orange)',
    subtitle: machine,
    panels,
    footer: [
      `${clock}x: latency, log scale; y: percentile on a log(1/(1-p)) scale. Dashed: the variant named in its legend.`,
      'Pinned: memlock lock() of the buffer (latency) or lockAll() of the process (jitter). Produced by npm run bench -- --svg FILE.',
      ...skipped,
    ],
  });
}
