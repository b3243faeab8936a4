// test-tier: quick
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { Gauge, Registry } from 'prom-client';
import {
  allocSecret,
  capabilities,
  getLockablePageLimit,
  lock,
  pageSize,
  pressure,
  setLockablePageLimit,
  stats,
} from '../src/index';
import { registerMetrics } from '../src/metrics/prometheus';
import { alignedPages, vmLockedBytes } from './helpers/kernel';
import { needs } from './helpers/capability';

/** name{labels} -> value, from the text exposition format. */
async function scrape(registry: Registry): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  for (const line of (await registry.metrics()).split('\n')) {
    const match = /^(\S+) (\S+)$/.exec(line);
    if (match && !line.startsWith('#')) values.set(match[1]!, Number(match[2]));
  }
  return values;
}

t.test('the collector exposes the documented metrics with the right values', async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  registerMetrics({ registry }); // a second call adds nothing (and does not throw)
  const view = alignedPages(64);
  const held = lock(view);
  const limit = getLockablePageLimit();
  setLockablePageLimit(stats().lockedPages);
  t.throws(() => lock(alignedPages(1)), { code: 'ERR_MEMLOCK_LIMIT' });
  t.throws(() => lock(alignedPages(1)), { code: 'ERR_MEMLOCK_LIMIT' });
  setLockablePageLimit(limit);

  const m = await scrape(registry);
  const s = stats();
  t.equal(m.get('memlock_locked_bytes'), s.lockedBytes);
  t.equal(m.get('memlock_locked_pages'), s.lockedPages);
  t.ok(s.lockedPages >= 64);
  t.equal(m.get('memlock_sticky_pages'), s.stickyPages);
  t.equal(m.get('memlock_limit_pages'), limit);
  if (needs('kernelAccount'))
    t.notOk(m.has('memlock_kernel_locked_bytes'), 'no kernel gauge where memlock does not read the kernel');
  else t.equal(m.get('memlock_kernel_locked_bytes'), vmLockedBytes());
  t.ok(vmLockedBytes() >= 64 * pageSize);
  t.equal(m.get('memlock_refused_locks_total{reason="limit"}'), 2, 'two refused locks counted');
  held.release();
  t.equal((await scrape(registry)).get('memlock_locked_pages'), stats().lockedPages, 'read at scrape time');

  const custom = new Registry();
  registerMetrics({ registry: custom, prefix: 'app_memlock_' });
  t.ok((await scrape(custom)).has('app_memlock_locked_bytes'), 'a prefix of your own');
  t.throws(() => registerMetrics({ registry, prefix: 5 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => registerMetrics({ registry: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' }, 'not a Registry');
  t.throws(() => registerMetrics(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
});

t.test(
  'all or nothing: a name already taken registers none (ERR_MEMLOCK_METRICS_CONFLICT); once it is free, a retry registers all',
  async (t) => {
    const names = (registry: Registry) => registry.getMetricsAsArray().map((m) => m.name);
    const reference = new Registry();
    registerMetrics({ registry: reference });
    const all = names(reference);
    t.ok(all.length >= 16, `${all.length} metrics`);
    const limit = getLockablePageLimit();
    t.teardown(() => setLockablePageLimit(limit));
    for (const [where, name] of [
      ['first', all[0]!],
      ['middle', all[all.length >> 1]!],
      ['last', all.at(-1)!],
    ] as const) {
      const registry = new Registry();
      const theirs = new Gauge({ name, help: 'not memlock', registers: [registry] });
      t.throws(
        () => registerMetrics({ registry }),
        { name: 'MemlockError', code: 'ERR_MEMLOCK_METRICS_CONFLICT' },
        `the ${where} name (${name}) taken`,
      );
      t.same(names(registry), [name], `${where}: the registry is as it was`);
      t.equal(registry.getSingleMetric(name), theirs, `${where}: with its own metric`);
      registry.removeSingleMetric(name);
      registerMetrics({ registry });
      t.same(names(registry), all, `${where}: once the name is free, a retry registers every metric`);
      setLockablePageLimit(stats().lockedPages);
      t.throws(() => lock(alignedPages(1)), { code: 'ERR_MEMLOCK_LIMIT' });
      setLockablePageLimit(limit);
      t.equal(
        (await scrape(registry)).get('memlock_refused_locks_total{reason="limit"}'),
        1,
        `${where}: a refusal counts once`,
      );
    }
    const registry = new Registry();
    t.throws(
      () => registerMetrics({ registry, prefix: 'my-app_' }),
      { code: 'ERR_INVALID_ARG_VALUE' },
      'a prefix no metric name can start with',
    );
    t.same(names(registry), [], 'registers nothing');
    registerMetrics({ registry, prefix: 'my_app_' });
    t.equal(names(registry).length, all.length, 'and a good one then registers all');
  },
);

t.test('secrets refused by the lockable-page limit count as reason="limit", as refused locks do', async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  const limit = getLockablePageLimit();
  t.teardown(() => setLockablePageLimit(limit));
  setLockablePageLimit(stats().lockedPages);
  t.throws(() => allocSecret(64, { placement: 'guarded' }), { code: 'ERR_MEMLOCK_LIMIT' });
  t.throws(() => allocSecret(2 * pageSize), { code: 'ERR_MEMLOCK_LIMIT' });
  t.throws(() => lock(alignedPages(1)), { code: 'ERR_MEMLOCK_LIMIT' });
  setLockablePageLimit(limit);
  t.equal((await scrape(registry)).get('memlock_refused_locks_total{reason="limit"}'), 3, 'two secrets and a lock');
});

t.test('importing memlock does not load prom-client', (t) => {
  const { NODE_OPTIONS: _hooks, ...env } = process.env;
  const root = path.join(__dirname, '..');
  const probe = "require('memlock'); console.log(Object.keys(require.cache).some((f) => f.includes('prom-client')))";
  const main = spawnSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8', env });
  t.equal(main.stdout.trim(), 'false', 'memlock alone');
  const sub = spawnSync(process.execPath, ['-e', probe.replace("'memlock'", "'memlock/prometheus'")], {
    cwd: root,
    encoding: 'utf8',
    env,
  });
  t.equal(sub.stdout.trim(), 'true', 'memlock/prometheus loads it');
  t.end();
});

t.test('every counter has series from registration, at 0 where memlock counts it itself', async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  const text = await registry.metrics();
  const counters = [...text.matchAll(/^# TYPE (\S+) counter$/gm)].map((match) => match[1]!);
  t.ok(counters.length >= 7, `${counters.length} counters`);
  const psiNames = ['memlock_pressure_memory_waiting_seconds_total', 'memlock_pressure_memory_stalled_seconds_total'];
  for (const name of counters) {
    // The PSI totals are the kernel's, present where it keeps them.
    if (psiNames.includes(name) && (!capabilities().pagingMonitor || pressure().source === 'unavailable')) continue;
    t.match(text, new RegExp(`^${name}(\\{[^}]*\\})? \\d`, 'm'), `${name} has a series before any event`);
  }
  const m = await scrape(registry);
  for (const reason of ['limit', 'ERR_MEMLOCK_MAPPINGS', 'ENOMEM', 'EPERM', 'EAGAIN'])
    t.equal(m.get(`memlock_refused_locks_total{reason="${reason}"}`), 0, `refused_locks_total{reason="${reason}"}`);
  for (const kind of ['some', 'full'])
    for (const source of ['cgroup', 'system', 'systemd'])
      t.equal(m.get(`memlock_pressure_events_total{kind="${kind}",source="${source}"}`), 0, `events ${kind} ${source}`);
  for (const cause of ['paging', 'gc', 'cpu', 'unknown'])
    t.equal(m.get(`memlock_event_loop_stalls_total{cause="${cause}"}`), 0, `stalls{cause="${cause}"}`);
});
