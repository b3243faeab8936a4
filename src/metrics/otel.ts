// OpenTelemetry metrics, as the subpath `memlock/otel`: the measurements of
// memlock/prometheus through @opentelemetry/api observable instruments
// (an optional peer: importing `memlock` never loads it; importing this does).
// Names follow OpenTelemetry's semantic-convention style (dot namespaces,
// UCUM units in `unit`, not in the name; `error.type` for why a call failed).
import diagnosticsChannel from 'node:diagnostics_channel';
import otel = require('@opentelemetry/api');
import type { ErrorMessage } from '../channels';
import { invalidArgType } from '../errors';
import type { PressureEvent, StallReport } from '../paging/paging-monitor';
import type { StallVerdict } from '../paging/stall-verdict';
import { capabilities } from '../capabilities';
import { pinnedStats } from '../memory/pinned';
import { pressure } from '../paging/pressure';
import { kbField, procStatus, readProcFile } from '../proc';
import { secretStats } from '../memory/secret';
import { stats } from '../locks/stats';

export interface OtelMetricsOptions {
  /** The meter to create the instruments on; default `metrics.getMeter('memlock')` of the global provider. */
  meter?: otel.Meter;
}

/** What registerOtelMetrics returns: `close()` (or `using`) removes the callbacks and stops counting. */
export interface OtelMetrics extends Disposable {
  close(): void;
}

// The same refusals and zero-valued series as memlock/prometheus (REFUSAL_REASONS there).
const REFUSABLE = new Set<ErrorMessage['operation']>(['lock', 'allocSecret', 'allocPinned', 'lockCode', 'lockAll']);
const REFUSAL_REASONS = ['limit', 'ERR_MEMLOCK_MAPPINGS', 'ENOMEM', 'EPERM', 'EAGAIN'];
const CAUSES: StallVerdict[] = ['paging', 'gc', 'cpu', 'unknown'];
const PRESSURE_KINDS: PressureEvent['kind'][] = ['some', 'full'];
const TRIGGER_SOURCES: PressureEvent['source'][] = ['cgroup', 'system', 'systemd'];

/** Tallies of events, reported by an observable counter, each known attribute set from 0. */
class Tally {
  readonly counts = new Map<string, { attributes: otel.Attributes; value: number }>();
  add(attributes: otel.Attributes): void {
    const key = JSON.stringify(attributes);
    const entry = this.counts.get(key) ?? { attributes, value: 0 };
    entry.value += 1;
    this.counts.set(key, entry);
  }
  zero(attributes: otel.Attributes): void {
    const key = JSON.stringify(attributes);
    if (!this.counts.has(key)) this.counts.set(key, { attributes, value: 0 });
  }
  observe = (result: otel.ObservableResult): void => {
    for (const { attributes, value } of this.counts.values()) result.observe(value, attributes);
  };
}

/**
 * Creates memlock's OpenTelemetry instruments on `options.meter`. Up-down
 * counters (read at collection): `memlock.locked.pages` {page},
 * `memlock.locked.size` By, `memlock.sticky.pages` {page},
 * `memlock.lock.count` {lock}, `memlock.secret.count` {secret},
 * `memlock.secret.mapped_size` By, `memlock.pinned.count` {buffer},
 * `memlock.pinned.mapped_size` By, and where the kernel keeps the account
 * (Linux) `memlock.kernel.locked.size` By (VmLck) and
 * `memlock.kernel.swapped.size` By (VmSwap). Gauges: `memlock.locked.limit`
 * {page} and `memlock.lock_all.enabled` 1 (per `memlock.lock_all.flag`).
 * Counters: `memlock.lock.refusals` {refusal} (by `error.type`),
 * `memlock.pressure.memory.waiting.time` s and
 * `memlock.pressure.memory.stalled.time` s (PSI some/full, by
 * `memlock.pressure.source`), `memlock.paging.faults` {fault} (by
 * `memlock.paging.fault_type`), `memlock.event_loop.stalls` {stall} (by
 * `memlock.stall.cause`), `memlock.pressure.events` {event} (by
 * `memlock.pressure.kind` and `memlock.pressure.source`). docs/metrics.md
 * maps each to its Prometheus name.
 */
export function registerOtelMetrics(options: OtelMetricsOptions = {}): OtelMetrics {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const meter = options.meter ?? otel.metrics.getMeter('memlock');
  if (typeof meter !== 'object' || meter === null || typeof meter.createObservableGauge !== 'function') {
    throw invalidArgType('options.meter', 'an OpenTelemetry Meter', meter);
  }
  const INT = { valueType: otel.ValueType.INT };
  const cleanups: (() => void)[] = [];
  const watch = (instrument: otel.Observable, callback: otel.ObservableCallback) => {
    instrument.addCallback(callback);
    cleanups.push(() => instrument.removeCallback(callback));
  };
  const upDown = (name: string, unit: string, description: string, read: () => number) =>
    watch(meter.createObservableUpDownCounter(name, { unit, description, ...INT }), (result) => result.observe(read()));

  upDown(
    'memlock.locked.pages',
    '{page}',
    'Distinct pages memlock holds locked (count > 0).',
    () => stats().lockedPages,
  );
  upDown('memlock.locked.size', 'By', 'Bytes of the distinct pages memlock holds locked.', () => stats().lockedBytes);
  upDown(
    'memlock.sticky.pages',
    '{page}',
    'Pages whose lock count saturated at 65535; locked for the life of the process.',
    () => stats().stickyPages,
  );
  upDown('memlock.lock.count', '{lock}', 'PageLock handles held now, by every thread.', () => stats().heldLocks);
  upDown('memlock.secret.count', '{secret}', 'Secrets (allocSecret) alive now.', () => secretStats().live);
  upDown(
    'memlock.secret.mapped_size',
    'By',
    'Bytes memlock has mapped for secret memory.',
    () => secretStats().mappedBytes,
  );
  upDown('memlock.pinned.count', '{buffer}', 'Pinned buffers (allocPinned) alive now.', () => pinnedStats().live);
  upDown(
    'memlock.pinned.mapped_size',
    'By',
    'Bytes memlock has mapped for pinned buffers.',
    () => pinnedStats().mappedBytes,
  );
  if (capabilities().kernelAccount) {
    upDown(
      'memlock.kernel.locked.size',
      'By',
      "The kernel's VmLck for this process.",
      () => procStatus('self').vmLckBytes,
    );
    upDown(
      'memlock.kernel.swapped.size',
      'By',
      "The kernel's VmSwap for this process: its anonymous memory in swap.",
      () => kbField(readProcFile('/proc/self/status'), 'VmSwap') ?? 0,
    );
  }
  watch(
    meter.createObservableGauge('memlock.locked.limit', {
      unit: '{page}',
      description: "memlock's lockable-page limit.",
      ...INT,
    }),
    (result) => result.observe(stats().limitPages),
  );
  watch(
    meter.createObservableGauge('memlock.lock_all.enabled', {
      unit: '1',
      description: 'Whole-process locking (lockAll): 1 per flag in force, 0 otherwise.',
      ...INT,
    }),
    (result) => {
      const state = stats().lockAll;
      result.observe(state?.current ? 1 : 0, { 'memlock.lock_all.flag': 'current' });
      result.observe(state?.future ? 1 : 0, { 'memlock.lock_all.flag': 'future' });
      result.observe(state?.onFault ? 1 : 0, { 'memlock.lock_all.flag': 'on_fault' });
    },
  );

  const psi = (name: string, kind: 'some' | 'full', description: string) =>
    watch(meter.createObservableCounter(name, { unit: 's', description }), (result) => {
      if (!capabilities().pagingMonitor) return;
      const snapshot = pressure();
      const figures = snapshot.source === 'unavailable' ? null : snapshot[kind];
      if (figures) result.observe(figures.totalUs / 1e6, { 'memlock.pressure.source': snapshot.source });
    });
  psi(
    'memlock.pressure.memory.waiting.time',
    'some',
    'Time in which some task was stalled on memory (PSI some total) that applies to this process.',
  );
  psi(
    'memlock.pressure.memory.stalled.time',
    'full',
    'Time in which all non-idle tasks were stalled on memory (PSI full total) that applies to this process.',
  );
  watch(
    meter.createObservableCounter('memlock.paging.faults', {
      unit: '{fault}',
      description: 'Page faults of this process: major (read from disk or swap) and minor.',
      ...INT,
    }),
    (result) => {
      const usage = process.resourceUsage();
      result.observe(usage.majorPageFault, { 'memlock.paging.fault_type': 'major' });
      result.observe(usage.minorPageFault, { 'memlock.paging.fault_type': 'minor' });
    },
  );

  const refusals = new Tally();
  for (const reason of REFUSAL_REASONS) refusals.zero({ 'error.type': reason });
  const stalls = new Tally();
  for (const cause of CAUSES) stalls.zero({ 'memlock.stall.cause': cause });
  const events = new Tally();
  for (const kind of PRESSURE_KINDS) {
    for (const source of TRIGGER_SOURCES)
      events.zero({ 'memlock.pressure.kind': kind, 'memlock.pressure.source': source });
  }
  const tally = (name: string, unit: string, description: string, counts: Tally) =>
    watch(meter.createObservableCounter(name, { unit, description, ...INT }), counts.observe);
  tally(
    'memlock.lock.refusals',
    '{refusal}',
    'Locks, secrets and pinned buffers refused, by error.type: "limit" (the lockable-page limit) or the error code.',
    refusals,
  );
  tally(
    'memlock.event_loop.stalls',
    '{stall}',
    'Event-loop stalls over the monitorPaging() threshold in this thread, by attributed cause.',
    stalls,
  );
  tally('memlock.pressure.events', '{event}', 'PSI triggers fired for monitorPaging() in this thread.', events);

  const subscribe = (channel: string, listener: (message: unknown) => void) => {
    diagnosticsChannel.subscribe(channel, listener);
    cleanups.push(() => diagnosticsChannel.unsubscribe(channel, listener));
  };
  subscribe('memlock:limit', () => refusals.add({ 'error.type': 'limit' }));
  subscribe('memlock:error', (message) => {
    const { error, operation } = message as ErrorMessage;
    if (REFUSABLE.has(operation)) refusals.add({ 'error.type': String((error as { code?: unknown }).code) });
  });
  subscribe('memlock:stall', (message) => stalls.add({ 'memlock.stall.cause': (message as StallReport).verdict }));
  subscribe('memlock:pressure', (message) => {
    const { kind, source } = message as PressureEvent;
    events.add({ 'memlock.pressure.kind': kind, 'memlock.pressure.source': source });
  });

  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const cleanup of cleanups) cleanup();
  };
  return { close, [Symbol.dispose]: close };
}
