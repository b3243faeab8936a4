// Prometheus metrics for prom-client, as the subpath `memlock/prometheus`:
// importing `memlock` never loads prom-client; importing this does.
import diagnosticsChannel from 'node:diagnostics_channel';
import promClient = require('prom-client');
import type { ErrorMessage } from './channels';
import { invalidArgType } from './errors';
import { stats } from './stats';
import { procStatus } from './proc';

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
 * `<prefix>limit_pages`, `<prefix>kernel_locked_bytes` (VmLck); the counter
 * `<prefix>refused_locks_total{reason}` counts locks and secrets refused by
 * the lockable-page limit (reason "limit") or the kernel (reason: the errno
 * code).
 * Registering twice in one registry with one prefix does nothing more.
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

  const refused = new promClient.Counter({
    name: `${prefix}refused_locks_total`,
    help: 'Locks and secrets refused by the lockable-page limit (reason="limit") or by the kernel (reason=errno code).',
    labelNames: ['reason'],
    registers: [registry],
  });
  diagnosticsChannel.subscribe('memlock:limit', () => refused.inc({ reason: 'limit' }));
  diagnosticsChannel.subscribe('memlock:error', (message) => {
    const { error, operation } = message as ErrorMessage;
    if (operation === 'lock' || operation === 'allocSecret') refused.inc({ reason: String((error as { code?: unknown }).code) });
  });
}
