// memlock/otel: memlock's measurements through @opentelemetry/api observable
// instruments, read by the real SDK (@opentelemetry/sdk-metrics: a
// PeriodicExportingMetricReader into an InMemoryMetricExporter, flushed on
// demand), against memlock's stats and the kernel's own figures.
// test-tier: quick
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { readFileSync } from 'node:fs';
import { kbField } from '../src/proc';
import {
  allocPinned,
  capabilities,
  allocSecret,
  getLockablePageLimit,
  lock,
  monitorPaging,
  pinnedStats,
  pressure,
  secretStats,
  setLockablePageLimit,
  stats,
} from '../src/index';
import { registerOtelMetrics } from '../src/metrics/otel';
import { alignedPages, vmLockedBytes } from './helpers/kernel';
import { needs } from './helpers/capability';

interface Sdk {
  provider: MeterProvider;
  collect: () => Promise<Map<string, MetricData>>;
}

function sdk(t: Test): Sdk {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when flushed: the test decides when a collection happens.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  t.teardown(() => provider.shutdown());
  return {
    provider,
    collect: async () => {
      exporter.reset();
      await reader.forceFlush();
      const exported = exporter.getMetrics();
      const all = exported.flatMap((resource) => resource.scopeMetrics.flatMap((scope) => scope.metrics));
      return new Map(all.map((metric) => [metric.descriptor.name, metric]));
    },
  };
}

/** The one data point of `name` whose attributes include `attributes`. */
function point(collected: Map<string, MetricData>, name: string, attributes: Record<string, string> = {}) {
  const metric = collected.get(name);
  const points = (metric?.dataPoints ?? []) as { attributes: Record<string, unknown>; value: number }[];
  const found = points.filter((p) => Object.entries(attributes).every(([key, value]) => p.attributes[key] === value));
  return found.length === 1 ? found[0]!.value : undefined;
}

const UNITS: Record<string, [string, 'updown' | 'gauge' | 'counter']> = {
  'memlock.locked.pages': ['{page}', 'updown'],
  'memlock.locked.size': ['By', 'updown'],
  'memlock.sticky.pages': ['{page}', 'updown'],
  'memlock.lock.count': ['{lock}', 'updown'],
  'memlock.secret.count': ['{secret}', 'updown'],
  'memlock.secret.mapped_size': ['By', 'updown'],
  'memlock.pinned.count': ['{buffer}', 'updown'],
  'memlock.pinned.mapped_size': ['By', 'updown'],
  'memlock.locked.limit': ['{page}', 'gauge'],
  'memlock.lock_all.enabled': ['1', 'gauge'],
  'memlock.paging.faults': ['{fault}', 'counter'],
  'memlock.lock.refusals': ['{refusal}', 'counter'],
  'memlock.event_loop.stalls': ['{stall}', 'counter'],
  'memlock.pressure.events': ['{event}', 'counter'],
};

t.test('the instruments, their units and kinds, and values read at collection', async (t) => {
  const { provider, collect } = sdk(t);
  using _metrics = registerOtelMetrics({ meter: provider.getMeter('test') });
  const held = lock(alignedPages(32));
  const secret = allocSecret(32);
  const pinned = allocPinned(8 * 4096);
  t.teardown(() => {
    held.release();
    secret.free();
    pinned.free();
  });
  // PSI where the backend reads it (Linux); faults from Node, everywhere.
  const psi = capabilities().pagingMonitor;
  const [before, usageBefore] = [psi ? pressure() : undefined, process.resourceUsage()];
  const collected = await collect();
  const [after, usageAfter] = [psi ? pressure() : undefined, process.resourceUsage()];

  for (const [name, [unit, kind]] of Object.entries(UNITS)) {
    const metric = collected.get(name);
    t.ok(metric, `${name} is collected`);
    if (!metric) continue;
    t.equal(metric.descriptor.unit, unit, `${name} in ${unit}`);
    t.ok(metric.descriptor.description.length > 0, `${name} is described`);
    if (kind === 'gauge') t.equal(metric.dataPointType, DataPointType.GAUGE, `${name} is a gauge`);
    else {
      t.equal(metric.dataPointType, DataPointType.SUM, `${name} is a sum`);
      t.equal((metric as { isMonotonic?: boolean }).isMonotonic, kind === 'counter', `${name} monotonic: ${kind}`);
    }
  }
  const s = stats();
  t.equal(point(collected, 'memlock.locked.pages'), s.lockedPages);
  t.ok(s.lockedPages >= 32 + 8);
  t.equal(point(collected, 'memlock.locked.size'), s.lockedBytes);
  t.equal(point(collected, 'memlock.sticky.pages'), s.stickyPages);
  t.equal(point(collected, 'memlock.lock.count'), s.heldLocks);
  t.equal(point(collected, 'memlock.locked.limit'), getLockablePageLimit());
  t.equal(point(collected, 'memlock.secret.count'), secretStats().live);
  t.equal(point(collected, 'memlock.secret.mapped_size'), secretStats().mappedBytes);
  t.equal(point(collected, 'memlock.pinned.count'), pinnedStats().live);
  t.ok(pinnedStats().live >= 1);
  t.equal(point(collected, 'memlock.pinned.mapped_size'), pinnedStats().mappedBytes);
  for (const flag of ['current', 'future', 'on_fault'])
    t.equal(point(collected, 'memlock.lock_all.enabled', { 'memlock.lock_all.flag': flag }), 0, `lockAll ${flag}`);
  if (needs('kernelAccount')) {
    t.notOk(collected.has('memlock.kernel.locked.size'), 'no kernel figures where memlock does not read the kernel');
  } else {
    t.equal(point(collected, 'memlock.kernel.locked.size'), vmLockedBytes(), "the kernel's VmLck");
    const swapped = kbField(readFileSync('/proc/self/status', 'utf8'), 'VmSwap')!;
    t.equal(point(collected, 'memlock.kernel.swapped.size'), swapped, "the kernel's VmSwap");
  }
  const major = point(collected, 'memlock.paging.faults', { 'memlock.paging.fault_type': 'major' })!;
  const minor = point(collected, 'memlock.paging.faults', { 'memlock.paging.fault_type': 'minor' })!;
  t.ok(major >= usageBefore.majorPageFault && major <= usageAfter.majorPageFault, `major faults (${major})`);
  t.ok(minor >= usageBefore.minorPageFault && minor <= usageAfter.minorPageFault, `minor faults (${minor})`);
  if (!before || !after || before.source === 'unavailable') {
    t.notOk(collected.get('memlock.pressure.memory.waiting.time')?.dataPoints.length, 'no PSI where none is read');
  } else {
    for (const [kind, name] of [
      ['some', 'waiting'],
      ['full', 'stalled'],
    ] as const) {
      const metric = `memlock.pressure.memory.${name}.time`;
      t.equal(collected.get(metric)?.descriptor.unit, 's');
      const value = point(collected, metric, { 'memlock.pressure.source': before.source });
      t.ok(
        value !== undefined && value >= before[kind]!.totalUs / 1e6 && value <= after[kind]!.totalUs / 1e6,
        `${metric}: the PSI ${kind} total in seconds (${value})`,
      );
    }
  }
  // Counted by memlock itself: every known attribute set from 0.
  for (const reason of ['limit', 'ERR_MEMLOCK_MAPPINGS', 'ENOMEM', 'EPERM', 'EAGAIN'])
    t.equal(point(collected, 'memlock.lock.refusals', { 'error.type': reason }), 0, `refusals ${reason} from 0`);
  for (const cause of ['paging', 'gc', 'cpu', 'unknown'])
    t.equal(point(collected, 'memlock.event_loop.stalls', { 'memlock.stall.cause': cause }), 0, `stalls ${cause}`);
  for (const kind of ['some', 'full'])
    for (const source of ['cgroup', 'system', 'systemd'])
      t.equal(
        point(collected, 'memlock.pressure.events', {
          'memlock.pressure.kind': kind,
          'memlock.pressure.source': source,
        }),
        0,
        `pressure events ${kind} ${source}`,
      );

  held.release();
  t.equal(point(await collect(), 'memlock.locked.pages'), stats().lockedPages, 'read again at the next collection');
});

t.test('refusals are counted; close() stops the instruments', async (t) => {
  const { provider, collect } = sdk(t);
  const handle = registerOtelMetrics({ meter: provider.getMeter('test') });
  const limit = getLockablePageLimit();
  t.teardown(() => setLockablePageLimit(limit));
  setLockablePageLimit(stats().lockedPages);
  t.throws(() => lock(alignedPages(1)), { code: 'ERR_MEMLOCK_LIMIT' });
  t.throws(() => allocSecret(64, { placement: 'guarded' }), { code: 'ERR_MEMLOCK_LIMIT' });
  setLockablePageLimit(limit);
  t.equal(point(await collect(), 'memlock.lock.refusals', { 'error.type': 'limit' }), 2, 'two refusals by the limit');

  const counted = point(await collect(), 'memlock.locked.pages');
  handle.close();
  handle.close(); // idempotent
  using more = lock(alignedPages(8));
  setLockablePageLimit(stats().lockedPages);
  t.throws(() => lock(alignedPages(1)), { code: 'ERR_MEMLOCK_LIMIT' });
  setLockablePageLimit(limit);
  // The SDK may repeat a cumulative point it already has; nothing new is read or counted.
  const closed = await collect();
  t.ok(stats().lockedPages > counted!, `${more.pages} more pages locked`);
  t.ok([undefined, counted].includes(point(closed, 'memlock.locked.pages')), 'locked pages no longer read once closed');
  t.ok(
    [undefined, 2].includes(point(closed, 'memlock.lock.refusals', { 'error.type': 'limit' })),
    'a refusal after close() is not counted',
  );
});

t.test(
  'an attributed event-loop stall counts under its cause',
  { skip: capabilities().pagingMonitor ? false : 'no paging monitor on this backend' },
  async (t) => {
    const { provider, collect } = sdk(t);
    using _metrics = registerOtelMetrics({ meter: provider.getMeter('test') });
    using monitor = monitorPaging({ pressure: false });
    const alive = setTimeout(() => {}, 60_000);
    t.teardown(() => clearTimeout(alive));
    const seen = new Promise((resolve) => monitor.once('stall', resolve));
    await sleep(50);
    const until = performance.now() + 200;
    while (performance.now() < until);
    const report = (await seen) as { verdict: string };
    t.equal(
      point(await collect(), 'memlock.event_loop.stalls', { 'memlock.stall.cause': report.verdict }),
      1,
      `one stall, cause ${report.verdict}`,
    );
  },
);

t.test("with no meter given, the global provider's meter named memlock", async (t) => {
  const { provider, collect } = sdk(t);
  t.ok(metrics.setGlobalMeterProvider(provider), 'the global provider is set');
  t.teardown(() => metrics.disable());
  using _metrics = registerOtelMetrics();
  const exporterScope = await collect();
  t.equal(point(exporterScope, 'memlock.locked.pages'), stats().lockedPages);
});

t.test('bad arguments', (t) => {
  t.throws(() => registerOtelMetrics(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => registerOtelMetrics({ meter: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.end();
});

t.test('importing memlock does not load @opentelemetry/api; memlock/otel does', (t) => {
  const { NODE_OPTIONS: _hooks, ...env } = process.env;
  const root = path.join(__dirname, '..');
  const loaded = (entry: string) =>
    spawnSync(
      process.execPath,
      ['-e', `require('${entry}'); console.log(Object.keys(require.cache).some((f) => f.includes('@opentelemetry')))`],
      { cwd: root, encoding: 'utf8', env },
    ).stdout.trim();
  t.equal(loaded('memlock'), 'false', 'memlock alone');
  t.equal(loaded('memlock/otel'), 'true', 'memlock/otel loads it');
  const esm = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', "const m = await import('memlock/otel'); console.log(typeof m.registerOtelMetrics)"],
    { cwd: root, encoding: 'utf8', env },
  );
  t.equal(esm.stdout.trim(), 'function', 'the ES module entry exports registerOtelMetrics');
  t.end();
});
