// pressure(): the memory pressure (PSI) that applies to this process, from
// the most specific source there is, with its fault counts and VmLck/VmSwap.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { unifiedCgroup } from './cgroup';
import { capabilities, unsupported } from './capabilities';
import { kbField, readProcFile } from './proc';

export const SYSTEM_PRESSURE_FILE = '/proc/pressure/memory';

/** One line of a pressure file: share of wall time stalled (percent) over 10, 60 and 300 s, and the total. */
export interface PressureFigures {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Cumulative stall time since boot (or since the cgroup was made), in microseconds. */
  totalUs: number;
}

export type PressureSourceKind = 'cgroup' | 'system' | 'unavailable';

export interface PressureSnapshot {
  /**
   * 'cgroup': the cgroup v2 memory.pressure of the process's own cgroup;
   * 'system': /proc/pressure/memory; 'unavailable': neither (see reason).
   */
  source: PressureSourceKind;
  /** The file read; null when unavailable. */
  path: string | null;
  /** Why PSI is unavailable; null otherwise. */
  reason: string | null;
  /** Some task of the source stalled on memory (reclaim, refaults, compaction). */
  some: PressureFigures | null;
  /** Every non-idle task of the source stalled at once. */
  full: PressureFigures | null;
  /** Page faults of this process so far that read from disk (major) or did not (minor). */
  majorFaults: number;
  minorFaults: number;
  /** The kernel's VmLck and VmSwap for this process, in bytes. */
  vmLckBytes: number;
  vmSwapBytes: number;
}

export type PressureSource =
  | { kind: 'cgroup' | 'system'; path: string }
  | { kind: 'unavailable'; reason: string };

/** The "some" and "full" lines of a pressure file; null for a line that is missing. */
export function parsePressure(text: string): { some: PressureFigures | null; full: PressureFigures | null } {
  const line = (kind: string): PressureFigures | null => {
    const match = new RegExp(`^${kind} avg10=([\\d.]+) avg60=([\\d.]+) avg300=([\\d.]+) total=(\\d+)$`, 'm').exec(text);
    return match ? { avg10: Number(match[1]), avg60: Number(match[2]), avg300: Number(match[3]), totalUs: Number(match[4]) } : null;
  };
  return { some: line('some'), full: line('full') };
}

function whyUnreadable(file: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return `${file} does not exist: this kernel has no PSI (CONFIG_PSI is off)`;
  if (code === 'EOPNOTSUPP') return `${file} refuses reads (EOPNOTSUPP): PSI is disabled; boot with psi=1`;
  if (code === 'EACCES' || code === 'EPERM') return `${file} may not be read here (${code})`;
  return `${file} could not be read (${code ?? String(error)})`;
}

function readable(file: string): string | undefined {
  try {
    return parsePressure(readFileSync(file, 'latin1')).some ? undefined : `${file} has no "some" line`;
  } catch (error) {
    return whyUnreadable(file, error);
  }
}

/**
 * Where `pid`'s memory pressure is read: its own cgroup v2 memory.pressure
 * when it is in a cgroup below the root (a container's root counts: it is the
 * container's cgroup), else the system's. PSI of a cgroup v2 group is kept
 * whatever the memory controller's version, so this holds on hybrid hosts.
 */
export function pressureSource(pid: number | 'self' = 'self'): PressureSource {
  let cgroupProblem: string | undefined;
  try {
    const unified = unifiedCgroup(pid);
    if (unified && !unified.isRoot) {
      const file = path.join(unified.dir, 'memory.pressure');
      cgroupProblem = readable(file);
      if (cgroupProblem === undefined) return { kind: 'cgroup', path: file };
    }
  } catch {
    // No /proc/<pid>/cgroup or mountinfo: the system file may still do.
  }
  const systemProblem = readable(SYSTEM_PRESSURE_FILE);
  if (systemProblem === undefined) return { kind: 'system', path: SYSTEM_PRESSURE_FILE };
  return { kind: 'unavailable', reason: cgroupProblem ? `${cgroupProblem}; ${systemProblem}` : systemProblem };
}

/** Major and minor faults of any process, from /proc/<pid>/stat. */
export function procFaults(pid: number | 'self'): { majorFaults: number; minorFaults: number } {
  const text = readProcFile(`/proc/${pid}/stat`);
  // The command name may hold spaces and parentheses: count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name: state(3) ppid pgrp session tty_nr tpgid flags minflt(10) cminflt majflt(12)
  return { minorFaults: Number(fields[7]), majorFaults: Number(fields[9]) };
}

/** The snapshot for any process this one may read (memlock status uses it). */
export function pressureOf(pid: number | 'self'): PressureSnapshot {
  const source = pressureSource(pid);
  let figures: { some: PressureFigures | null; full: PressureFigures | null } = { some: null, full: null };
  let kind = source.kind;
  let reason = source.kind === 'unavailable' ? source.reason : null;
  if (source.kind !== 'unavailable') {
    try {
      figures = parsePressure(readFileSync(source.path, 'latin1'));
    } catch (error) {
      kind = 'unavailable';
      reason = whyUnreadable(source.path, error);
    }
  }
  const status = readProcFile(`/proc/${pid}/status`);
  const faults = pid === 'self' || pid === process.pid ? ownFaults() : procFaults(pid);
  return {
    source: kind,
    path: source.kind === 'unavailable' || kind === 'unavailable' ? null : source.path,
    reason,
    some: figures.some,
    full: figures.full,
    ...faults,
    vmLckBytes: kbField(status, 'VmLck') ?? 0,
    vmSwapBytes: kbField(status, 'VmSwap') ?? 0,
  };
}

function ownFaults(): { majorFaults: number; minorFaults: number } {
  const usage = process.resourceUsage();
  return { majorFaults: usage.majorPageFault, minorFaults: usage.minorPageFault };
}

/**
 * The memory PSI that applies to this process (its cgroup's, else the
 * system's, named in `source`), its page faults so far, and its VmLck and
 * VmSwap. Reads a few small /proc files; nothing runs in the background.
 */
export function pressure(): PressureSnapshot {
  if (!capabilities().pagingMonitor) throw unsupported('pressure()', 'memory PSI and per-process fault counts are Linux-only');
  return pressureOf('self');
}
