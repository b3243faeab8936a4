// The shapes bench/latency/latency.ts measures into and reports from (and --json holds).
import type { Point, Summary } from '../common/histogram';

export interface LatencyConfig {
  full: boolean;
  /** Where the file-backed scenario's files go (removed at cleanup). */
  dir: string;
  seed: number;
  clock: 'auto' | 'rdtscp' | 'clock_gettime';
  /** Make a temporary swapfile here for the anonymous scenario (root only); null: use what swap there is. */
  swapfile: string | null;
  swapSize: string;
  /** read_ahead_kb of the device under `dir`, for the report; null if unknown. */
  readAheadKb: number | null;
}

export interface ClockReport {
  name: 'rdtscp' | 'clock_gettime';
  tscGhz: number | null;
  /** The smallest advance of the TSC between two reads; null without rdtscp. */
  tscStepNs: number | null;
  /** Two reads back to back, ns: what every sample includes besides the access. */
  floor: { rdtscp: Summary | null; clockGettime: Summary };
}

export interface SideResult {
  accesses: number;
  summary: Summary;
  distribution: Point[];
  majorFaults: number;
  minorFaults: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
  /** Samples whose two clock reads ran on different CPUs (rdtscp only). */
  migrations: number;
  /** Pages resident before timing (mincore), summed over rounds, of `pages`. */
  residentBefore: number;
  pages: number;
}

export type Metric = 'p50' | 'p90' | 'p99' | 'p999' | 'max' | 'mean';
export const METRICS: Metric[] = ['p50', 'p90', 'p99', 'p999', 'max', 'mean'];

/** One way of touching a buffer: page order, madvise advice, region size. */
export interface VariantSpec {
  id: string;
  label: string;
  order: 'random' | 'sequential';
  advice: 'random' | 'normal';
  regionBytes: number;
  rounds: number;
}

export interface VariantResult extends VariantSpec {
  pinned: SideResult;
  paged: SideResult;
  /** pinned / paged, per metric. */
  ratio: Record<Metric, number>;
  /** Differs from the scenario's first variant (see differs()); printed in full only then. */
  differs: boolean;
  /** What eviction did before timing (evicted scenarios). */
  eviction: { passes: number; pagedResident: number; pinnedPageoutErrno: number; pinnedResident: number } | null;
}

export interface ScenarioResult {
  id: 'first-touch' | 'file' | 'anon';
  title: string;
  access: 'read' | 'write';
  status: 'measured' | 'skipped';
  reason: string | null;
  variants: VariantResult[];
  notes: string[];
}

export interface Goal {
  name: string;
  met: boolean;
  value: string;
}

export interface LatencyReport {
  clock: ClockReport;
  config: { full: boolean; seed: number };
  scenarios: ScenarioResult[];
  goals: Goal[];
  seconds: number;
}
