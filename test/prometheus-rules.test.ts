// The shipped rules file (prometheus/memlock-rules.yml) under promtool:
// `check rules`, then `test rules` with input series generated from a scrape
// of the exporter itself (names, label sets, and the values a fresh process
// shows), so the rules and the metrics they read cannot drift apart. Every
// scenario checks every alert: the one it provokes fires with the expected
// labels and annotations, the others stay quiet.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { registerMetrics } from '../src/metrics/prometheus';
import { parseExposition, selector, type ScrapedSeries } from './helpers/exposition';
import { prometheusTool, toolEnv } from './helpers/prometheus-tools';

const RULES = path.join(__dirname, '..', 'prometheus', 'memlock-rules.yml');
// What Prometheus adds to every scraped series.
const TARGET = { job: 'realtime-service', instance: '127.0.0.1:9464' };
// Series that another part of memlock exports (issue 24's container events,
// from the cgroup watcher): used with this shape only while the exporter in
// this tree does not emit them; once it does, the scrape's shape is used.
const NOT_YET_EXPORTED: Record<string, ScrapedSeries[]> = {
  memlock_cgroup_memory_events_total: ['high', 'max', 'oom', 'oom_kill'].map((event) => ({
    name: 'memlock_cgroup_memory_events_total',
    labels: { event },
    value: 0,
    type: 'counter',
  })),
};

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A scenario: values that differ from the scrape's (selected by name and labels), and what must fire. */
interface Scenario {
  name: string;
  set: { name: string; labels?: Record<string, string>; values: (scraped: number) => string }[];
  fires: string[];
}

const STEPS = 30; // one sample a minute for 30 minutes
const EVAL = '20m';
// A counter with a single event at minute 18, inside every rule's window at EVAL.
const oneEventAt18 = (base: number) => `${base}x17 ${base + 1}x${STEPS - 18}`;
const perMinute = (increase: number) => (base: number) => `${base}+${increase}x${STEPS}`;

const SCENARIOS: Scenario[] = [
  { name: 'a quiet process', set: [], fires: [] },
  {
    name: 'event-loop stalls blamed on paging',
    set: [{ name: 'memlock_event_loop_stalls_total', labels: { cause: 'paging' }, values: perMinute(1) }],
    fires: ['MemlockPagingStalls'],
  },
  {
    name: 'stalls blamed on GC (not paging)',
    set: [{ name: 'memlock_event_loop_stalls_total', labels: { cause: 'gc' }, values: perMinute(5) }],
    fires: [],
  },
  {
    name: 'tasks waiting on memory half of the time',
    set: [{ name: 'memlock_pressure_memory_waiting_seconds_total', values: perMinute(30) }],
    fires: ['MemlockMemoryPressure'],
  },
  {
    name: 'all tasks stalled 10% of the time',
    set: [
      { name: 'memlock_pressure_memory_waiting_seconds_total', values: perMinute(6) },
      { name: 'memlock_pressure_memory_stalled_seconds_total', values: perMinute(6) },
    ],
    fires: ['MemlockMemoryStalled'],
  },
  {
    // The README's rule without `on (job, instance)` never fired on these.
    name: '100 major faults a second while tasks wait on memory 5% of the time',
    set: [
      { name: 'memlock_major_faults_total', values: perMinute(6000) },
      { name: 'memlock_pressure_memory_waiting_seconds_total', values: perMinute(3) },
    ],
    fires: ['MemlockMajorFaultsUnderPressure'],
  },
  {
    name: 'major faults without memory pressure (a cold start reading files)',
    set: [{ name: 'memlock_major_faults_total', values: perMinute(6000) }],
    fires: [],
  },
  {
    // Counted from 0 at registration, the first refusal is an increase.
    name: 'one lock refused by the lockable-page limit',
    set: [{ name: 'memlock_refused_locks_total', labels: { reason: 'limit' }, values: oneEventAt18 }],
    fires: ['MemlockLocksRefused'],
  },
  {
    name: 'one lock refused by the kernel (ENOMEM)',
    set: [{ name: 'memlock_refused_locks_total', labels: { reason: 'ENOMEM' }, values: oneEventAt18 }],
    fires: ['MemlockLocksRefused'],
  },
  {
    name: 'pages turned sticky',
    set: [{ name: 'memlock_sticky_pages', values: () => `0x14 16x${STEPS - 15}` }],
    fires: ['MemlockStickyPages'],
  },
  {
    name: '95% of the lockable-page limit locked',
    set: [{ name: 'memlock_locked_pages', values: () => `${0.95 * limitPages()}x${STEPS}` }],
    fires: ['MemlockLockableLimitHeadroom'],
  },
  {
    name: '85% of the lockable-page limit locked',
    set: [{ name: 'memlock_locked_pages', values: () => `${0.85 * limitPages()}x${STEPS}` }],
    fires: [],
  },
  {
    name: 'the container throttled at memory.high',
    set: [{ name: 'memlock_cgroup_memory_events_total', labels: { event: 'high' }, values: perMinute(20) }],
    fires: ['MemlockContainerMemoryHigh'],
  },
  {
    name: 'the container at memory.max once',
    set: [{ name: 'memlock_cgroup_memory_events_total', labels: { event: 'max' }, values: oneEventAt18 }],
    fires: ['MemlockContainerMemoryMax'],
  },
  {
    name: 'an OOM kill in the container',
    set: [
      { name: 'memlock_cgroup_memory_events_total', labels: { event: 'max' }, values: oneEventAt18 },
      { name: 'memlock_cgroup_memory_events_total', labels: { event: 'oom' }, values: oneEventAt18 },
      { name: 'memlock_cgroup_memory_events_total', labels: { event: 'oom_kill' }, values: oneEventAt18 },
    ],
    fires: ['MemlockContainerMemoryMax', 'MemlockContainerOOM'],
  },
];

let scraped: ScrapedSeries[] = [];
const limitPages = () => scraped.find((s) => s.name === 'memlock_limit_pages')!.value;

function expand(template: string, labels: Record<string, string>): string {
  return template.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, key: string) => labels[key] ?? '');
}

const promtool = prometheusTool('promtool');
// Skipped, saying why, where the tool is missing; a failure under CI.
if (!promtool.ok && promtool.fail) t.fail(promtool.why);
const skip = promtool.ok ? false : promtool.why;
const dir = mkdtempSync(path.join(os.tmpdir(), 'memlock-rules-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('promtool check rules accepts the file', { skip }, (t) => {
  const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8', env: toolEnv() });
  t.equal(check.status, 0, check.stdout + check.stderr);
  t.match(check.stdout, /SUCCESS: \d+ rules found/);
  t.end();
});

t.test('promtool test rules, with series shaped as the exporter emits them', { skip }, async (t) => {
  const registry = new Registry();
  registerMetrics({ registry });
  scraped = parseExposition(await registry.metrics());
  const names = new Set(scraped.map((s) => s.name));
  t.ok(names.has('memlock_locked_pages') && names.has('memlock_refused_locks_total'), 'a real scrape');
  for (const [name, series] of Object.entries(NOT_YET_EXPORTED)) {
    if (names.has(name)) continue;
    t.comment(`${name} is not exported in this tree yet: its rules are tested with ${series.length} series`);
    scraped.push(...series);
    names.add(name);
  }

  const rules = (parseYaml(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap(
    (group) => group.rules,
  );
  t.ok(rules.length >= 10, `${rules.length} alerts`);
  // Every metric a rule reads is one the exporter emits (or is listed above).
  for (const rule of rules) {
    for (const [metric] of rule.expr.matchAll(/\bmemlock_[a-z0-9_]+/g)) {
      t.ok(names.has(metric), `${rule.alert} reads ${metric}, which a scrape has`);
    }
  }
  // Every alert is provoked by some scenario.
  for (const rule of rules) {
    t.ok(
      SCENARIOS.some((s) => s.fires.includes(rule.alert)),
      `${rule.alert} fires in some scenario`,
    );
  }

  const tests = SCENARIOS.map((scenario) => {
    const values = new Map<ScrapedSeries, string>();
    for (const change of scenario.set) {
      const matching = scraped.filter(
        (s) =>
          s.name === change.name &&
          Object.entries(change.labels ?? {}).every(([key, value]) => s.labels[key] === value),
      );
      t.ok(matching.length > 0, `${scenario.name}: ${change.name} ${JSON.stringify(change.labels ?? {})} is scraped`);
      for (const series of matching) values.set(series, change.values(series.value));
    }
    return {
      name: scenario.name,
      interval: '1m',
      input_series: scraped.map((series) => ({
        series: selector(series.name, { ...series.labels, ...TARGET }),
        // Unchanged: the scraped value throughout, as a process that sees no events.
        values: values.get(series) ?? `${series.value}x${STEPS}`,
      })),
      alert_rule_test: rules.map((rule) => ({
        eval_time: EVAL,
        alertname: rule.alert,
        exp_alerts: scenario.fires.includes(rule.alert)
          ? [
              {
                exp_labels: { ...rule.labels, ...TARGET },
                exp_annotations: Object.fromEntries(
                  Object.entries(rule.annotations ?? {}).map(([key, text]) => [key, expand(text, TARGET)]),
                ),
              },
            ]
          : [],
      })),
    };
  });
  const testFile = path.join(dir, 'memlock-rules.test.yml');
  // JSON is YAML: promtool reads it as is.
  writeFileSync(testFile, JSON.stringify({ rule_files: [RULES], evaluation_interval: '1m', tests }, null, 1));
  const run = spawnSync('promtool', ['test', 'rules', testFile], { encoding: 'utf8', env: toolEnv() });
  t.equal(run.status, 0, `promtool test rules: ${run.stdout}${run.stderr}`);
  t.match(run.stdout, /SUCCESS/);
});

t.test('promtool test rules can fail: an alert expected that the series do not provoke', { skip }, async (t) => {
  const testFile = path.join(dir, 'failing.test.yml');
  const series = selector('memlock_sticky_pages', TARGET);
  writeFileSync(
    testFile,
    JSON.stringify({
      rule_files: [RULES],
      tests: [
        {
          interval: '1m',
          input_series: [{ series, values: `0x${STEPS}` }],
          alert_rule_test: [{ eval_time: EVAL, alertname: 'MemlockStickyPages', exp_alerts: [{ exp_labels: TARGET }] }],
        },
      ],
    }),
  );
  const run = spawnSync('promtool', ['test', 'rules', testFile], { encoding: 'utf8', env: toolEnv() });
  t.not(run.status, 0, 'promtool reports the missing alert');
});
