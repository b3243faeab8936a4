// memlock/prometheus: the paging metrics and the gauges for held locks,
// whole-process locking and secret memory, against the kernel's own figures.
// test-tier: quick
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Registry } from 'prom-client';
import { allocSecret, lock, monitorPaging, pressure, secretStats, stats } from '../src/index';
import { registerMetrics } from '../src/metrics/prometheus';
import { alignedPages } from './helpers/kernel';

async function scrape(registry: Registry): Promise<{ values: Map<string, number>; text: string }> {
  const text = await registry.metrics();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\S+) (\S+)$/.exec(line);
    if (match && !line.startsWith('#')) values.set(match[1]!, Number(match[2]));
  }
  return { values, text };
}

const NEW_METRICS = [
  'memlock_pressure_memory_waiting_seconds_total',
  'memlock_pressure_memory_stalled_seconds_total',
  'memlock_major_faults_total',
  'memlock_minor_faults_total',
  'memlock_event_loop_stalls_total',
  'memlock_pressure_events_total',
  'memlock_held_locks',
  'memlock_lock_all',
  'memlock_secrets',
  'memlock_secret_mapped_bytes',
  'memlock_secrets_by_backend',
  'memlock_kernel_swapped_bytes',
];

t.test('pressure, faults, held locks, lockAll and secrets, read at scrape time, each with HELP', async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  const held = lock(alignedPages(8));
  const secret = allocSecret(32);
  const before = pressure();
  const { values, text } = await scrape(registry);
  const after = pressure();
  for (const name of NEW_METRICS) {
    t.match(text, new RegExp(`^# HELP ${name} \\S`, 'm'), `${name} has HELP text`);
  }
  t.match(text, /^# TYPE memlock_pressure_memory_waiting_seconds_total counter$/m);
  t.match(text, /^# TYPE memlock_pressure_memory_stalled_seconds_total counter$/m);
  t.match(text, /^# TYPE memlock_major_faults_total counter$/m);
  if (before.source !== 'unavailable') {
    // node_exporter's and cAdvisor's names: waiting is PSI "some", stalled is "full".
    for (const [kind, name] of [
      ['some', 'waiting'],
      ['full', 'stalled'],
    ] as const) {
      const value = values.get(`memlock_pressure_memory_${name}_seconds_total{source="${before.source}"}`);
      t.ok(
        value !== undefined && value >= before[kind]!.totalUs / 1e6 && value <= after[kind]!.totalUs / 1e6,
        `${kind}: the PSI total in seconds (${value})`,
      );
    }
  }
  const major = values.get('memlock_major_faults_total')!;
  const minor = values.get('memlock_minor_faults_total')!;
  t.ok(major >= before.majorFaults && major <= after.majorFaults, 'major faults of this process');
  t.ok(minor >= before.minorFaults && minor <= after.minorFaults, 'minor faults of this process');
  for (const cause of ['paging', 'migration', 'gc', 'cpu', 'host', 'unknown']) {
    t.equal(values.get(`memlock_event_loop_stalls_total{cause="${cause}"}`), 0, `stalls{cause="${cause}"} starts at 0`);
  }
  t.equal(values.get('memlock_held_locks'), stats().heldLocks);
  t.ok(values.get('memlock_held_locks')! >= 1);
  for (const flag of ['current', 'future', 'on_fault'])
    t.equal(values.get(`memlock_lock_all{flag="${flag}"}`), 0, `lock_all{flag="${flag}"}`);
  t.equal(values.get('memlock_secrets'), secretStats().live);
  t.ok(values.get('memlock_secrets')! >= 1);
  t.equal(values.get('memlock_secret_mapped_bytes'), secretStats().mappedBytes);
  t.ok(values.get('memlock_secret_mapped_bytes')! > 0);
  const live = secretStats();
  t.equal(values.get('memlock_secrets_by_backend{backend="secretmem"}'), live.secretmemLive, 'secrets by backend');
  t.equal(values.get('memlock_secrets_by_backend{backend="mlock"}'), live.live - live.secretmemLive - live.v8HeapLive);
  t.equal(values.get('memlock_secrets_by_backend{backend="v8-heap"}'), live.v8HeapLive, 'at 0 without a V8 sandbox');
  t.equal(values.get('memlock_kernel_swapped_bytes'), after.vmSwapBytes);
  held.release();
  secret.free();
  t.equal(
    (await scrape(registry)).values.get('memlock_held_locks'),
    stats().heldLocks,
    'read again at the next scrape',
  );
});

t.test('an attributed stall counts under its cause', async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  using monitor = monitorPaging({ pressure: false });
  // The monitor never keeps the process alive; this test does, until the stall is in.
  const alive = setTimeout(() => {}, 60_000);
  t.teardown(() => clearTimeout(alive));
  const seen = new Promise((resolve) => monitor.once('stall', resolve));
  await sleep(50);
  const until = performance.now() + 200;
  while (performance.now() < until);
  const report = (await seen) as { verdict: string };
  const { values } = await scrape(registry);
  t.equal(
    values.get(`memlock_event_loop_stalls_total{cause="${report.verdict}"}`),
    1,
    `one stall, cause ${report.verdict}`,
  );
});
