// Prometheus metrics for prom-client, as the subpath `memlock/prometheus`:
// importing `memlock` never loads prom-client; importing this does.
import promClient = require('prom-client');
import { subscribeChannel, type ErrorMessage } from '../channels';
import type { PressureEvent } from '../paging/paging-monitor';
import { invalidArgType, invalidArgValue, MemlockError } from '../errors';
import { CGROUP_EVENT_NAMES, readCgroupCounts, V1_PRESSURE_LEVELS } from '../paging/cgroup-events';
import { memoryCgroup } from '../paging/cgroup';
import { capabilities } from '../capabilities';
import { pinnedStats } from '../memory/pinned';
import { pressure } from '../paging/pressure';
import { kbField, procStatus, readProcFile } from '../proc';
import { secretStats } from '../memory/secret';
import type { StallVerdict } from '../paging/stall-verdict';
import { stats } from '../locks/stats';

export interface MetricsOptions {
  /** Where to register; default prom-client's global registry. */
  registry?: promClient.Registry;
  /** Prepended to every metric name; default 'memlock_'. */
  prefix?: string;
}

const registered = new WeakMap<promClient.Registry, Set<string>>();
// The calls that take locks: their refusals are counted (a failed release is not a refused lock).
const REFUSABLE = new Set<ErrorMessage['operation']>(['lock', 'allocSecret', 'allocPinned', 'lockCode', 'lockAll']);
// Exported at 0 from registration, so rate() and absent() see them before the
// first refusal: the limit, the mapping margin, and what mlock(2) answers when
// it will not lock (rlimit or no privilege: ENOMEM/EPERM; pages it could not
// lock: EAGAIN). Other codes appear from their first refusal.
const REFUSAL_REASONS = ['limit', 'ERR_MEMLOCK_MAPPINGS', 'ENOMEM', 'EPERM', 'EAGAIN'];

/**
 * Registers memlock's metrics. Gauges are read at scrape time:
 * `<prefix>locked_bytes`, `<prefix>locked_pages`, `<prefix>sticky_pages`,
 * `<prefix>limit_pages`, `<prefix>kernel_locked_bytes` (VmLck),
 * `<prefix>kernel_swapped_bytes` (VmSwap), `<prefix>held_locks`,
 * `<prefix>lock_all{flag}`, `<prefix>secrets`, `<prefix>secrets_by_backend{backend}`, `<prefix>secret_mapped_bytes`,
 * `<prefix>pinned_buffers`, `<prefix>pinned_mapped_bytes` (the two kernel
 * gauges only where the kernel keeps that account: Linux);
 * the counter `<prefix>refused_locks_total{reason}` counts locks and secrets
 * refused by the lockable-page limit (reason "limit") or the kernel (reason:
 * the errno code). Paging (pressureMetrics below):
 * `<prefix>pressure_memory_waiting_seconds_total{source}` (PSI some),
 * `<prefix>pressure_memory_stalled_seconds_total{source}` (PSI full),
 * `<prefix>major_faults_total`, `<prefix>minor_faults_total`,
 * `<prefix>event_loop_stalls_total{cause}`,
 * `<prefix>pressure_events_total{kind,source}`. Container (the memory
 * cgroup's own events): `<prefix>cgroup_memory_events_total{event}` and
 * `<prefix>cgroup_memory_pressure_level_events_total{level}` (cgroup v1).
 * Every counter memlock counts itself is exported at 0 from registration,
 * for each label value it knows (docs/metrics.md lists them all).
 * Registering twice in one registry with one prefix does nothing more.
 * All or nothing: if the registry already has a metric of one of these
 * names, it throws ERR_MEMLOCK_METRICS_CONFLICT and registers none of them.
 */
export function registerMetrics(options: MetricsOptions = {}): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  if (options.registry !== undefined && !(options.registry instanceof promClient.Registry)) {
    throw invalidArgType('options.registry', 'an instance of prom-client Registry', options.registry);
  }
  const registry = options.registry ?? promClient.register;
  const prefix = options.prefix ?? 'memlock_';
  if (typeof prefix !== 'string') throw invalidArgType('options.prefix', 'of type string', prefix);
  // Prometheus's metric name syntax; prom-client would throw a plain Error part way.
  if (!/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw invalidArgValue(
      'options.prefix',
      `must start a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*). Received '${prefix}'`,
    );
  }
  const prefixes = registered.get(registry) ?? new Set<string>();
  if (prefixes.has(prefix)) return;

  // Made unregistered (registers: []) and registered together once no name
  // is taken: a conflict leaves the registry as it was, and a retry after
  // it is removed registers them all.
  const metrics: { name: string; metric: promClient.Metric }[] = [];
  const keep = <M extends promClient.Metric>(name: string, metric: M): M => {
    metrics.push({ name, metric });
    return metric;
  };
  const gauge = (name: string, help: string, read: () => number) =>
    keep(
      prefix + name,
      new promClient.Gauge({
        name: prefix + name,
        help,
        registers: [],
        collect() {
          this.set(read());
        },
      }),
    );
  gauge('locked_bytes', 'Bytes of distinct pages memlock holds locked (count > 0).', () => stats().lockedBytes);
  gauge('locked_pages', 'Distinct pages memlock holds locked (count > 0).', () => stats().lockedPages);
  gauge(
    'sticky_pages',
    'Pages whose lock count saturated at 65535; locked for the life of the process.',
    () => stats().stickyPages,
  );
  gauge('limit_pages', "memlock's lockable-page limit.", () => stats().limitPages);
  // Absent where the kernel does not say (macOS, Windows: no /proc).
  if (capabilities().kernelAccount) {
    gauge('kernel_locked_bytes', "The kernel's VmLck for this process, in bytes.", () => procStatus('self').vmLckBytes);
    gauge(
      'kernel_swapped_bytes',
      "The kernel's VmSwap for this process: its anonymous memory now in swap, in bytes.",
      () => kbField(readProcFile('/proc/self/status'), 'VmSwap') ?? 0,
    );
  }
  gauge(
    'held_locks',
    'PageLock handles held now, by every thread (memlock stats().heldLocks).',
    () => stats().heldLocks,
  );
  keep(
    `${prefix}lock_all`,
    new promClient.Gauge({
      name: `${prefix}lock_all`,
      help: 'Whole-process locking (lockAll) in force: 1 per flag set (current, future, on_fault), 0 otherwise.',
      labelNames: ['flag'],
      registers: [],
      collect() {
        const state = stats().lockAll;
        this.set({ flag: 'current' }, state?.current ? 1 : 0);
        this.set({ flag: 'future' }, state?.future ? 1 : 0);
        this.set({ flag: 'on_fault' }, state?.onFault ? 1 : 0);
      },
    }),
  );
  gauge('secrets', 'Secrets (allocSecret) alive now, process-wide.', () => secretStats().live);
  gauge(
    'secret_mapped_bytes',
    'Bytes memlock has mapped for secret memory (slabs and dedicated mappings), process-wide.',
    () => secretStats().mappedBytes,
  );
  keep(
    `${prefix}secrets_by_backend`,
    new promClient.Gauge({
      name: `${prefix}secrets_by_backend`,
      help: "Secrets alive now by backend: memfd_secret memory (secretmem), mlocked memory (mlock) or V8's own memory under its sandbox (v8-heap), process-wide.",
      labelNames: ['backend'],
      registers: [],
      collect() {
        const { live, secretmemLive, v8HeapLive } = secretStats();
        this.set({ backend: 'secretmem' }, secretmemLive);
        this.set({ backend: 'mlock' }, live - secretmemLive - v8HeapLive);
        this.set({ backend: 'v8-heap' }, v8HeapLive);
      },
    }),
  );
  gauge('pinned_buffers', 'Pinned buffers (allocPinned) alive now, process-wide.', () => pinnedStats().live);
  gauge(
    'pinned_mapped_bytes',
    'Bytes memlock has mapped for pinned buffers, whole pages of their kind, process-wide.',
    () => pinnedStats().mappedBytes,
  );

  const refused = keep(
    `${prefix}refused_locks_total`,
    new promClient.Counter({
      name: `${prefix}refused_locks_total`,
      help: 'Locks and secrets refused by the lockable-page limit (reason="limit") or by the kernel (reason=errno code).',
      labelNames: ['reason'],
      registers: [],
    }),
  );
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0);
  const subscribePressure = pressureMetrics(prefix, keep);

  const taken = metrics.find(({ name }) => registry.getSingleMetric(name) !== undefined);
  if (taken !== undefined) {
    throw new MemlockError(
      `the registry already has a metric named ${taken.name}, so memlock registered none of its metrics: remove ` +
        "that one (registry.removeSingleMetric) and retry, or give memlock's a prefix of their own (options.prefix)",
      { code: 'ERR_MEMLOCK_METRICS_CONFLICT' },
    );
  }
  for (const { metric } of metrics) registry.registerMetric(metric);
  prefixes.add(prefix);
  registered.set(registry, prefixes);
  // Counting starts once every metric is registered: a refused call leaves no subscriber.
  subscribeChannel('memlock:limit', () => refused.inc({ reason: 'limit' }));
  subscribeChannel('memlock:error', ({ error, operation }) => {
    if (REFUSABLE.has(operation)) refused.inc({ reason: String((error as { code?: unknown }).code) });
  });
  subscribePressure();
}

// The paging side: memory PSI, page faults and attributed event-loop stalls.
// Counters follow the conventions of cAdvisor
// (container_pressure_memory_{waiting,stalled}_seconds_total) and
// node_exporter (node_pressure_memory_*_seconds_total, node_vmstat_pgmajfault):
// seconds and counts since the source began, read at scrape time.
const CAUSES: StallVerdict[] = ['paging', 'migration', 'gc', 'cpu', 'host', 'unknown'];
const PRESSURE_KINDS: PressureEvent['kind'][] = ['some', 'full'];
const TRIGGER_SOURCES: PressureEvent['source'][] = ['cgroup', 'system', 'systemd'];
// The cgroup counts read from the kernel's files (pressure levels are counted apart).
const FILE_EVENTS = CGROUP_EVENT_NAMES.filter((name) => !name.startsWith('pressure_'));

// Makes the metrics (unregistered, through keep) and returns what subscribes
// their counters to memlock's channels, for once they are registered.
function pressureMetrics(
  prefix: string,
  keep: <M extends promClient.Metric>(name: string, metric: M) => M,
): () => void {
  // One counter per PSI line, named as node_exporter's and cAdvisor's are
  // (waiting = "some", stalled = "full"), so one query shape covers the
  // node, the container and the process.
  const psi = (name: string, kind: 'some' | 'full', help: string) =>
    keep(
      prefix + name,
      new promClient.Counter({
        name: prefix + name,
        help,
        labelNames: ['source'],
        registers: [],
        collect() {
          this.reset();
          if (!capabilities().pagingMonitor) return;
          const snapshot = pressure();
          const figures = snapshot.source === 'unavailable' ? undefined : snapshot[kind];
          if (figures) this.inc({ source: snapshot.source }, figures.totalUs / 1e6);
        },
      }),
    );
  const whose =
    'that applies to this process, from its cgroup v2 memory.pressure (source="cgroup") or /proc/pressure/memory ' +
    '(source="system"); absent where the kernel has no PSI.';
  psi(
    'pressure_memory_waiting_seconds_total',
    'some',
    `Seconds in which some task was stalled on memory (PSI "some" total), ${whose} As node_exporter's ` +
      "node_pressure_memory_waiting_seconds_total and cAdvisor's container_pressure_memory_waiting_seconds_total.",
  );
  psi(
    'pressure_memory_stalled_seconds_total',
    'full',
    `Seconds in which all non-idle tasks were stalled on memory (PSI "full" total), ${whose} As node_exporter's ` +
      "node_pressure_memory_stalled_seconds_total and cAdvisor's container_pressure_memory_stalled_seconds_total.",
  );
  const faults = (name: string, help: string, read: (usage: NodeJS.ResourceUsage) => number) =>
    keep(
      prefix + name,
      new promClient.Counter({
        name: prefix + name,
        help,
        registers: [],
        collect() {
          this.reset();
          this.inc(read(process.resourceUsage()));
        },
      }),
    );
  faults(
    'major_faults_total',
    'Page faults of this process that read from disk or swap (as node_vmstat_pgmajfault, for one process).',
    (usage) => usage.majorPageFault,
  );
  faults(
    'minor_faults_total',
    'Page faults of this process served without I/O (first touch, page cache hits).',
    (usage) => usage.minorPageFault,
  );

  const stalls = keep(
    `${prefix}event_loop_stalls_total`,
    new promClient.Counter({
      name: `${prefix}event_loop_stalls_total`,
      help:
        'Event-loop stalls over the monitorPaging() threshold in this thread, by attributed cause ' +
        '(paging, gc, cpu, host, unknown). Counts only while a monitor runs.',
      labelNames: ['cause'],
      registers: [],
    }),
  );
  for (const cause of CAUSES) stalls.inc({ cause }, 0);

  const events = keep(
    `${prefix}pressure_events_total`,
    new promClient.Counter({
      name: `${prefix}pressure_events_total`,
      help: "PSI triggers fired for monitorPaging() in this thread (the trigger's kind and where it is armed).",
      labelNames: ['kind', 'source'],
      registers: [],
    }),
  );
  for (const kind of PRESSURE_KINDS) for (const source of TRIGGER_SOURCES) events.inc({ kind, source }, 0);
  // The kernel's counts, read at scrape time from the process's memory cgroup
  // (v2 memory.events and memory.swap.events; v1 memory.failcnt,
  // memory.memsw.failcnt, oom_control's oom_kill), so they are the files';
  // every name at 0 from registration, as an event that never happened.
  keep(
    `${prefix}cgroup_memory_events_total`,
    new promClient.Counter({
      name: `${prefix}cgroup_memory_events_total`,
      help:
        "Memory events of this process's memory cgroup, as the kernel counts them (since the cgroup was made): " +
        'cgroup v2 memory.events (low, high, max, oom, oom_kill, oom_group_kill) and memory.swap.events ' +
        '(swap_high, swap_max, swap_fail); cgroup v1 memory.failcnt (failcnt), memory.memsw.failcnt ' +
        '(memsw_failcnt), memory.oom_control oom_kill. 0 where the cgroup has no such count.',
      labelNames: ['event'],
      registers: [],
      collect() {
        let counts: Record<string, number> = {};
        try {
          const cgroup = capabilities().pagingMonitor ? memoryCgroup('self') : undefined;
          if (cgroup) counts = readCgroupCounts(cgroup.version, cgroup.dir).counts;
        } catch {
          // No /proc/self/cgroup: no counts.
        }
        this.reset();
        for (const event of FILE_EVENTS) this.inc({ event }, counts[event] ?? 0);
      },
    }),
  );
  const levels = keep(
    `${prefix}cgroup_memory_pressure_level_events_total`,
    new promClient.Counter({
      name: `${prefix}cgroup_memory_pressure_level_events_total`,
      help:
        'cgroup v1 memory.pressure_level notifications received by monitorPaging() in this thread, by level ' +
        '(each level counts events at or above it, as the kernel signals them).',
      labelNames: ['level'],
      registers: [],
    }),
  );
  for (const level of V1_PRESSURE_LEVELS) levels.inc({ level }, 0);

  return () => {
    subscribeChannel('memlock:cgroup-memory', ({ changed }) => {
      for (const level of V1_PRESSURE_LEVELS) {
        const grew = changed[`pressure_${level}`];
        if (grew) levels.inc({ level }, grew);
      }
    });
    subscribeChannel('memlock:stall', ({ verdict }) => stalls.inc({ cause: verdict }));
    subscribeChannel('memlock:pressure', ({ kind, source }) => {
      events.inc({ kind, source });
    });
  };
}
