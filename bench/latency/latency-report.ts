// bench/latency/latency.ts's text output and goal checks.
import os from 'node:os';
import type { Goal, LatencyReport, ScenarioResult, SideResult, VariantResult } from './latency-types';
import { METRICS } from './latency-types';
import { count, duration, heading, ratio, table, verdict } from '../common/report';

function sideRow(label: string, name: string, s: SideResult): string[] {
  const m = s.summary;
  return [
    label,
    name,
    count(s.accesses),
    duration(m.p50),
    duration(m.p90),
    duration(m.p99),
    duration(m.p999),
    duration(m.max),
    duration(m.mean),
    count(s.majorFaults),
    count(s.minorFaults),
  ];
}

function printScenario(s: ScenarioResult): void {
  console.log(`\n${heading(s.title)}`);
  if (s.status === 'skipped') {
    console.log(`  skipped: ${s.reason}`);
    return;
  }
  const rows: string[][] = [];
  const main = s.variants[0]!;
  for (const v of s.variants) {
    if (v !== main && !v.differs) continue;
    rows.push(sideRow(v.label, 'pinned', v.pinned), sideRow('', 'paged', v.paged));
    rows.push(['', 'pinned/paged', '', ...METRICS.map((m) => ratio(v.ratio[m])), '', '']);
  }
  console.log(
    table(
      ['variant', 'buffer', 'accesses', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'major faults', 'minor faults'],
      rows,
      [false, false, true, true, true, true, true, true, true, true, true],
    ),
  );
  for (const v of s.variants) {
    if (v !== main && !v.differs)
      console.log(`  ${v.label}: within 25% of ${main.label} (p50, p99, major faults); see --json`);
  }
  for (const note of s.notes) console.log(`  ${note}`);
}

export function evictionNote(v: VariantResult): string {
  const e = v.eviction!;
  const pinned =
    e.pinnedPageoutErrno === 22
      ? 'MADV_PAGEOUT refused (EINVAL: locked)'
      : `MADV_PAGEOUT returned ${-e.pinnedPageoutErrno}`;
  return (
    `${v.label}: before timing (mincore), paged ${count(v.paged.pages - e.pagedResident)}/${count(v.paged.pages)} pages ` +
    `evicted (${e.passes} MADV_PAGEOUT pass${e.passes > 1 ? 'es' : ''}); pinned ${count(e.pinnedResident)}/` +
    `${count(v.pinned.pages)} resident, ${pinned}`
  );
}

export function goals(scenarios: ScenarioResult[]): Goal[] {
  const out: Goal[] = [];
  const main = (id: ScenarioResult['id']): VariantResult | null => {
    const s = scenarios.find((x) => x.id === id);
    return s?.status === 'measured' ? s.variants[0]! : null;
  };
  const file = main('file');
  if (file) {
    out.push({
      name: 'file-backed eviction: pinned p99.9 < 1 us',
      met: file.pinned.summary.p999 < 1000,
      value: duration(file.pinned.summary.p999),
    });
    out.push({
      name: 'file-backed eviction: paged p50 > 10 us',
      met: file.paged.summary.p50 > 10_000,
      value: duration(file.paged.summary.p50),
    });
  }
  const touch = main('first-touch');
  if (touch) {
    // "Near" the ~1 us a minor fault costs here: within a factor of 2.
    out.push({
      name: 'first touch: paged p50 near 1 us (0.5-2 us)',
      met: touch.paged.summary.p50 >= 500 && touch.paged.summary.p50 <= 2000,
      value: duration(touch.paged.summary.p50),
    });
    out.push({
      name: 'first touch: pinned p50 < 100 ns',
      met: touch.pinned.summary.p50 < 100,
      value: duration(touch.pinned.summary.p50),
    });
  }
  return out;
}

export function printLatency(r: LatencyReport): void {
  const c = r.clock;
  const floor = c.name === 'rdtscp' ? c.floor.rdtscp! : c.floor.clockGettime;
  console.log(heading('\nmemlock latency: per-page access time, pinned (memlock lock()) against paged'));
  console.log(
    `clock: ${
      c.name === 'rdtscp'
        ? `rdtscp, TSC ${c.tscGhz!.toFixed(3)} GHz calibrated against CLOCK_MONOTONIC, advancing in ${c.tscStepNs!.toFixed(1)} ns steps here`
        : 'clock_gettime(CLOCK_MONOTONIC)'
    }; floor (two reads back to back): ${duration(floor.p50)} p50, ${duration(floor.p99)} p99.`,
  );
  console.log(
    `  Every sample includes the floor; nothing is subtracted. Other clock's floor: ${
      c.name === 'rdtscp'
        ? `clock_gettime ${duration(c.floor.clockGettime.p50)}`
        : c.floor.rdtscp
          ? `rdtscp ${duration(c.floor.rdtscp.p50)}`
          : 'none (no rdtscp)'
    } p50.`,
  );
  console.log(
    '  Samples go into perf_hooks histograms as whole ns (3 significant figures; a value under 1 ns would be\n' +
      "  recorded as 1). Faults are the timing thread's own (getrusage RUSAGE_THREAD) over the timed accesses.",
  );
  for (const s of r.scenarios) printScenario(s);
  const clamped = r.scenarios
    .flatMap((s) => s.variants)
    .reduce((n, v) => n + v.pinned.summary.clamped + v.paged.summary.clamped, 0);
  const migrations = r.scenarios
    .flatMap((s) => s.variants)
    .reduce((n, v) => n + v.pinned.migrations + v.paged.migrations, 0);
  const preempted = r.scenarios
    .flatMap((s) => s.variants)
    .reduce((n, v) => n + v.pinned.involuntarySwitches + v.paged.involuntarySwitches, 0);
  console.log(
    `\nnoise: the timing thread was preempted ${count(preempted)} times while timing (each turns one sample into up to ` +
      'milliseconds: the max column); load average now ' +
      `${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}.`,
  );
  if (clamped > 0) console.log(`${count(clamped)} samples under 1 ns were recorded as 1 ns.`);
  if (migrations > 0)
    console.log(`${count(migrations)} samples straddled a CPU migration (kept: the TSC is synchronized across CPUs).`);
  console.log(`\nGoals (latency, ${r.seconds.toFixed(1)} s):`);
  for (const g of r.goals) console.log(`  ${g.name}: ${verdict(g.met)} (${g.value})`);
}
