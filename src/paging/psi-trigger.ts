// Arming a memory PSI trigger for the paging monitor: where (the process's
// cgroup, the system, or what systemd's $MEMORY_PRESSURE_WATCH names), with
// what threshold and window (rounded where the kernel requires it), and how
// the result is watched (native/paging/psi_monitor.h, or a socket for systemd).
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readSync,
  statfsSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import type net from 'node:net';
import { parsePressure, pressureSource, SYSTEM_PRESSURE_FILE } from './pressure';
import { readProcFile } from '../proc';

export type PressureKind = 'some' | 'full';

export interface TriggerSpec {
  kind: PressureKind;
  thresholdUs: number;
  windowUs: number;
}

/** The trigger armed, and the one asked for when the kernel required another. */
export interface TriggerInfo {
  kind: PressureKind;
  thresholdMs: number;
  windowMs: number;
  requested: { thresholdMs: number; windowMs: number };
  /** The window was rounded up to whole 2 s (no CAP_SYS_RESOURCE). */
  rounded: boolean;
  /** As written to the pressure file. */
  text: string;
}

export type WatchSource = 'cgroup' | 'system' | 'systemd';

export interface ArmedWatch {
  /** 'trigger': a PSI fd (POLLPRI); 'fifo', 'socket': systemd's notification endpoints (POLLIN). */
  mode: 'trigger' | 'fifo' | 'socket';
  source: WatchSource;
  path: string;
  /** Set by $MEMORY_PRESSURE_WATCH. */
  fromEnvironment: boolean;
  /** The kernel trigger; null for a FIFO or socket with no trigger text. */
  trigger: TriggerInfo | null;
  fd: number;
  socket: net.Socket | null;
  /** PSI totals (us) read just before arming; null when no totals can be read. */
  baseline: { someUs: number; fullUs: number } | null;
}

/** deliberate: the service manager turned watching off; nothing to warn about. */
export type ArmResult = { ok: true; watch: ArmedWatch } | { ok: false; reason: string; deliberate?: boolean };

export const WINDOW_MIN_US = 500_000;
export const WINDOW_MAX_US = 10_000_000;
/** Without CAP_SYS_RESOURCE the kernel (6.5+) accepts only windows of whole 2 s. */
export const UNPRIVILEGED_STEP_US = 2_000_000;
const CAP_SYS_RESOURCE = 24n;

export function hasSysResource(): boolean {
  try {
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readProcFile('/proc/self/status'))?.[1] ?? '0';
    return ((BigInt(`0x${capEff}`) >> CAP_SYS_RESOURCE) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * The trigger the kernel will take: without CAP_SYS_RESOURCE the window is
 * rounded up to whole 2 s (at most 10 s), and the threshold scaled with it
 * so that it stays the same share of the window.
 */
export function fitTrigger(spec: TriggerSpec, privileged: boolean): { spec: TriggerSpec; rounded: boolean } {
  if (privileged || spec.windowUs % UNPRIVILEGED_STEP_US === 0) return { spec, rounded: false };
  const windowUs = Math.min(WINDOW_MAX_US, Math.ceil(spec.windowUs / UNPRIVILEGED_STEP_US) * UNPRIVILEGED_STEP_US);
  const thresholdUs = Math.min(windowUs, Math.max(1, Math.round(spec.thresholdUs * (windowUs / spec.windowUs))));
  return { spec: { kind: spec.kind, thresholdUs, windowUs }, rounded: true };
}

export function triggerText(spec: TriggerSpec): string {
  return `${spec.kind} ${spec.thresholdUs} ${spec.windowUs}`;
}

export function parseTriggerText(text: string): TriggerSpec | undefined {
  const match = /^(some|full) (\d+) (\d+)\0?\n?$/.exec(text);
  return match
    ? { kind: match[1] as PressureKind, thresholdUs: Number(match[2]), windowUs: Number(match[3]) }
    : undefined;
}

function info(spec: TriggerSpec, requested: TriggerSpec, rounded: boolean): TriggerInfo {
  return {
    kind: spec.kind,
    thresholdMs: spec.thresholdUs / 1000,
    windowMs: spec.windowUs / 1000,
    requested: { thresholdMs: requested.thresholdUs / 1000, windowMs: requested.windowUs / 1000 },
    rounded,
    text: triggerText(spec),
  };
}

// The file systems whose pressure files take triggers (statfs f_type).
const PROC_SUPER_MAGIC = 0x9fa0;
const CGROUP2_SUPER_MAGIC = 0x63677270;
const CGROUP_SUPER_MAGIC = 0x27e0eb;

/** A file that is not the kernel's pressure file: refused, and nothing written to it. */
function notPressureFile(why: string): Error {
  return Object.assign(new Error(why), { code: 'ENOTPSI' });
}

/**
 * Where the open `fd` is, if it is a pressure file; else throws ENOTPSI.
 * The open file is checked, not the name (which may have changed since it
 * was looked at): a regular file on procfs or cgroupfs whose text is PSI's
 * (procfs and cgroupfs have files that take any text written: sysctls, limits).
 */
function pressureFileOf(fd: number): { fs: 'proc' | 'cgroup'; baseline: ArmedWatch['baseline'] } {
  if (!fstatSync(fd).isFile()) throw notPressureFile('not a regular file');
  // statfs of /proc/self/fd/N is that of the open file, whatever its name now names.
  const type = statfsSync(`/proc/self/fd/${fd}`).type;
  if (type !== PROC_SUPER_MAGIC && type !== CGROUP2_SUPER_MAGIC && type !== CGROUP_SUPER_MAGIC) {
    throw notPressureFile(`on neither procfs nor cgroupfs (f_type 0x${type.toString(16)})`);
  }
  const buffer = Buffer.alloc(256);
  // A read the kernel refuses (EOPNOTSUPP: psi=0) is thrown as it is.
  const n = readSync(fd, buffer, 0, buffer.length, 0);
  const { some, full } = parsePressure(buffer.toString('latin1', 0, n));
  if (!some) throw notPressureFile('no "some avg10=... total=..." line');
  return {
    fs: type === PROC_SUPER_MAGIC ? 'proc' : 'cgroup',
    baseline: { someUs: some.totalUs, fullUs: full?.totalUs ?? 0 },
  };
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

/** Why the kernel refused a trigger (or memlock refused the file), in a sentence. */
function refusal(file: string, error: unknown, spec: TriggerSpec): string {
  const code = errorCode(error);
  switch (code) {
    case 'ENOTPSI':
      return `${file} is refused, not being a PSI pressure file (${(error as Error).message}): nothing was written to it`;
    case 'EPERM':
      return `the kernel refused a PSI trigger on ${file} (EPERM): before Linux 6.5 triggers need CAP_SYS_RESOURCE`;
    case 'EOPNOTSUPP':
      return `PSI is disabled (EOPNOTSUPP from ${file}): boot with psi=1`;
    case 'EINVAL':
      return `the kernel refused the trigger "${triggerText(spec)}" on ${file} (EINVAL)`;
    case 'EACCES':
      return `${file} may not be opened for writing by this process (EACCES)`;
    case 'ENOENT':
      return `${file} does not exist: no PSI here`;
    default:
      return `a PSI trigger on ${file} failed (${code})`;
  }
}

// The kernel reads at most 128 bytes and overwrites the last with a NUL, so
// the text is sent NUL-terminated.
// Only a pressure file is written to (pressureFileOf), as what names it may
// come from the environment.
function armFile(
  file: string,
  requested: TriggerSpec,
  written: Buffer | undefined,
): {
  fd: number;
  spec: TriggerSpec;
  rounded: boolean;
  baseline: ArmedWatch['baseline'];
  fs: 'proc' | 'cgroup';
} {
  const fitted = written ? { spec: requested, rounded: false } : fitTrigger(requested, hasSysResource());
  const fd = openSync(file, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const { fs, baseline } = pressureFileOf(fd);
    const text = written ?? Buffer.from(`${triggerText(fitted.spec)}\0`, 'latin1');
    try {
      writeSync(fd, text);
    } catch (error) {
      // A kernel that takes sub-2 s windows from no one (CAP_SYS_RESOURCE seen
      // but not honoured, as in some user namespaces): round and try again.
      if (errorCode(error) !== 'EINVAL' || written || fitted.rounded) throw error;
      const again = fitTrigger(requested, false);
      if (!again.rounded) throw error;
      writeSync(fd, Buffer.from(`${triggerText(again.spec)}\0`, 'latin1'));
      return { fd, ...again, baseline, fs };
    }
    return { fd, ...fitted, baseline, fs };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

function decodeWrite(value: string | undefined): Buffer | undefined {
  if (value === undefined || value === '') return undefined;
  const bytes = Buffer.from(value, 'base64');
  return bytes.length > 0 && bytes[bytes.length - 1] !== 0 ? Buffer.concat([bytes, Buffer.from([0])]) : bytes;
}

/** What systemd's memory pressure protocol asks for, if it is in use. */
function fromEnvironment(requested: TriggerSpec, explicit: boolean): ArmResult | undefined {
  const watchPath = process.env['MEMORY_PRESSURE_WATCH'];
  if (watchPath === undefined || watchPath === '') return undefined;
  if (watchPath === '/dev/null') {
    return {
      ok: false,
      reason: 'the service manager turned memory pressure watching off ($MEMORY_PRESSURE_WATCH=/dev/null)',
      deliberate: true,
    };
  }
  const envWrite = decodeWrite(process.env['MEMORY_PRESSURE_WRITE']);
  // Explicit options win over the service manager's threshold; the file is still its.
  const written = explicit ? undefined : envWrite;
  const envSpec = written ? parseTriggerText(written.toString('latin1')) : undefined;
  let stat;
  try {
    stat = statSync(watchPath);
  } catch (error) {
    return {
      ok: false,
      reason: `$MEMORY_PRESSURE_WATCH names ${watchPath}, which cannot be used (${errorCode(error)})`,
    };
  }
  const base = { path: watchPath, fromEnvironment: true };
  try {
    if (stat.isFile()) {
      const armed = armFile(watchPath, envSpec ?? requested, envSpec ? written : undefined);
      const source: WatchSource = armed.fs === 'proc' ? 'system' : 'cgroup';
      return {
        ok: true,
        watch: {
          ...base,
          mode: 'trigger',
          source,
          trigger: info(armed.spec, envSpec ?? requested, armed.rounded),
          fd: armed.fd,
          socket: null,
          baseline: armed.baseline,
        },
      };
    }
    const trigger = envSpec ? info(envSpec, envSpec, false) : null;
    if (stat.isFIFO()) {
      // Read and write, so the FIFO always has a writer and never hangs up.
      const fd = openSame(watchPath, stat);
      if (envWrite) writeSync(fd, envWrite);
      drainFifo(fd);
      return {
        ok: true,
        watch: { ...base, mode: 'fifo', source: 'systemd', trigger, fd, socket: null, baseline: null },
      };
    }
    if (stat.isSocket()) {
      // Loaded here: importing memlock should not load the network stack.
      const socket = (require('node:net') as typeof net).createConnection(watchPath);
      if (envWrite) socket.write(envWrite);
      return {
        ok: true,
        watch: { ...base, mode: 'socket', source: 'systemd', trigger, fd: -1, socket, baseline: null },
      };
    }
  } catch (error) {
    return { ok: false, reason: `$MEMORY_PRESSURE_WATCH: ${refusal(watchPath, error, envSpec ?? requested)}` };
  }
  // Not opened: opening a device may itself do something.
  return {
    ok: false,
    reason: `$MEMORY_PRESSURE_WATCH names ${watchPath}, which is not a pressure file, FIFO or socket: refused`,
  };
}

/** `file` opened for reading and writing, if it is still the FIFO `stat` saw (not swapped for another file since). */
function openSame(file: string, stat: Stats): number {
  const fd = openSync(file, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
  const now = fstatSync(fd);
  if (!now.isFIFO() || now.dev !== stat.dev || now.ino !== stat.ino) {
    closeSync(fd);
    throw notPressureFile('the FIFO was replaced by another file while being opened');
  }
  return fd;
}

function drainFifo(fd: number): void {
  const buffer = Buffer.alloc(256);
  try {
    while (readSync(fd, buffer, 0, buffer.length, null) > 0);
  } catch {
    // EAGAIN: empty.
  }
}

/**
 * Arms a trigger on the most specific pressure file this process may use:
 * systemd's (when `honourEnvironment` and $MEMORY_PRESSURE_WATCH is set),
 * its own cgroup's, else the system's.
 */
export function armPressureWatch(requested: TriggerSpec, explicit: boolean, honourEnvironment: boolean): ArmResult {
  if (honourEnvironment) {
    const viaSystemd = fromEnvironment(requested, explicit);
    if (viaSystemd) return viaSystemd;
  }
  const source = pressureSource('self');
  if (source.kind === 'unavailable') return { ok: false, reason: source.reason };
  const candidates: [WatchSource, string][] =
    source.kind === 'cgroup'
      ? [
          ['cgroup', source.path],
          ['system', SYSTEM_PRESSURE_FILE],
        ]
      : [['system', source.path]];
  const problems: string[] = [];
  for (const [kind, file] of candidates) {
    try {
      const armed = armFile(file, requested, undefined);
      return {
        ok: true,
        watch: {
          mode: 'trigger',
          source: kind,
          path: file,
          fromEnvironment: false,
          trigger: info(armed.spec, requested, armed.rounded),
          fd: armed.fd,
          socket: null,
          baseline: armed.baseline,
        },
      };
    } catch (error) {
      problems.push(refusal(file, error, fitTrigger(requested, hasSysResource()).spec));
    }
  }
  return { ok: false, reason: problems.join('; ') };
}

/** For memlock doctor: whether a trigger can be armed on `file` now (armed, then closed). */
export function probeTrigger(
  file: string,
  spec: TriggerSpec,
): { ok: true; trigger: TriggerInfo } | { ok: false; reason: string } {
  try {
    const armed = armFile(file, spec, undefined);
    closeSync(armed.fd);
    return { ok: true, trigger: info(armed.spec, spec, armed.rounded) };
  } catch (error) {
    return { ok: false, reason: refusal(file, error, fitTrigger(spec, hasSysResource()).spec) };
  }
}
