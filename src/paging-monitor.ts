// monitorPaging(): in a running service, when memory pressure rises (a PSI
// trigger, waited on by a native thread) and why the event loop stalls (each
// stall over a threshold, attributed from this thread's faults and scheduler
// times, GC pauses and the PSI totals over the stall).
//
// Nothing runs until a monitor is started: no timer, no observer, no thread.
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readSync } from 'node:fs';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import { binding, type PsiWatchHandle } from './binding';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';
import { parsePressure, pressureSource } from './pressure';
import {
  armPressureWatch, openTotals, WINDOW_MAX_US, WINDOW_MIN_US,
  type ArmedWatch, type PressureKind, type TriggerInfo, type WatchSource,
} from './psi-trigger';
import { stallVerdict, type StallVerdict } from './stall-verdict';

export type { StallVerdict } from './stall-verdict';
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
  /** An event-loop delay above this is a stall, reported and attributed. Default 50 ms. */
  stallThresholdMs?: number;
  /** How often the event loop is checked (as monitorEventLoopDelay's resolution). Default 10 ms. */
  resolutionMs?: number;
  /** The PSI trigger, or false for none (fault and event-loop watching only). */
  pressure?: PressureTriggerOptions | false;
  /** Use systemd's $MEMORY_PRESSURE_WATCH / $MEMORY_PRESSURE_WRITE when set. Default true. */
  systemd?: boolean;
}

/** `memlock:pressure`, and the monitor's 'pressure' event: a PSI trigger fired. */
export interface PressureEvent {
  kind: PressureKind;
  /** The trigger's threshold and window; null when systemd's FIFO or socket gave none. */
  thresholdMs: number | null;
  windowMs: number | null;
  /** Stall time of `kind` over the last window, from the PSI totals; null where none can be read. */
  stallMs: number | null;
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
  /** How late the event loop ran its check: the stall. */
  delayMs: number;
  thresholdMs: number;
  /** performance.now() at the previous check and at this one: the span the figures cover. */
  start: number;
  end: number;
  windowMs: number;
  /** Faults of this (the JavaScript) thread in the window: getrusage(RUSAGE_THREAD). */
  majorFaults: number;
  minorFaults: number;
  /** Faults of the whole process in the window (other threads included). */
  processMajorFaults: number;
  processMinorFaults: number;
  /** This thread on a CPU; runnable but waiting for one (null where schedstat is missing); asleep. */
  cpuMs: number;
  runQueueMs: number | null;
  blockedMs: number;
  /** This thread's voluntary context switches (it slept) and involuntary ones (it was preempted). */
  sleeps: number;
  preemptions: number;
  /** GC pauses of this thread's isolate overlapping the window. */
  gcMs: number;
  gcCount: number;
  /** Memory PSI stall growth over the window ('some' and 'full'), or null without PSI. */
  pressure: { source: 'cgroup' | 'system'; someMs: number; fullMs: number } | null;
  threadId: number;
}

export interface PagingMonitorStats {
  /** Event-loop checks made. */
  checks: number;
  stalls: number;
  pressureEvents: number;
  /** Trigger wakes not reported: right after arming, with less stall than the threshold since. */
  ignoredWakes: number;
}

export const pressureChannel = diagnosticsChannel.channel('memlock:pressure');
export const stallChannel = diagnosticsChannel.channel('memlock:stall');

const DEFAULTS = { stallThresholdMs: 50, resolutionMs: 10, kind: 'some' as PressureKind, thresholdMs: 100, windowMs: 2000 };

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
}

function validate(options: unknown): Config {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
  const o = options as PagingMonitorOptions;
  const stallThresholdMs = numberOption('options.stallThresholdMs', o.stallThresholdMs, DEFAULTS.stallThresholdMs, 1, 60_000, '>= 1 and <= 60000');
  const resolutionMs = numberOption('options.resolutionMs', o.resolutionMs, DEFAULTS.resolutionMs, 1, 1000, '>= 1 and <= 1000');
  if (o.systemd !== undefined && typeof o.systemd !== 'boolean') throw invalidArgType('options.systemd', 'of type boolean', o.systemd);
  const p = o.pressure;
  if (p === false) return { stallThresholdMs, resolutionMs, trigger: null, explicitTrigger: true, systemd: o.systemd ?? true };
  if (p !== undefined && (typeof p !== 'object' || p === null)) throw invalidArgType('options.pressure', 'of type object or false', p);
  const kind = p?.kind ?? DEFAULTS.kind;
  if (typeof kind !== 'string') throw invalidArgType('options.pressure.kind', 'of type string', kind);
  if (kind !== 'some' && kind !== 'full') throw invalidArgValue('options.pressure.kind', `must be 'some' or 'full'. Received '${kind}'`);
  const windowMs = numberOption('options.pressure.windowMs', p?.windowMs, DEFAULTS.windowMs, WINDOW_MIN_US / 1000, WINDOW_MAX_US / 1000, '>= 500 and <= 10000');
  const thresholdMs = numberOption('options.pressure.thresholdMs', p?.thresholdMs, Math.min(DEFAULTS.thresholdMs, windowMs), 0.001, windowMs, `> 0 and <= the window (${windowMs})`);
  const explicitTrigger = p !== undefined && (p.kind !== undefined || p.thresholdMs !== undefined || p.windowMs !== undefined);
  return {
    stallThresholdMs,
    resolutionMs,
    trigger: { kind, thresholdUs: Math.max(1, Math.round(thresholdMs * 1000)), windowUs: Math.round(windowMs * 1000) },
    explicitTrigger,
    systemd: o.systemd ?? true,
  };
}

const SLOTS = binding.pagingSlots;
// PSI totals are remembered every so often, to tell a trigger's stall over its window.
const RING_STEP_MS = 250;
const RING_SIZE = Math.ceil(WINDOW_MAX_US / 1000 / RING_STEP_MS) + 2;
const GC_KEEP = 512;

interface GcPause {
  start: number;
  end: number;
}

/**
 * A running paging monitor; see monitorPaging(). Emits 'pressure'
 * (PressureEvent) and 'stall' (StallReport); `events.on(monitor, 'stall')`
 * iterates them. Never keeps the process alive. close() (or dispose) stops
 * everything; closing twice is harmless.
 */
export class PagingMonitor extends EventEmitter {
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
  #stats: PagingMonitorStats = { checks: 0, stalls: 0, pressureEvents: 0, ignoredWakes: 0 };
  #timer: NodeJS.Timeout;
  #observer: PerformanceObserver;
  #gc: GcPause[] = [];
  #watch: ArmedWatch | null;
  #handle: PsiWatchHandle | null = null;
  #schedFd: number;
  #psiFd: number;
  #psiSource: 'cgroup' | 'system' | null;
  #previous = new Float64Array(SLOTS.count);
  #current = new Float64Array(SLOTS.count);
  #lastCheck: number;
  #due: number;
  // performance.now() = CLOCK_MONOTONIC ms - this.
  #clockOffset: number;
  #ring: Float64Array = new Float64Array(RING_SIZE * 3);
  #ringNext = 0;
  #ringCount = 0;
  #ringLast = -Infinity;
  #firstWake = true;

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

    // The totals sampled at each check: the trigger's own file where it is
    // one, else the best source there is.
    const totalsSource = watch?.mode === 'trigger' ? { kind: watch.source === 'system' ? 'system' : 'cgroup', path: watch.path } as const : pressureSource('self');
    this.#psiFd = totalsSource.kind === 'unavailable' ? -1 : openTotals(totalsSource.path);
    this.#psiSource = this.#psiFd >= 0 && totalsSource.kind !== 'unavailable' ? totalsSource.kind : null;
    // /proc/thread-self resolves at open: this fd stays this thread's.
    try {
      this.#schedFd = openSync('/proc/thread-self/schedstat', 'r');
    } catch {
      this.#schedFd = -1;
    }

    binding.pagingSample(this.#previous, this.#schedFd, this.#psiFd);
    this.#lastCheck = performance.now();
    this.#clockOffset = this.#previous[SLOTS.timeMs]! - this.#lastCheck;
    this.#due = this.#lastCheck + this.resolutionMs;
    this.#remember(this.#lastCheck, this.#previous);

    this.#observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.#gc.push({ start: entry.startTime, end: entry.startTime + entry.duration });
      if (this.#gc.length > GC_KEEP) this.#gc.splice(0, this.#gc.length - GC_KEEP);
    });
    this.#observer.observe({ entryTypes: ['gc'] });
    this.#timer = setInterval(() => this.#check(), this.resolutionMs);
    this.#timer.unref();

    if (watch) this.#startWatch(watch);
    if (this.#unavailable !== null && !deliberate) {
      warnOnce('no-psi', `memlock: monitorPaging watches faults and event-loop stalls only: ${this.#unavailable}`);
    } else if (watch?.trigger?.rounded) {
      const t = watch.trigger;
      warnOnce('rounded', `memlock: the kernel takes PSI windows of whole 2 s only without CAP_SYS_RESOURCE: ` +
        `the trigger ${t.requested.thresholdMs} ms per ${t.requested.windowMs} ms was armed as ${t.thresholdMs} ms per ${t.windowMs} ms`);
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

  /** The watch was set up from systemd's $MEMORY_PRESSURE_WATCH. */
  get systemd(): boolean {
    return this.#fromEnvironment;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): PagingMonitorStats {
    return { ...this.#stats };
  }

  #startWatch(watch: ArmedWatch): void {
    if (watch.mode === 'socket') {
      const socket = watch.socket!;
      socket.unref();
      socket.on('data', () => this.#wake(performance.now() + this.#clockOffset, NaN, NaN, 0));
      socket.on('error', () => socket.destroy());
      return;
    }
    const handle = binding.psiWatch(watch.fd, watch.mode === 'trigger', (timeMs, someUs, fullUs, errno) => this.#wake(timeMs, someUs, fullUs, errno));
    // The watcher holds a duplicate; ours is closed through fs, which in a
    // worker tracks every fd it opened until it is closed.
    closeSync(watch.fd);
    if (typeof handle === 'number') {
      this.#watch = null;
      this.#unavailable = `the watcher thread could not start (errno ${-handle})`;
      return;
    }
    this.#handle = handle;
  }

  #wake(timeMs: number, someUs: number, fullUs: number, errno: number): void {
    const watch = this.#watch;
    if (this.#closed || watch === null) return;
    if (errno !== 0) {
      // The cgroup went away, or the FIFO hung up: no more wakes will come.
      this.#stopWatch();
      this.#unavailable = `the pressure watch on ${watch.path} ended (errno ${errno})`;
      return;
    }
    const trigger = watch.trigger;
    const kind: PressureKind = trigger?.kind ?? 'some';
    if (Number.isNaN(someUs) && this.#psiFd >= 0) ({ someUs, fullUs } = this.#readTotals());
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
    const now = performance.now();
    const windowMs = trigger?.windowMs ?? null;
    const before = windowMs === null || Number.isNaN(total) ? undefined : this.#totalAt(time - windowMs, kind);
    const event: PressureEvent = {
      kind,
      thresholdMs: trigger?.thresholdMs ?? null,
      windowMs,
      stallMs: before === undefined ? null : Math.max(0, total - before) / 1000,
      totalMs: Number.isNaN(total) ? null : total / 1000,
      source: watch.source,
      path: watch.path,
      time,
      deliveryMs: Math.max(0, now - time),
      threadId,
    };
    this.#stats.pressureEvents += 1;
    if (pressureChannel.hasSubscribers) pressureChannel.publish(event);
    this.emit('pressure', event);
  }

  #readTotals(): { someUs: number; fullUs: number } {
    const buffer = Buffer.alloc(256);
    try {
      const n = readSync(this.#psiFd, buffer, 0, buffer.length, 0);
      const { some, full } = parsePressure(buffer.toString('latin1', 0, n));
      return { someUs: some?.totalUs ?? NaN, fullUs: full?.totalUs ?? NaN };
    } catch {
      return { someUs: NaN, fullUs: NaN };
    }
  }

  #remember(time: number, sample: Float64Array): void {
    const at = this.#ringNext * 3;
    this.#ring[at] = time;
    this.#ring[at + 1] = sample[SLOTS.someTotalUs]!;
    this.#ring[at + 2] = sample[SLOTS.fullTotalUs]!;
    this.#ringNext = (this.#ringNext + 1) % RING_SIZE;
    this.#ringCount = Math.min(RING_SIZE, this.#ringCount + 1);
    this.#ringLast = time;
  }

  /** The total of `kind` at the latest remembered point at or before `time` (the oldest if none is). */
  #totalAt(time: number, kind: PressureKind): number | undefined {
    let found: number | undefined;
    let oldest: number | undefined;
    let oldestTime = Infinity;
    let foundTime = -Infinity;
    for (let i = 0; i < this.#ringCount; i += 1) {
      const at = i * 3;
      const t = this.#ring[at]!;
      const value = this.#ring[at + (kind === 'some' ? 1 : 2)]!;
      if (Number.isNaN(value)) continue;
      if (t <= time && t > foundTime) {
        foundTime = t;
        found = value;
      }
      if (t < oldestTime) {
        oldestTime = t;
        oldest = value;
      }
    }
    return found ?? oldest;
  }

  #check(): void {
    const now = performance.now();
    const delay = now - this.#due;
    const previous = this.#previous;
    const current = this.#current;
    binding.pagingSample(current, this.#schedFd, this.#psiFd);
    this.#stats.checks += 1;
    if (delay > this.stallThresholdMs) this.#stalled(this.#lastCheck, now, delay, previous.slice(), current.slice());
    if (now - this.#ringLast >= RING_STEP_MS) this.#remember(now, current);
    this.#previous = current;
    this.#current = previous;
    this.#lastCheck = now;
    this.#due = now + this.resolutionMs;
  }

  #stalled(start: number, end: number, delayMs: number, before: Float64Array, after: Float64Array): void {
    this.#stats.stalls += 1;
    // GC entries reach the observer in an immediate after the pause: attribute once they are in.
    setImmediate(() => setImmediate(() => {
      if (!this.#closed) this.#attribute(start, end, delayMs, before, after);
    }));
  }

  #attribute(start: number, end: number, delayMs: number, before: Float64Array, after: Float64Array): void {
    const delta = (slot: number): number => after[slot]! - before[slot]!;
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
    const blockedMs = Math.max(0, windowMs - cpuMs - (runQueueMs ?? 0));
    const majorFaults = delta(SLOTS.threadMajor);
    const sleeps = delta(SLOTS.threadVoluntary);
    const preemptions = delta(SLOTS.threadInvoluntary);
    const { verdict, reason } = stallVerdict({
      delayMs, windowMs, majorFaults, cpuMs, runQueueMs: runQueueMs ?? 0, blockedMs, sleeps, preemptions, gcMs,
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
      majorFaults,
      minorFaults: delta(SLOTS.threadMinor),
      processMajorFaults: delta(SLOTS.processMajor),
      processMinorFaults: delta(SLOTS.processMinor),
      cpuMs,
      runQueueMs,
      blockedMs,
      sleeps,
      preemptions,
      gcMs,
      gcCount,
      pressure: this.#psiSource === null || Number.isNaN(some)
        ? null
        : { source: this.#psiSource, someMs: some / 1000, fullMs: (delta(SLOTS.fullTotalUs) || 0) / 1000 },
      threadId,
    };
    if (stallChannel.hasSubscribers) stallChannel.publish(report);
    this.emit('stall', report);
  }

  #stopWatch(): void {
    if (this.#handle !== null) binding.psiUnwatch(this.#handle);
    this.#handle = null;
    this.#watch?.socket?.destroy();
    this.#watch = null;
  }

  /** Stops the timer, the GC observer and the watcher thread (joined). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#observer.disconnect();
    this.#stopWatch();
    for (const fd of [this.#schedFd, this.#psiFd]) if (fd >= 0) closeSync(fd);
    this.#schedFd = this.#psiFd = -1;
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
  return new PagingMonitor(validate(options));
}

