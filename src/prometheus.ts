// Prometheus metrics for prom-client, as the subpath `memlock/prometheus`:
// importing `memlock` never loads prom-client; importing this does.
import diagnosticsChannel from 'node:diagnostics_channel';
import promClient = require('prom-client');
import type { ErrorMessage } from './channels';
import { invalidArgType } from './errors';
import { stats } from './inspect';
import { kbField, procStatus, readProcFile } from './proc';
import { registerPressureMetrics } from './prometheus-pressure';
import { secretStats } from './secret';

export interface MetricsOptions {
  /** Where to register; default prom-client's global registry. */
  registry?: promClient.Registry;
  /** Prepended to every metric name; default 'memlock_'. */
  prefix?: string;
}

const registered = new WeakMap<promClient.Registry, Set<string>>();

/**
 * Registers memlock's metrics. Gauges are read at scrape time:
 * `<prefix>locked_bytes`, `<prefix>locked_pages`, `<prefix>sticky_pages`,
 * `<prefix>limit_pages`, `<prefix>kernel_locked_bytes` (VmLck),
 * `<prefix>kernel_swapped_bytes` (VmSwap), `<prefix>held_locks`,
 * `<prefix>lock_all{flag}`, `<prefix>secrets`, `<prefix>secret_mapped_bytes`;
 * the counter `<prefix>refused_locks_total{reason}` counts locks refused by
 * the lockable-page limit (reason "limit") or the kernel (reason: the errno
 * code). Paging: `<prefix>pressure_stall_seconds_total{kind,source}`,
 * `<prefix>major_faults_total`, `<prefix>minor_faults_total`,
 * `<prefix>event_loop_stalls_total{cause}`, `<prefix>pressure_events_total`
 * (src/prometheus-pressure.ts). Registering twice in one registry with one
 * prefix does nothing more.
 */
export function registerMetrics(options: MetricsOptions = {}): void {
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
  if (options.registry !== undefined && !(options.registry instanceof promClient.Registry)) {
    throw invalidArgType('options.registry', 'an instance of prom-client Registry', options.registry);
  }
  const registry = options.registry ?? promClient.register;
  const prefix = options.prefix ?? 'memlock_';
  if (typeof prefix !== 'string') throw invalidArgType('options.prefix', 'of type string', prefix);
  const prefixes = registered.get(registry) ?? new Set<string>();
  if (prefixes.has(prefix)) return;
  prefixes.add(prefix);
  registered.set(registry, prefixes);

  const gauge = (name: string, help: string, read: () => number) =>
    new promClient.Gauge({
      name: prefix + name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('locked_bytes', 'Bytes of distinct pages memlock holds locked (count > 0).', () => stats().lockedBytes);
  gauge('locked_pages', 'Distinct pages memlock holds locked (count > 0).', () => stats().lockedPages);
  gauge('sticky_pages', 'Pages whose lock count saturated at 65535; locked for the life of the process.', () => stats().stickyPages);
  gauge('limit_pages', "memlock's lockable-page limit.", () => stats().limitPages);
  gauge('kernel_locked_bytes', "The kernel's VmLck for this process, in bytes.", () => procStatus('self').vmLckBytes);
  gauge('kernel_swapped_bytes', "The kernel's VmSwap for this process: its anonymous memory now in swap, in bytes.",
    () => kbField(readProcFile('/proc/self/status'), 'VmSwap') ?? 0);
  gauge('held_locks', 'PageLock handles held now, by every thread (memlock stats().heldLocks).', () => stats().heldLocks);
  new promClient.Gauge({
    name: `${prefix}lock_all`,
    help: 'Whole-process locking (lockAll) in force: 1 per flag set (current, future, on_fault), 0 otherwise.',
    labelNames: ['flag'],
    registers: [registry],
    collect() {
      const state = stats().lockAll;
      this.set({ flag: 'current' }, state?.current ? 1 : 0);
      this.set({ flag: 'future' }, state?.future ? 1 : 0);
      this.set({ flag: 'on_fault' }, state?.onFault ? 1 : 0);
    },
  });
  gauge('secrets', 'Secrets (allocSecret) alive now, process-wide.', () => secretStats().live);
  gauge('secret_mapped_bytes', 'Bytes memlock has mapped for secret memory (slabs and dedicated mappings), process-wide.',
    () => secretStats().mappedBytes);

  const refused = new promClient.Counter({
    name: `${prefix}refused_locks_total`,
    help: 'Locks refused by the lockable-page limit (reason="limit") or by the kernel (reason=errno code).',
    labelNames: ['reason'],
    registers: [registry],
  });
  diagnosticsChannel.subscribe('memlock:limit', () => refused.inc({ reason: 'limit' }));
  diagnosticsChannel.subscribe('memlock:error', (message) => {
    const { error, operation } = message as ErrorMessage;
    if (operation === 'lock' || operation === 'allocSecret') refused.inc({ reason: String((error as { code?: unknown }).code) });
  });
  registerPressureMetrics(registry, prefix);
}
