// The container counters: memlock_cgroup_memory_events_total is the
// kernel's account of the process's own memory cgroup (read at scrape), every
// event at 0 from registration; the v1 pressure-level counter counts what a
// monitor receives, each level at 0 from registration.
// test-tier: quick
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Registry } from 'prom-client';
import { memoryCgroup } from '../src/paging/cgroup';
import { CGROUP_EVENT_NAMES } from '../src/paging/cgroup-events';
import { registerMetrics } from '../src/metrics/prometheus';

t.test('cgroup counters exist from registration and are the kernel files', async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  const json = await registry.getMetricsAsJSON();
  const events = json.find((m) => m.name === 'memlock_cgroup_memory_events_total');
  const levels = json.find((m) => m.name === 'memlock_cgroup_memory_pressure_level_events_total');
  t.ok(events && levels, 'both counters are registered');
  const byEvent = new Map(events!.values.map((v) => [String(v.labels['event']), v.value]));
  t.same(
    [...byEvent.keys()].sort(),
    CGROUP_EVENT_NAMES.filter((n) => !n.startsWith('pressure_')).sort(),
    'one series per event, before any happened',
  );
  t.same(
    levels!.values.map((v) => [v.labels['level'], v.value]),
    [
      ['low', 0],
      ['medium', 0],
      ['critical', 0],
    ],
  );
  const cgroup = memoryCgroup('self');
  if (!cgroup) return t.comment('no memory cgroup here: every count 0');
  if (cgroup.version === 1) {
    t.equal(byEvent.get('failcnt'), Number(readFileSync(path.join(cgroup.dir, 'memory.failcnt'), 'latin1')));
    const oomKill = /^oom_kill (\d+)$/m.exec(readFileSync(path.join(cgroup.dir, 'memory.oom_control'), 'latin1'));
    t.equal(byEvent.get('oom_kill'), Number(oomKill?.[1] ?? 0));
    t.equal(byEvent.get('high'), 0, 'v2 names are 0 on v1');
  } else {
    const max = /^max (\d+)$/m.exec(readFileSync(path.join(cgroup.dir, 'memory.events'), 'latin1'));
    t.equal(byEvent.get('max'), Number(max?.[1]));
  }
});
