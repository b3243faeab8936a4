// `memlock status`: the kernel's account of any process's locked memory, from
// /proc, for when the process itself cannot be asked. Shape of --json:
// StatusReport below.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  columns,
  formatBytes,
  limitJson,
  parseCommand,
  positiveInteger,
  positiveNumber,
  stylist,
  UsageError,
  USAGE,
} from './format';
import { MemlockError } from '../errors';
import {
  mappingCount,
  maxMapCount,
  procMappings,
  procMemlockLimit,
  procName,
  procStatus,
  readProcFile,
  smapsLockedBytes,
} from '../proc';
import { pressureRows, pressureStatus, type PressureStatus } from './pressure';
import { cgroupEventsRow, cgroupEventsStatus, type CgroupEventsStatus } from './cgroup-events';

export interface LockedMapping {
  /** Addresses in hex, as in /proc/<pid>/maps. */
  start: string;
  end: string;
  perms: string;
  /** '' for anonymous memory. */
  path: string;
  sizeBytes: number;
  /** smaps Locked: resident bytes locked. */
  lockedBytes: number;
  /** VmFlags lo: the whole mapping is mlocked (resident or not). */
  vmLocked: boolean;
  /** VmFlags lf: locked on fault (MLOCK_ONFAULT). */
  onFault: boolean;
}

/**
 * `memlock status --json`: one object; with --watch, one per line (NDJSON).
 * The pressure fields (vmSwapBytes, pressure, faults, rates) are
 * PressureStatus's (./pressure.ts).
 */
export interface StatusReport extends PressureStatus {
  command: 'status';
  pid: number;
  /** argv[0]'s last part, else Name: of /proc/<pid>/status. */
  name: string;
  /** ISO 8601, when read. */
  time: string;
  /** VmLck: locked mappings, resident or not. */
  vmLckBytes: number;
  /** VmPin: pinned by drivers, not by mlock. */
  vmPinBytes: number;
  /**
   * Sum of smaps Locked: (resident and locked; a shared page counts its
   * proportional share). null when /proc/<pid>/smaps_rollup may not be read.
   */
  smapsLockedBytes: number | null;
  /** null: unlimited. */
  rlimitMemlock: { soft: number | null; hard: number | null };
  capIpcLock: boolean;
  /** Lines of /proc/<pid>/maps (null when it may not be read), and vm.max_map_count. */
  mappings: number | null;
  maxMappings: number;
  /** Mappings with Locked: > 0 or VmFlags lo; null when /proc/<pid>/smaps may not be read. */
  lockedMappings: number | null;
  /** The --top N (default 10) of those, most locked bytes first ([] when unreadable). */
  topMappings: LockedMapping[];
  /**
   * The /proc files of the process this user may not read (another user's
   * process without CAP_SYS_PTRACE: smaps_rollup, maps and smaps); their
   * fields are null. [] when the report is complete. The CLI then exits 3.
   */
  unreadable: string[];
  /** The process's memory cgroup's event counts (memory.events / memory.failcnt ...); null without one. */
  cgroupEvents: CgroupEventsStatus | null;
}

/** `memlock status`'s exit code when the report is partial (`unreadable` is not empty). */
export const EXIT_PARTIAL = 3;

/** Why /proc/<pid> cannot be read, in a sentence for the user. */
function unreadable(error: MemlockError, pid: number): string {
  switch (error.code) {
    case 'ENOENT':
      return `no process with pid ${pid}`;
    case 'ESRCH':
      return `${noMemory(pid)} (ESRCH)`;
    case 'EACCES':
    case 'EPERM':
      // A process that is not dumpable (hardenProcess(), PR_SET_DUMPABLE 0) has root-owned /proc files.
      return `cannot read /proc/${pid}: permission denied (run as root or as the process's user; a process made not dumpable, as by memlock's hardenProcess(), is readable by root only)`;
    default:
      return error.message;
  }
}

/** Why /proc/<pid> has no memory to show (ESRCH), from its status. */
function noMemory(pid: number): string {
  let status: string;
  try {
    status = readProcFile(`/proc/${pid}/status`);
  } catch {
    return `process ${pid} has exited`;
  }
  if (/^State:\s*Z/m.test(status)) {
    const parent = /^PPid:\s*(\d+)/m.exec(status)?.[1] ?? '?';
    return `process ${pid} is a zombie: it has exited and its parent (pid ${parent}) has not reaped it, so it has no memory to report`;
  }
  if (/^Kthread:\s*1$/m.test(status)) return `process ${pid} is a kernel thread: it has no user memory to report`;
  return `process ${pid} has no memory to report: it is exiting, or a kernel thread`;
}

function isPermission(error: unknown): error is MemlockError {
  return error instanceof MemlockError && (error.code === 'EACCES' || error.code === 'EPERM');
}

export function snapshot(pid: number, top: number, previous?: StatusReport): StatusReport {
  // /proc/<pid>/status, limits, cmdline and stat are anyone's to read;
  // smaps_rollup, maps and smaps pass the kernel's ptrace access check.
  // What fails that check is reported as unreadable, the rest still shown.
  const unreadable: string[] = [];
  const readable = <T>(file: string, read: () => T): T | null => {
    try {
      return read();
    } catch (error) {
      if (!isPermission(error)) throw error;
      unreadable.push(`/proc/${pid}/${file}`);
      return null;
    }
  };
  const status = procStatus(pid);
  const name = procName(pid);
  const smapsLocked = readable('smaps_rollup', () => smapsLockedBytes(pid));
  const mappings = readable('maps', () => mappingCount(pid));
  const all = readable('smaps', () => procMappings(pid));
  const locked = (all ?? []).filter((m) => m.lockedBytes > 0 || m.flags.includes('lo'));
  locked.sort((a, b) => b.lockedBytes - a.lockedBytes || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const rlimit = procMemlockLimit(pid);
  const time = new Date().toISOString();
  return {
    command: 'status',
    pid,
    name,
    time,
    vmLckBytes: status.vmLckBytes,
    vmPinBytes: status.vmPinBytes,
    smapsLockedBytes: smapsLocked,
    rlimitMemlock: { soft: limitJson(rlimit.soft), hard: limitJson(rlimit.hard) },
    capIpcLock: status.hasIpcLock,
    mappings,
    maxMappings: maxMapCount(),
    lockedMappings: all === null ? null : locked.length,
    topMappings: locked.slice(0, top).map((m) => ({
      start: m.start.toString(16),
      end: m.end.toString(16),
      perms: m.perms,
      path: m.path,
      sizeBytes: m.end - m.start,
      lockedBytes: m.lockedBytes,
      vmLocked: m.flags.includes('lo'),
      onFault: m.flags.includes('lf'),
    })),
    cgroupEvents: cgroupEventsOf(pid),
    ...pressureStatus(pid, time, previous),
    unreadable,
  };
}

function cgroupEventsOf(pid: number): CgroupEventsStatus | null {
  try {
    return cgroupEventsStatus(pid);
  } catch {
    return null;
  }
}

function limitText(bytes: number | null): string {
  return bytes === null ? 'unlimited' : formatBytes(bytes);
}

export function renderStatus(report: StatusReport): string {
  const style = stylist();
  const { soft, hard } = report.rlimitMemlock;
  const facts = columns(
    [
      ['VmLck', formatBytes(report.vmLckBytes), 'in locked mappings, resident or not'],
      ['VmPin', formatBytes(report.vmPinBytes), 'pinned by drivers (RDMA, io_uring), not by mlock'],
      report.smapsLockedBytes === null
        ? ['smaps Locked:', 'unreadable', 'permission denied (see below)']
        : [
            'smaps Locked:',
            formatBytes(report.smapsLockedBytes),
            "resident and locked (shared pages: this process's share)",
          ],
      ['RLIMIT_MEMLOCK', `${limitText(soft)} / ${limitText(hard)}`, 'soft / hard'],
      [
        'CAP_IPC_LOCK',
        report.capIpcLock ? 'yes' : 'no',
        report.capIpcLock ? 'RLIMIT_MEMLOCK does not bind it' : 'RLIMIT_MEMLOCK binds it',
      ],
      [
        'mappings',
        report.mappings === null
          ? `unreadable (max ${report.maxMappings})`
          : `${report.mappings} of ${report.maxMappings}`,
        report.mappings === null ? 'maps: permission denied; vm.max_map_count' : 'vm.max_map_count',
      ],
      ...pressureRows(report),
      cgroupEventsRow(report.cgroupEvents),
    ],
    ['left', 'right', 'left'],
  );
  const lines = [
    `${style('bold', 'memlock status')}  pid ${report.pid} (${report.name})  ${report.time}`,
    '',
    ...facts.map(([label, value, note]) => `  ${label}  ${style('bold', value!)}  ${style('dim', note!)}`),
    '',
  ];
  if (report.lockedMappings === null) {
    lines.push('  locked mappings: unreadable');
  } else if (report.topMappings.length === 0) {
    lines.push('  no locked mappings');
  } else {
    const shown =
      report.topMappings.length < report.lockedMappings
        ? `top ${report.topMappings.length} of ${report.lockedMappings}`
        : `${report.lockedMappings}`;
    lines.push(`  locked mappings (${shown}, by locked bytes):`, '');
    const rows = columns(
      [
        ['ADDRESS', 'PERMS', 'LOCKED', 'SIZE', 'FLAGS', 'PATH'],
        ...report.topMappings.map((m) => [
          `${m.start}-${m.end}`,
          m.perms,
          formatBytes(m.lockedBytes),
          formatBytes(m.sizeBytes),
          [m.vmLocked ? 'lo' : '', m.onFault ? 'lf' : ''].filter(Boolean).join(' ') || '-',
          m.path || '[anon]',
        ]),
      ],
      ['left', 'left', 'right', 'right', 'left', 'left'],
    );
    rows.forEach((row, i) => lines.push(`  ${i === 0 ? style('dim', row.join('  ')) : row.join('  ')}`));
  }
  if (report.unreadable.length > 0) {
    lines.push(
      '',
      `  partial report: permission denied reading ${report.unreadable.join(', ')}`,
      "  (another user's process: run as root or as that user; VmLck above is from /proc/<pid>/status)",
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `memlock status [--pid N] [--json] [--top N] [--watch SECONDS [--count N]]`; returns the exit code. */
export async function statusCommand(args: string[]): Promise<number> {
  const values = parseCommand(
    args,
    {
      pid: { type: 'string' },
      json: { type: 'boolean' },
      top: { type: 'string' },
      watch: { type: 'string' },
      count: { type: 'string' },
    },
    USAGE.status,
  );
  if (values.help) {
    process.stdout.write(`${USAGE.status}\n`);
    return 0;
  }
  const pid = values.pid === undefined ? process.pid : positiveInteger('--pid', values.pid, USAGE.status);
  const top = values.top === undefined ? 10 : positiveInteger('--top', values.top, USAGE.status);
  const watch =
    values.watch === undefined ? undefined : positiveNumber('--watch', values.watch, USAGE.status, 'seconds');
  const count = values.count === undefined ? undefined : positiveInteger('--count', values.count, USAGE.status);
  if (count !== undefined && watch === undefined) throw new UsageError('--count needs --watch', USAGE.status);

  const redraw = watch !== undefined && !values.json && process.stdout.isTTY === true;
  let previous: StatusReport | undefined;
  for (let n = 0; ; n += 1) {
    let report: StatusReport;
    try {
      report = snapshot(pid, top, previous);
      previous = report;
    } catch (error) {
      if (!(error instanceof MemlockError)) throw error;
      // Before the first report the pid was bad input; later, the process went away.
      if (n === 0) {
        if (!isPermission(error)) throw new UsageError(unreadable(error, pid), USAGE.status);
        // Not bad input: /proc/<pid> is hidden from this user (hidepid).
        process.stderr.write(`memlock: ${unreadable(error, pid)}\n`);
        return EXIT_PARTIAL;
      }
      const gone = error.code === 'ENOENT' || error.code === 'ESRCH';
      process.stderr.write(`memlock: ${gone ? `process ${pid} has exited` : unreadable(error, pid)}\n`);
      return 1;
    }
    if (values.json) {
      // One object per line when watching (NDJSON), so a pipe can parse each.
      process.stdout.write(
        watch === undefined ? `${JSON.stringify(report, null, 2)}\n` : `${JSON.stringify(report)}\n`,
      );
    } else {
      // On a TTY: clear and redraw in place; on a pipe: append, a blank line apart.
      process.stdout.write((redraw ? '\x1b[H\x1b[2J' : n > 0 ? '\n' : '') + renderStatus(report));
    }
    if (watch === undefined || (count !== undefined && n + 1 >= count)) {
      return report.unreadable.length > 0 ? EXIT_PARTIAL : 0;
    }
    await sleep(watch * 1000);
  }
}
