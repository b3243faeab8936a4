// The memory events of the process's own memory cgroup, as the kernel counts
// and notifies them, for the paging monitor:
//   v2: memory.events (low, high, max, oom, oom_kill, oom_group_kill) and
//       memory.swap.events (high, max, fail, named swap_*). The kernel raises
//       a file-modified event on each when a count changes: watched with
//       fs.watch (inotify), read again on each.
//   v1: memory.pressure_level (low, medium, critical) and memory.oom_control,
//       notified through eventfds registered in cgroup.event_control (the
//       monitor's watcher thread waits on them), plus memory.failcnt,
//       memory.memsw.failcnt and oom_control's oom_kill, which have no
//       notification of their own: read on each of those wakes (a limit hit
//       reclaims, and reclaim raises a pressure-level event) and whenever
//       counts() is called.
// Where the notification cannot be had (inotify refused, cgroup.event_control
// not writable), the files are read every pollMs instead, and `via` and
// `problems` say so. Only the files named here are opened.
import { closeSync, constants, openSync, watch, type FSWatcher } from 'node:fs';
import { readKernelFile } from '../kernel-file';
import path from 'node:path';
import { binding } from '../binding';
import { errnoName } from '../native-failure';

export type CgroupEventsVia = 'inotify' | 'eventfd' | 'poll';

/** What the monitor publishes when a count of its memory cgroup grew ('cgroup-memory', memlock:cgroup-memory). */
export interface CgroupMemoryEvent {
  version: 1 | 2;
  /** The cgroup directory watched. */
  dir: string;
  /** What woke the monitor: a file name, `memory.pressure_level <level>`, or 'poll'. */
  cause: string;
  via: CgroupEventsVia;
  /** The counts that grew, by how much, since the previous event (or since the monitor started). */
  changed: Record<string, number>;
  /** Every count now (see CgroupMemoryStatus.counts). */
  counts: Record<string, number>;
  /** v1 memory.oom_control under_oom (the cgroup is in OOM now); null on v2. */
  underOom: boolean | null;
  /** performance.now() when the kernel's notification (or the poll) woke the monitor. */
  time: number;
  threadId: number;
}

/** The monitor's 'cgroup-events-unavailable' event: its cgroup event watch failed or ended. */
export interface CgroupEventsUnavailableEvent {
  reason: string;
  dir: string | null;
}

export interface CgroupMemoryStatus {
  version: 1 | 2;
  dir: string;
  /** How changes are noticed: 'inotify' (v2), 'eventfd' (v1), 'poll' (a fallback: see problems). */
  via: CgroupEventsVia;
  /**
   * v2: memory.events' and memory.swap.events' counts as the kernel has them
   * (since the cgroup was made; swap ones named swap_high, swap_max,
   * swap_fail). v1: failcnt and memsw_failcnt (memory.failcnt,
   * memory.memsw.failcnt: charges refused at the limit), oom_kill
   * (memory.oom_control), and the signals of the eventfds since the monitor
   * started: pressure_low, pressure_medium, pressure_critical (each counts
   * events at or above its level) and oom.
   */
  counts: Record<string, number>;
  underOom: boolean | null;
  /** What did not work (a fallback was taken, or a file could not be read); empty when all did. */
  problems: string[];
}

export const V1_PRESSURE_LEVELS = ['low', 'medium', 'critical'] as const;
/** The names a cgroup's counts can have, v2 then v1 (metrics register each at 0). */
export const CGROUP_EVENT_NAMES = [
  'low',
  'high',
  'max',
  'oom',
  'oom_kill',
  'oom_group_kill',
  'swap_high',
  'swap_max',
  'swap_fail',
  'failcnt',
  'memsw_failcnt',
  'pressure_low',
  'pressure_medium',
  'pressure_critical',
] as const;

const V2_FILES = [
  { file: 'memory.events', prefix: '' },
  { file: 'memory.swap.events', prefix: 'swap_' },
] as const;

/** "key value" lines (memory.events, memory.oom_control) as numbers. */
export function parseKeyedCounts(text: string, prefix = ''): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(\w+) (\d+)$/.exec(line.trim());
    if (match) counts[prefix + match[1]!] = Number(match[2]);
  }
  return counts;
}

function problemOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ?? e.message;
}

export interface CgroupEventsOptions {
  version: 1 | 2;
  dir: string;
  /** Called on the JavaScript thread for each change. */
  onEvent: (event: CgroupMemoryEvent) => void;
  /** Called once if the watch fails or ends (the cgroup went away). */
  onEnd: (reason: string) => void;
  /** The fallback's period. Default 1000 ms. */
  pollMs?: number;
  threadId: number;
}

/**
 * Watches one memory cgroup's events. For v1, `counterFds` are the eventfds
 * the caller hands the watcher thread (pagingWatch's counterFds, which
 * duplicates them) before calling start(); it then delivers each wake to
 * counter(). close() ends everything.
 */
export class CgroupEvents {
  readonly version: 1 | 2;
  readonly dir: string;
  /** v1: the registered eventfds, and what each one counts. */
  readonly counterFds: number[] = [];
  readonly counterNames: string[] = [];
  #via: CgroupEventsVia;
  #problems: string[] = [];
  #options: CgroupEventsOptions;
  #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | null = null;
  #signals: Record<string, number> = {};
  #last: Record<string, number>;
  #closed = false;

  constructor(options: CgroupEventsOptions) {
    this.#options = options;
    this.version = options.version;
    this.dir = options.dir;
    this.#via = options.version === 2 ? 'inotify' : 'eventfd';
    if (options.version === 1) this.#register();
    this.#last = this.#read().counts;
  }

  // v1: one eventfd per pressure level and one for OOM. A level registered
  // in the default mode is signalled for events at or above it.
  #register(): void {
    const file = (name: string) => path.join(this.dir, name);
    let control = -1;
    const targets: number[] = [];
    try {
      control = openSync(file('cgroup.event_control'), constants.O_WRONLY);
      const level = openSync(file('memory.pressure_level'), constants.O_RDONLY);
      targets.push(level);
      for (const name of V1_PRESSURE_LEVELS) this.#addCounter(control, level, name, `pressure_${name}`);
      const oom = openSync(file('memory.oom_control'), constants.O_RDONLY);
      targets.push(oom);
      this.#addCounter(control, oom, '', 'oom');
    } catch (error) {
      const file = (error as NodeJS.ErrnoException).path ?? this.dir;
      this.#problems.push(
        `cannot register cgroup v1 notifications (cgroup.event_control): ${file}: ${problemOf(error)}; read every ${this.#pollMs()} ms instead`,
      );
    } finally {
      // The kernel keeps what it needs of each target: only the eventfds matter from here.
      for (const fd of [control, ...targets]) if (fd >= 0) closeSync(fd);
    }
    if (this.counterFds.length === 0) this.#via = 'poll';
  }

  #addCounter(control: number, target: number, args: string, name: string): void {
    const efd = binding.cgroupEventfd(control, target, args);
    if (efd < 0) {
      this.#problems.push(`cgroup.event_control refused ${name} (${errnoName(efd)})`);
      return;
    }
    this.counterFds.push(efd);
    this.counterNames.push(name);
  }

  /** Starts the inotify watches (v2) or the fallback poll. Call after the eventfds were handed over (v1). */
  start(): void {
    // Ours are closed: the watcher thread has duplicates.
    for (const fd of this.counterFds.splice(0)) closeSync(fd);
    if (this.version === 2) {
      for (const { file } of V2_FILES) {
        const full = path.join(this.dir, file);
        try {
          readKernelFile(full);
        } catch (error) {
          // memory.swap.events is absent without swap accounting: nothing to watch there.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
            this.#problems.push(`cannot read ${full}: ${problemOf(error)}`);
          continue;
        }
        try {
          const watcher = watch(full, { persistent: false }, () => this.#changed(file, 'inotify'));
          watcher.on('error', (error) => this.#end(`the inotify watch on ${full} failed (${problemOf(error)})`));
          this.#watchers.push(watcher);
        } catch (error) {
          this.#problems.push(`inotify refused ${full} (${problemOf(error)}): read every ${this.#pollMs()} ms instead`);
          this.#via = 'poll';
        }
      }
    }
    if (this.#via === 'poll') {
      this.#timer = setInterval(() => this.#changed('poll', 'poll'), this.#pollMs());
      this.#timer.unref();
    }
  }

  #pollMs(): number {
    return this.#options.pollMs ?? 1000;
  }

  /** v1: eventfd `index` was signalled `count` times (on the JavaScript thread). */
  counter(index: number, count: number, time: number): void {
    const name = this.counterNames[index];
    if (name === undefined || this.#closed) return;
    this.#signals[name] = (this.#signals[name] ?? 0) + count;
    const cause = name === 'oom' ? 'memory.oom_control' : `memory.pressure_level ${name.slice('pressure_'.length)}`;
    this.#changed(cause, 'eventfd', time);
  }

  #changed(cause: string, via: CgroupEventsVia, time = performance.now()): void {
    if (this.#closed) return;
    let status: CgroupMemoryStatus;
    try {
      status = this.#read(true);
    } catch (error) {
      this.#end(`the cgroup ${this.dir} cannot be read any more (${problemOf(error)})`);
      return;
    }
    const changed: Record<string, number> = {};
    let any = false;
    for (const [name, value] of Object.entries(status.counts)) {
      const grew = value - (this.#last[name] ?? 0);
      if (grew > 0) {
        changed[name] = grew;
        any = true;
      }
    }
    this.#last = status.counts;
    if (!any) return;
    this.#options.onEvent({
      version: this.version,
      dir: this.dir,
      cause,
      via,
      changed,
      counts: status.counts,
      underOom: status.underOom,
      time,
      threadId: this.#options.threadId,
    });
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.close();
    this.#options.onEnd(reason);
  }

  /** The counts now, read from the kernel's files (see CgroupMemoryStatus). */
  status(): CgroupMemoryStatus {
    const status = this.#read();
    return status;
  }

  // strict: a file that was readable and no longer is throws (the cgroup went away).
  #read(strict = false): CgroupMemoryStatus {
    const problems = [...this.#problems];
    const { counts, underOom } = readCgroupCounts(this.version, this.dir, problems, strict);
    for (const name of this.counterNames) counts[name] = this.#signals[name] ?? 0;
    return { version: this.version, dir: this.dir, via: this.#via, counts, underOom, problems };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    // Not yet handed over (start() not reached): ours to close.
    for (const fd of this.counterFds.splice(0)) closeSync(fd);
  }
}

/**
 * The counts a memory cgroup's files hold now (see CgroupMemoryStatus.counts;
 * without v1's eventfd signal counts). What cannot be read is added to
 * problems; strict: a missing memory.events / memory.failcnt /
 * memory.oom_control throws (the cgroup went away).
 */
export function readCgroupCounts(
  version: 1 | 2,
  dir: string,
  problems: string[] = [],
  strict = false,
): { counts: Record<string, number>; underOom: boolean | null } {
  const counts: Record<string, number> = {};
  let underOom: boolean | null = null;
  // optional: absent without swap accounting (memory.swap.events, memory.memsw.failcnt).
  const read = (name: string, optional = false): string | undefined => {
    try {
      return readKernelFile(path.join(dir, name));
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      if (missing && optional) return undefined;
      if (strict && missing) throw error;
      problems.push(`cannot read ${path.join(dir, name)}: ${problemOf(error)}`);
      return undefined;
    }
  };
  if (version === 2) {
    for (const { file, prefix } of V2_FILES)
      Object.assign(counts, parseKeyedCounts(read(file, prefix !== '') ?? '', prefix));
  } else {
    const failcnt = read('memory.failcnt');
    if (failcnt !== undefined) counts['failcnt'] = Number(failcnt.trim());
    const memsw = read('memory.memsw.failcnt', true);
    if (memsw !== undefined) counts['memsw_failcnt'] = Number(memsw.trim());
    const oom = read('memory.oom_control');
    if (oom !== undefined) {
      const values = parseKeyedCounts(oom);
      if (values['oom_kill'] !== undefined) counts['oom_kill'] = values['oom_kill'];
      underOom = values['under_oom'] === 1;
    }
  }
  return { counts, underOom };
}
