// monitorPaging(): in a running service, when memory pressure rises (a PSI
// trigger, waited on by a native thread) and why the event loop stalls (each
// loop iteration busy for longer than a threshold, attributed from this
// thread's faults and scheduler times, GC pauses and the PSI totals over the
// stall). The event loop is watched from libuv (native/paging/loop_watch.h): no
// timer, no wakeup of its own, nothing while the loop is idle.
//
// Nothing runs until a monitor is started: no hook, no observer, no thread.
import { capabilities, unsupported } from '../capabilities';
import { EventEmitter } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { readKernelFile } from '../kernel-file';
import type { PerformanceObserver } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { binding, type PagingWatchHandle } from '../binding';
import { typedChannel } from '../channels';
import { invalidArgType, invalidArgValue, outOfRange } from '../errors';
import { errnoName, nativeFailure } from '../native-failure';
import { parsePressure, pressureSource } from './pressure';
import {
  armPressureWatch,
  WINDOW_MAX_US,
  WINDOW_MIN_US,
  type ArmedWatch,
  type PressureKind,
  type TriggerInfo,
  type WatchSource,
} from './psi-trigger';
import { stallVerdict, type HostFigures, type StallVerdict } from './stall-verdict';
import { balloonCounters, cpuTimes, hypervisorFlag } from './host-signals';
import { memoryCgroup } from './cgroup';
import {
  CgroupEvents,
  type CgroupEventsUnavailableEvent,
  type CgroupMemoryEvent,
  type CgroupMemoryStatus,
} from './cgroup-events';
import { migrationCounters, migrationDelta, type MigrationCounters, type MigrationDelta } from './migrations';

export type {
  CgroupEventsUnavailableEvent,
  CgroupEventsVia,
  CgroupMemoryEvent,
  CgroupMemoryStatus,
} from './cgroup-events';

export type { HostFigures, StallVerdict } from './stall-verdict';
export type { PressureKind, TriggerInfo, WatchSource } from './psi-trigger';

export interface PressureTriggerOptions {
  /** 'some' (default): some task stalled on memory; 'full': all non-idle tasks at once. */
  kind?: PressureKind;
  /** Stall time in a window that fires the trigger. Default 100 ms. */
  thresholdMs?: number;
  /** The window, 500 to 10000 ms. Default 2000. Rounded up to whole 2 s without CAP_SYS_RESOURCE. */
  windowMs?: number;
}

export interface PagingMonitorOptions {
  /** A loop iteration busy for longer than this is a stall, reported and attributed. Default 50 ms. */
  stallThresholdMs?: number;
  /**
   * While the loop iterates, the paging figures are sampled at most this
   * often, so a stall's figures start at most this long before it. Default
   * 10 ms. Nothing is sampled while the loop is idle.
   */
  resolutionMs?: number;
  /** The PSI trigger, or false for none (fault and event-loop watching only). */
  pressure?: PressureTriggerOptions | false;
  /** Use systemd's $MEMORY_PRESSURE_WATCH / $MEMORY_PRESSURE_WRITE when set. Default true. */
  systemd?: boolean;
  /**
   * Watch the memory events of the process's own memory cgroup (v2
   * memory.events and memory.swap.events through inotify; v1 pressure levels
   * and OOM through cgroup.event_control eventfds, failcnt and oom_kill read
   * on each; a poll every second where notifications are refused):
   * 'cgroup-memory' events. Default true.
   */
  cgroupEvents?: boolean;
}

/** `memlock:pressure`, and the monitor's 'pressure' event: a PSI trigger fired. */
export interface PressureEvent {
  kind: PressureKind;
  /** The trigger's threshold and window; null when systemd's FIFO or socket gave none. */
  thresholdMs: number | null;
  windowMs: number | null;
  /**
   * Stall time of `kind` since the previous event (or since arming, for the
   * first), from the PSI totals: at least the threshold, as the kernel fires
   * at most once per window. null where no totals can be read.
   */
  stallMs: number | null;
  /** The span stallMs covers. */
  intervalMs: number;
  /** The cumulative total of `kind`, in ms; null where none can be read. */
  totalMs: number | null;
  source: WatchSource;
  path: string;
  /** performance.now() when the kernel woke the watcher thread. */
  time: number;
  /** From that wake to this event on the JavaScript thread. */
  deliveryMs: number;
  threadId: number;
}

/** `memlock:stall`, and the monitor's 'stall' event: an event-loop stall, attributed. */
export interface StallReport {
  verdict: StallVerdict;
  /** The figures behind the verdict, in a sentence. */
  reason: string;
  /** How long the stalled loop iteration kept the event loop from polling: the stall. */
  delayMs: number;
  thresholdMs: number;
  /** performance.now() of the sample before the stall and of the one at its end: the span the figures cover. */
  start: number;
  end: number;
  windowMs: number;
  /** Time in the window the loop sat idle in poll (before the stall began). */
  idleMs: number;
  /** Faults of this (the JavaScript) thread in the window: getrusage(RUSAGE_THREAD). */
  majorFaults: number;
  minorFaults: number;
  /** Faults of the whole process in the window (other threads included). */
  processMajorFaults: number;
  processMinorFaults: number;
  /** This thread on a CPU; runnable but waiting for one (null where schedstat is missing); asleep, not idle in poll. */
  cpuMs: number;
  runQueueMs: number | null;
  blockedMs: number;
  /** This thread's voluntary context switches (it slept) and involuntary ones (it was preempted). */
  sleeps: number;
  preemptions: number;
  /** GC pauses of this thread's isolate overlapping the window. */
  gcMs: number;
  gcCount: number;
  /**
   * Memory PSI stall growth ('some' and 'full') from the last reading before
   * the stall to its end, `sinceMs` earlier (the totals are read at most
   * every 500 ms: reading them more often keeps the kernel's unprivileged
   * triggers on the group from firing). Null without PSI.
   */
  pressure: { source: 'cgroup' | 'system'; someMs: number; fullMs: number; sinceMs: number } | null;
  /**
   * In a guest (the CPU flag "hypervisor"): steal time and balloon moves from
   * the reading before the stall (the previous stall's, or the monitor's
   * start) to the stall's end. null on bare metal.
   */
  host: HostFigures | null;
  /**
   * Page migrations of the whole system (compaction, NUMA balancing,
   * khugepaged) from the last reading before the stall to its end, `sinceMs`
   * earlier (read about once a second while the loop runs), with this
   * process's NUMA migrations where the kernel gives them. Null without
   * /proc/vmstat.
   */
  migration: MigrationDelta | null;
  threadId: number;
}

/** The monitor's 'psi-unavailable' event: its pressure watch ended (a socket hung up, a cgroup went away). */
export interface PsiUnavailableEvent {
  /** As psiUnavailableReason now says. */
  reason: string;
  source: WatchSource;
  path: string;
}

export interface PagingMonitorStats {
  stalls: number;
  pressureEvents: number;
  /** Trigger wakes not reported: right after arming, with less stall than the threshold since. */
  ignoredWakes: number;
  /** 'cgroup-memory' events emitted. */
  cgroupEvents: number;
}

/**
 * The monitor's events: each name and the arguments its listeners get. A
 * misspelt name or field does not compile. A new event is one more entry here.
 */
export interface PagingMonitorEvents {
  /** A PSI trigger fired. */
  pressure: [event: PressureEvent];
  /** An event-loop stall, attributed. */
  stall: [report: StallReport];
  /** The pressure watch ended (a socket hung up, a cgroup went away). */
  'psi-unavailable': [event: PsiUnavailableEvent];
  /** The memory cgroup's own events (limits hit, OOM kills, v1 pressure levels) changed. */
  'cgroup-memory': [event: CgroupMemoryEvent];
  /** The cgroup event watch could not start, or ended; the reason is in cgroupEventsUnavailableReason. */
  'cgroup-events-unavailable': [event: CgroupEventsUnavailableEvent];
}

export const pressureChannel = typedChannel('memlock:pressure');
export const stallChannel = typedChannel('memlock:stall');
export const cgroupMemoryChannel = typedChannel('memlock:cgroup-memory');

const MIGRATION_READ_MS = 1000;
const MIGRATION_READINGS = 8;

const DEFAULTS = {
  stallThresholdMs: 50,
  resolutionMs: 10,
  kind: 'some' as PressureKind,
  thresholdMs: 100,
  windowMs: 2000,
};

let warnedNoPsi = false;
let warnedRounded = false;

function warnOnce(kind: 'no-psi' | 'rounded', message: string): void {
  if (kind === 'no-psi') {
    if (warnedNoPsi) return;
    warnedNoPsi = true;
    process.emitWarning(message, { type: 'MemlockWarning', code: 'MEMLOCK_NO_PSI' });
  } else {
    if (warnedRounded) return;
    warnedRounded = true;
    process.emitWarning(message, { type: 'MemlockWarning', code: 'MEMLOCK_PSI_WINDOW_ROUNDED' });
  }
}

function numberOption(name: string, value: unknown, fallback: number, min: number, max: number, range: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!(value >= min && value <= max)) throw outOfRange(name, range, value);
  return value;
}

interface Config {
  stallThresholdMs: number;
  resolutionMs: number;
  trigger: { kind: PressureKind; thresholdUs: number; windowUs: number } | null;
  explicitTrigger: boolean;
  systemd: boolean;
  cgroupEvents: boolean;
}

function validate(options: unknown): Config {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw invalidArgType('options', 'of type object', options);
  const o = options as PagingMonitorOptions;
  const stallThresholdMs = numberOption(
    'options.stallThresholdMs',
    o.stallThresholdMs,
    DEFAULTS.stallThresholdMs,
    1,
    60_000,
    '>= 1 and <= 60000',
  );
  const resolutionMs = numberOption(
    'options.resolutionMs',
    o.resolutionMs,
    DEFAULTS.resolutionMs,
    1,
    1000,
    '>= 1 and <= 1000',
  );
  if (o.systemd !== undefined && typeof o.systemd !== 'boolean')
    throw invalidArgType('options.systemd', 'of type boolean', o.systemd);
  if (o.cgroupEvents !== undefined && typeof o.cgroupEvents !== 'boolean')
    throw invalidArgType('options.cgroupEvents', 'of type boolean', o.cgroupEvents);
  const cgroupEvents = o.cgroupEvents ?? true;
  const p = o.pressure;
  if (p === false)
    return {
      stallThresholdMs,
      resolutionMs,
      trigger: null,
      explicitTrigger: true,
      systemd: o.systemd ?? true,
      cgroupEvents,
    };
  if (p !== undefined && (typeof p !== 'object' || p === null || Array.isArray(p)))
    throw invalidArgType('options.pressure', 'of type object or false', p);
  const kind = p?.kind ?? DEFAULTS.kind;
  if (typeof kind !== 'string') throw invalidArgType('options.pressure.kind', 'of type string', kind);
  if (kind !== 'some' && kind !== 'full')
    throw invalidArgValue('options.pressure.kind', `must be 'some' or 'full'. Received '${String(kind)}'`);
  const windowMs = numberOption(
    'options.pressure.windowMs',
    p?.windowMs,
    DEFAULTS.windowMs,
    WINDOW_MIN_US / 1000,
    WINDOW_MAX_US / 1000,
    '>= 500 and <= 10000',
  );
  // The kernel counts in whole microseconds: 0.001 ms is the least threshold.
  const thresholdMs = numberOption(
    'options.pressure.thresholdMs',
    p?.thresholdMs,
    Math.min(DEFAULTS.thresholdMs, windowMs),
    0.001,
    windowMs,
    `>= 0.001 (1 microsecond) and <= options.pressure.windowMs (${windowMs})`,
  );
  const explicitTrigger =
    p !== undefined && (p.kind !== undefined || p.thresholdMs !== undefined || p.windowMs !== undefined);
  return {
    stallThresholdMs,
    resolutionMs,
    trigger: { kind, thresholdUs: Math.max(1, Math.round(thresholdMs * 1000)), windowUs: Math.round(windowMs * 1000) },
    explicitTrigger,
    systemd: o.systemd ?? true,
    cgroupEvents,
  };
}

const LAYOUT = binding.numbers.paging;
const SLOTS = LAYOUT.slots;
const GC_KEEP = 512;

interface GcPause {
  start: number;
  end: number;
}

function openOrNone(file: string | null): number {
  if (file === null) return -1;
  try {
    return openSync(file, 'r');
  } catch {
    return -1;
  }
}

function hostReading(): { stealMs: number | null; balloonPages: number | null } {
  const balloon = balloonCounters();
  return { stealMs: cpuTimes()?.stealMs ?? null, balloonPages: balloon ? balloon.inflate + balloon.deflate : null };
}

function readTotals(file: string | null): { someUs: number; fullUs: number } {
  if (file === null) return { someUs: NaN, fullUs: NaN };
  try {
    const { some, full } = parsePressure(readKernelFile(file));
    return { someUs: some?.totalUs ?? NaN, fullUs: full?.totalUs ?? NaN };
  } catch {
    return { someUs: NaN, fullUs: NaN };
  }
}

/**
 * A running paging monitor; see monitorPaging(). Emits 'pressure'
 * (PressureEvent), 'stall' (StallReport), 'psi-unavailable'
 * (PsiUnavailableEvent: the watch ended), 'cgroup-memory' (CgroupMemoryEvent:
 * a count of the process's memory cgroup grew) and 'cgroup-events-unavailable'
 * (CgroupEventsUnavailableEvent: that watch failed or ended); `events.on(monitor, 'stall')`
 * iterates them. Never keeps the process alive. close() (or dispose) stops
 * everything; closing twice is harmless.
 */
/**
 * CLOCK_MONOTONIC (native timestamps) less performance.now(), both in ms.
 * From the tightest of a few bracketed reads: one read alone was 1.6 ms off
 * here (a process's first native call is slow to return), which put every
 * pressure event's deliveryMs at 0 and moved stall windows by as much.
 */
function clockOffset(): number {
  const sample = new Float64Array(SLOTS.count);
  let best = Infinity;
  let offset = 0;
  for (let i = 0; i < 5; i += 1) {
    const before = performance.now();
    binding.pagingSample(sample, -1, -1);
    const after = performance.now();
    if (after - before < best) {
      best = after - before;
      offset = sample[SLOTS.timeMs]! - (before + after) / 2;
    }
  }
  return offset;
}

export class PagingMonitor extends EventEmitter<PagingMonitorEvents> {
  /** The armed trigger (null for none, or a systemd FIFO/socket without one). */
  readonly trigger: TriggerInfo | null;
  /** Where pressure is watched ('cgroup', 'system' or 'systemd'), or null. */
  readonly source: WatchSource | null;
  readonly path: string | null;
  readonly stallThresholdMs: number;
  readonly resolutionMs: number;

  #closed = false;
  #unavailable: string | null;
  #fromEnvironment: boolean;
  #stats: PagingMonitorStats = { stalls: 0, pressureEvents: 0, ignoredWakes: 0, cgroupEvents: 0 };
  #cgroup: CgroupEvents | null = null;
  // In a guest: the host readings before the next stall.
  #hostBefore: { stealMs: number | null; balloonPages: number | null } | null;
  #cgroupUnavailable: string | null = null;
  #observer: PerformanceObserver;
  #gc: GcPause[] = [];
  #watch: ArmedWatch | null;
  #handle: PagingWatchHandle | null = null;
  /** The pressure file whose totals are sampled, and its kind. */
  #totalsPath: string | null;
  #psiSource: 'cgroup' | 'system' | null;
  // performance.now() = CLOCK_MONOTONIC ms - this.
  #clockOffset: number;
  #firstWake = true;
  #lastEvent: { time: number; someUs: number; fullUs: number };
  /** The last few /proc/vmstat readings of migration counters (each MIGRATION_READ_MS and at each stall), oldest first. */
  #migrations: { time: number; counters: MigrationCounters }[] = [];
  #migrationTimer: NodeJS.Timeout;

  /** @internal Use monitorPaging(). */
  constructor(config: Config) {
    super();
    this.stallThresholdMs = config.stallThresholdMs;
    this.resolutionMs = config.resolutionMs;

    let reason: string | null = null;
    let watch: ArmedWatch | null = null;
    let deliberate = config.trigger === null;
    if (config.trigger === null) {
      reason = 'no trigger asked for (options.pressure: false)';
    } else {
      const armed = armPressureWatch(config.trigger, config.explicitTrigger, config.systemd);
      if (armed.ok) watch = armed.watch;
      else ({ reason, deliberate = false } = armed);
    }
    this.#watch = watch;
    this.#unavailable = reason;
    this.#fromEnvironment = watch?.fromEnvironment ?? false;
    this.trigger = watch?.trigger ?? null;
    this.source = watch?.source ?? null;
    this.path = watch?.path ?? null;

    // The totals sampled: the trigger's own file where it is one, else the
    // best source there is.
    const totals =
      watch?.mode === 'trigger'
        ? ({ kind: watch.source === 'system' ? 'system' : 'cgroup', path: watch.path } as const)
        : pressureSource('self');
    this.#totalsPath = totals.kind === 'unavailable' ? null : totals.path;
    this.#psiSource = totals.kind === 'unavailable' ? null : totals.kind;

    this.#clockOffset = clockOffset();
    this.#hostBefore = hypervisorFlag() ? hostReading() : null;
    const baseline = watch?.baseline ?? readTotals(this.#totalsPath);
    this.#lastEvent = { time: performance.now(), someUs: baseline?.someUs ?? NaN, fullUs: baseline?.fullUs ?? NaN };

    // A stall's migrations are counted from the last reading before it; the
    // timer cannot fire during the stall, so that reading predates it.
    this.#readMigrations();

    // perf_hooks is loaded when a monitor starts, not when memlock is imported.
    const { PerformanceObserver: Observer } = require('node:perf_hooks') as typeof import('node:perf_hooks');
    this.#observer = new Observer((list) => {
      for (const entry of list.getEntries())
        this.#gc.push({ start: entry.startTime, end: entry.startTime + entry.duration });
      if (this.#gc.length > GC_KEEP) this.#gc.splice(0, this.#gc.length - GC_KEEP);
    });
    this.#observer.observe({ entryTypes: ['gc'] });

    // The native side duplicates every fd it is given; ours are closed right
    // after (a worker's fs tracks the fds it opened until they are closed).
    // /proc/thread-self resolves at open: the fd is this thread's.
    const schedFd = openOrNone('/proc/thread-self/schedstat');
    const psiFd = openOrNone(this.#totalsPath);
    const triggerFd = watch && watch.mode !== 'socket' ? watch.fd : -1;
    if (config.cgroupEvents) this.#openCgroupEvents();
    let handle: PagingWatchHandle | number;
    try {
      handle = binding.pagingWatch(
        {
          triggerFd,
          trigger: watch?.mode === 'trigger',
          counterFds: this.#cgroup?.counterFds ?? [],
          stallThresholdMs: this.stallThresholdMs,
          sampleEveryMs: this.resolutionMs,
          schedFd,
          psiFd,
        },
        // A listener's throw is uncaught, as from any emitter (native/binding/paging.cc).
        (kind, data) => this.#event(kind, data),
      );
    } finally {
      for (const fd of [schedFd, psiFd, triggerFd]) if (fd >= 0) closeSync(fd);
    }
    if (typeof handle === 'number') {
      this.#cgroup?.close();
      this.#observer.disconnect();
      watch?.socket?.destroy();
      throw nativeFailure({ operation: 'monitorPaging', result: handle, syscall: 'pthread_create', bytes: 0 });
    }
    this.#handle = handle;
    this.#cgroup?.start();
    this.#migrationTimer = setInterval(() => this.#readMigrations(), MIGRATION_READ_MS);
    this.#migrationTimer.unref();
    if (watch?.mode === 'socket') {
      const socket = watch.socket!;
      socket.unref();
      socket.on('data', () => this.#wake(performance.now() + this.#clockOffset, NaN, NaN, 0));
      // The service manager hung up or the socket failed: no more events come.
      let failure = 'was hung up by the other end';
      socket.on('error', (error: NodeJS.ErrnoException) => {
        failure = `failed (${error.code ?? error.message})`;
        socket.destroy();
      });
      socket.on('close', () => this.#ended(`the pressure watch on ${watch.path} ${failure}`));
    }

    if (this.#unavailable !== null && !deliberate) {
      warnOnce('no-psi', `memlock: monitorPaging watches faults and event-loop stalls only: ${this.#unavailable}`);
    } else if (watch?.trigger?.rounded) {
      const t = watch.trigger;
      warnOnce(
        'rounded',
        `memlock: the kernel takes PSI windows of whole 2 s only without CAP_SYS_RESOURCE: ` +
          `the trigger ${t.requested.thresholdMs} ms per ${t.requested.windowMs} ms was armed as ${t.thresholdMs} ms per ${t.windowMs} ms`,
      );
    }
  }

  /** 'psi': a pressure watch is armed; 'event-loop-only': faults and event-loop stalls only (see psiUnavailableReason). */
  get mode(): 'psi' | 'event-loop-only' {
    return this.#unavailable === null ? 'psi' : 'event-loop-only';
  }

  /** Why no pressure watch is armed (or why it ended), when mode is 'event-loop-only'; else null. */
  get psiUnavailableReason(): string | null {
    return this.#unavailable;
  }

  // The process's memory cgroup, if it has one; a failure is said (the
  // unavailable reason), never left looking watched.
  #openCgroupEvents(): void {
    let cgroup: ReturnType<typeof memoryCgroup>;
    try {
      cgroup = memoryCgroup('self');
    } catch (error) {
      this.#cgroupUnavailable = `cannot find the process's memory cgroup (${(error as Error).message})`;
      return;
    }
    if (cgroup === undefined) {
      this.#cgroupUnavailable =
        'the process has no memory cgroup in view (no cgroup v2 memory controller, no v1 memory hierarchy mounted)';
      return;
    }
    try {
      this.#cgroup = new CgroupEvents({
        version: cgroup.version,
        dir: cgroup.dir,
        threadId,
        onEvent: (event) => {
          this.#stats.cgroupEvents += 1;
          if (cgroupMemoryChannel.hasSubscribers) cgroupMemoryChannel.publish(event);
          this.emit('cgroup-memory', event);
        },
        onEnd: (reason) => {
          this.#cgroupUnavailable = reason;
          const event: CgroupEventsUnavailableEvent = { reason, dir: cgroup.dir };
          this.emit('cgroup-events-unavailable', event);
        },
      });
    } catch (error) {
      this.#cgroupUnavailable = `cannot read the memory cgroup ${cgroup.dir} (${(error as Error).message})`;
    }
  }

  /**
   * The process's memory cgroup and its event counts now, read from the
   * kernel's files (and, on v1, the notifications counted since the monitor
   * started); null when they are not watched (see cgroupEventsUnavailableReason).
   */
  cgroupMemory(): CgroupMemoryStatus | null {
    if (this.#cgroup === null || this.#cgroupUnavailable !== null) return null;
    return this.#cgroup.status();
  }

  /** Why the cgroup's memory events are not watched (or stopped being), or null while they are. */
  get cgroupEventsUnavailableReason(): string | null {
    return this.#cgroupUnavailable;
  }

  /** The watch was set up from systemd's $MEMORY_PRESSURE_WATCH. */
  get systemd(): boolean {
    return this.#fromEnvironment;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #readMigrations(): { time: number; counters: MigrationCounters } | undefined {
    const counters = migrationCounters();
    if (counters === null) return undefined;
    const reading = { time: performance.now(), counters };
    this.#migrations.push(reading);
    if (this.#migrations.length > MIGRATION_READINGS) this.#migrations.shift();
    return reading;
  }

  get stats(): PagingMonitorStats {
    return { ...this.#stats };
  }

  #event(kind: number, data: Float64Array): void {
    if (this.#closed) return;
    if (kind === LAYOUT.eventWake) {
      this.#wake(data[LAYOUT.wakeTime]!, data[LAYOUT.wakeSome]!, data[LAYOUT.wakeFull]!, data[LAYOUT.wakeErrno]!);
    } else if (kind === LAYOUT.eventCounter) {
      this.#cgroup?.counter(
        data[LAYOUT.counterIndex]!,
        data[LAYOUT.counterCount]!,
        data[LAYOUT.counterTime]! - this.#clockOffset,
      );
    } else if (kind === LAYOUT.eventStall) {
      this.#stats.stalls += 1;
      // Read as the stall is delivered (the poll phase right after it).
      const host = this.#hostSince();
      // This arrives in the poll phase right after the stall; the GC entries
      // of the stall reach the observer in the check phase that follows, in
      // an immediate queued after a first one of ours: attribute in a second.
      setImmediate(() =>
        setImmediate(() => {
          if (!this.#closed) this.#attribute(data, host);
        }),
      );
    }
  }

  #wake(timeMs: number, someUs: number, fullUs: number, errno: number): void {
    const watch = this.#watch;
    if (this.#closed || watch === null) return;
    if (errno !== 0) {
      // The cgroup went away, or the FIFO hung up: no more wakes will come.
      this.#ended(`the pressure watch on ${watch.path} ended (${errnoName(-Math.abs(errno))})`);
      return;
    }
    const trigger = watch.trigger;
    const kind: PressureKind = trigger?.kind ?? 'some';
    if (Number.isNaN(someUs)) ({ someUs, fullUs } = readTotals(this.#totalsPath));
    const total = kind === 'some' ? someUs : fullUs;
    // Peers saw the kernel report a wake right after arming: the first one
    // counts only if the stall since arming reached the threshold.
    if (this.#firstWake && watch.mode === 'trigger' && trigger && watch.baseline && !Number.isNaN(total)) {
      const since = total - (kind === 'some' ? watch.baseline.someUs : watch.baseline.fullUs);
      this.#firstWake = false;
      if (since < trigger.thresholdMs * 1000) {
        this.#stats.ignoredWakes += 1;
        return;
      }
    }
    this.#firstWake = false;
    const time = timeMs - this.#clockOffset;
    const last = this.#lastEvent;
    const before = kind === 'some' ? last.someUs : last.fullUs;
    const event: PressureEvent = {
      kind,
      thresholdMs: trigger?.thresholdMs ?? null,
      windowMs: trigger?.windowMs ?? null,
      stallMs: Number.isNaN(total) || Number.isNaN(before) ? null : Math.max(0, total - before) / 1000,
      intervalMs: time - last.time,
      totalMs: Number.isNaN(total) ? null : total / 1000,
      source: watch.source,
      path: watch.path,
      time,
      deliveryMs: Math.max(0, performance.now() - time),
      threadId,
    };
    this.#lastEvent = { time, someUs, fullUs };
    this.#stats.pressureEvents += 1;
    if (pressureChannel.hasSubscribers) pressureChannel.publish(event);
    this.emit('pressure', event);
  }

  // A watch that ends is said (mode, psiUnavailableReason, an event, the
  // thread's one warning), never left looking armed.
  #ended(reason: string): void {
    const watch = this.#watch;
    if (this.#closed || watch === null) return;
    this.#watch = null;
    this.#unavailable = reason;
    warnOnce('no-psi', `memlock: monitorPaging watches faults and event-loop stalls only: ${reason}`);
    const event: PsiUnavailableEvent = { reason, source: watch.source, path: watch.path };
    this.emit('psi-unavailable', event);
  }

  #hostSince(): HostFigures | null {
    if (this.#hostBefore === null) return null;
    const before = this.#hostBefore;
    const now = hostReading();
    this.#hostBefore = now;
    const grew = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.max(0, b - a));
    return {
      hypervisor: true,
      stealMs: grew(before.stealMs, now.stealMs),
      balloonPages: grew(before.balloonPages, now.balloonPages),
    };
  }

  #attribute(data: Float64Array, host: HostFigures | null): void {
    const before = data.subarray(LAYOUT.stallBefore, LAYOUT.stallBefore + SLOTS.count);
    const after = data.subarray(LAYOUT.stallAfter, LAYOUT.stallAfter + SLOTS.count);
    const delta = (slot: number): number => after[slot]! - before[slot]!;
    const start = data[LAYOUT.stallStart]! - this.#clockOffset;
    const end = data[LAYOUT.stallEnd]! - this.#clockOffset;
    const delayMs = data[LAYOUT.stallBusy]!;
    const idleMs = data[LAYOUT.stallIdle]!;
    const windowMs = end - start;
    let gcMs = 0;
    let gcCount = 0;
    for (const pause of this.#gc) {
      const overlap = Math.min(pause.end, end) - Math.max(pause.start, start);
      if (overlap > 0) {
        gcMs += overlap;
        gcCount += 1;
      }
    }
    const runNs = delta(SLOTS.runNs);
    const cpuMs = Number.isNaN(runNs) ? delta(SLOTS.threadCpuUs) / 1000 : runNs / 1e6;
    const waitNs = delta(SLOTS.waitNs);
    const runQueueMs = Number.isNaN(waitNs) ? null : waitNs / 1e6;
    // Asleep, not counting the time idle in poll: page-ins, blocking I/O, locks.
    const blockedMs = Math.max(0, windowMs - idleMs - cpuMs - (runQueueMs ?? 0));
    const majorFaults = delta(SLOTS.threadMajor);
    const sleeps = delta(SLOTS.threadVoluntary);
    const preemptions = delta(SLOTS.threadInvoluntary);
    const minorFaults = delta(SLOTS.threadMinor);
    // A stall is attributed after it ends, maybe after later readings: count
    // from the latest reading before it began (the timer cannot fire during it).
    let earlier = this.#migrations[0];
    for (const reading of this.#migrations) if (reading.time <= start) earlier = reading;
    const now = this.#readMigrations();
    const migration =
      earlier === undefined || now === undefined
        ? null
        : migrationDelta(earlier.counters, now.counters, now.time - earlier.time);
    const { verdict, reason } = stallVerdict({
      delayMs,
      windowMs: windowMs - idleMs,
      majorFaults,
      cpuMs,
      runQueueMs: runQueueMs ?? 0,
      blockedMs,
      sleeps,
      preemptions,
      gcMs,
      host,
      minorFaults,
      ...(migration === null
        ? {}
        : {
            migration: {
              pages: migration.pagesMigrated,
              compactionIsolated: migration.compactionIsolated,
              numaPages: migration.numaPagesMigrated,
            },
          }),
    });
    const some = delta(SLOTS.someTotalUs);
    const report: StallReport = {
      verdict,
      reason,
      delayMs,
      thresholdMs: this.stallThresholdMs,
      start,
      end,
      windowMs,
      idleMs,
      majorFaults,
      minorFaults,
      processMajorFaults: delta(SLOTS.processMajor),
      processMinorFaults: delta(SLOTS.processMinor),
      cpuMs,
      runQueueMs,
      blockedMs,
      sleeps,
      preemptions,
      gcMs,
      gcCount,
      pressure:
        this.#psiSource === null || Number.isNaN(some)
          ? null
          : {
              source: this.#psiSource,
              someMs: some / 1000,
              fullMs: (delta(SLOTS.fullTotalUs) || 0) / 1000,
              sinceMs: data[LAYOUT.stallEnd]! - data[LAYOUT.stallPsiStart]!,
            },
      host,
      migration,
      threadId,
    };
    if (stallChannel.hasSubscribers) stallChannel.publish(report);
    this.emit('stall', report);
  }

  /** Stops the loop watch, the GC observer and the watcher thread (joined). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#observer.disconnect();
    clearInterval(this.#migrationTimer);
    if (this.#handle !== null) binding.pagingUnwatch(this.#handle);
    this.#handle = null;
    this.#watch?.socket?.destroy();
    this.#watch = null;
    this.#cgroup?.close();
    this.#gc = [];
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Starts watching memory pressure and event-loop stalls in this thread (each
 * worker may run its own). Without PSI it watches faults and stalls only, and
 * says so once (MemlockWarning MEMLOCK_NO_PSI). `using monitor = monitorPaging()`.
 */
export function monitorPaging(options?: PagingMonitorOptions): PagingMonitor {
  const checked = validate(options);
  if (!capabilities().pagingMonitor) {
    throw unsupported(
      'monitorPaging()',
      'it needs PSI and per-thread fault counts, which are Linux-only; perf_hooks.monitorEventLoopDelay() shows event-loop stalls',
    );
  }
  return new PagingMonitor(checked);
}
