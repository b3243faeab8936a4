// Latency samples into Node's HDR histograms (perf_hooks), and out again as
// a summary, a percentile distribution (for plots) and HdrHistogram's .hgrm
// text, the format latency tools already read.
import { createHistogram } from 'node:perf_hooks';

/** Every figure in ns. */
export interface Summary {
  count: number;
  min: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Samples below 1 ns recorded as 1 (the histogram takes integers >= 1). */
  clamped: number;
}

/** One step of the percentile distribution: `count` samples are <= `value` ns. */
export interface Point {
  value: number;
  /** 0..100 */
  percentile: number;
  count: number;
}

export interface Recorded {
  summary: Summary;
  distribution: Point[];
}

// The histogram's defaults (lowest 1, highest 2^53 - 1, 3 significant
// figures: values are kept to within 0.1%); the .hgrm footer names them.
const FIGURES = 3;
const HIGHEST = Number.MAX_SAFE_INTEGER;

/** Records ns samples (rounded to whole ns, < 1 clamped to 1) and summarizes them. */
export function record(samples: ArrayLike<number>): Recorded {
  const h = createHistogram({ figures: FIGURES });
  const ints = new Float64Array(samples.length);
  let clamped = 0;
  for (let i = 0; i < samples.length; i++) {
    let v = Math.round(samples[i]!);
    if (v < 1) {
      v = 1;
      clamped++;
    }
    ints[i] = v;
    h.record(v);
  }
  if (h.count === 0) {
    const empty = { count: 0, min: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, clamped: 0 };
    return { summary: empty, distribution: [] };
  }
  ints.sort();
  const summary = summaryOf(h, clamped);
  return { summary, distribution: percentileSteps(h, ints) };
}

// Number of sorted values <= v.
function countAtOrBelow(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// HdrHistogram's percentile iteration, 5 ticks per half distance: levels
// 0, 10, ... 50, 55, ... 75, 77.5, ... ever closer to 100, until every
// sample is counted, then 100 at the maximum. Values are the histogram's
// (the highest value its bucket stands for); counts come from the samples.
function percentileSteps(h: ReturnType<typeof createHistogram>, sorted: Float64Array): Point[] {
  const total = sorted.length;
  const points: Point[] = [];
  let level = 0;
  for (let i = 0; i < 10_000; i++) {
    // Level 0 as HdrHistogram reports it: the top of the lowest bucket (Node
    // rejects percentile(0), and h.min is the bottom of that bucket).
    const value = h.percentile(level === 0 ? 1e-9 : level);
    const count = countAtOrBelow(sorted, value);
    points.push({ value, percentile: level, count });
    if (count >= total) break;
    const ticks = 5 * 2 ** (Math.floor(Math.log2(100 / (100 - level))) + 1);
    level += 100 / ticks;
  }
  points.push({ value: h.max, percentile: 100, count: total });
  return points;
}

// HdrHistogram's bucket count for these settings, for the .hgrm footer.
function bucketsFor(): { buckets: number; subBuckets: number } {
  const subBuckets = 2 ** Math.ceil(Math.log2(2 * 10 ** FIGURES));
  let smallestUntrackable = subBuckets;
  let buckets = 1;
  while (smallestUntrackable <= HIGHEST) {
    if (smallestUntrackable > Number.MAX_SAFE_INTEGER / 2) {
      buckets++;
      break;
    }
    smallestUntrackable *= 2;
    buckets++;
  }
  return { buckets, subBuckets };
}

/**
 * The distribution as HdrHistogram's outputPercentileDistribution writes it,
 * values divided by `unitNs` (1000: microseconds, what its plotter expects
 * by default as "latency").
 */
export function hgrm(rec: Recorded, unitNs = 1000): string {
  const v = (ns: number): string => (ns / unitNs).toFixed(3).padStart(12);
  const lines = [
    `${'Value'.padStart(12)} ${'Percentile'.padStart(14)} ${'TotalCount'.padStart(10)} ${'1/(1-Percentile)'.padStart(14)}`,
    '',
  ];
  for (const p of rec.distribution) {
    const fraction = p.percentile / 100;
    const head = `${v(p.value)} ${fraction.toFixed(12).padStart(14)} ${String(p.count).padStart(10)}`;
    lines.push(fraction < 1 ? `${head} ${(1 / (1 - fraction)).toFixed(2).padStart(14)}` : head);
  }
  const s = rec.summary;
  const { buckets, subBuckets } = bucketsFor();
  const f = (x: number): string => x.toFixed(3).padStart(12);
  lines.push(
    `#[Mean    = ${f(s.mean / unitNs)}, StdDeviation   = ${f(s.stddev / unitNs)}]`,
    `#[Max     = ${f(s.max / unitNs)}, Total count    = ${String(s.count).padStart(12)}]`,
    `#[Buckets = ${String(buckets).padStart(12)}, SubBuckets     = ${String(subBuckets).padStart(12)}]`,
  );
  return `${lines.join('\n')}\n`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A histogram's summary figures (`clamped`: samples recorded at a bound). */
export function summaryOf(h: ReturnType<typeof createHistogram>, clamped: number): Summary {
  return {
    count: h.count,
    min: h.min,
    mean: h.mean,
    stddev: h.stddev,
    p50: h.percentile(50),
    p90: h.percentile(90),
    p99: h.percentile(99),
    p999: h.percentile(99.9),
    max: h.max,
    clamped,
  };
}
