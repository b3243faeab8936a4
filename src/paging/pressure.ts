// pressure(): the memory pressure (PSI) that applies to this process, from
// the most specific source there is, with its fault counts and VmLck/VmSwap.
import { existsSync } from 'node:fs';
import { readKernelFile } from '../kernel-file';
import path from 'node:path';
import { unifiedCgroup } from './cgroup';
import { capabilities, unsupported } from '../capabilities';
import { kbField, readProcFile } from '../proc';

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

export type PressureSource = { kind: 'cgroup' | 'system'; path: string } | { kind: 'unavailable'; reason: string };

/** The "some" and "full" lines of a pressure file; null for a line that is missing. */
export function parsePressure(text: string): { some: PressureFigures | null; full: PressureFigures | null } {
  const line = (kind: string): PressureFigures | null => {
    const match = new RegExp(`^${kind} avg10=([\\d.]+) avg60=([\\d.]+) avg300=([\\d.]+) total=(\\d+)$`, 'm').exec(text);
    return match
      ? { avg10: Number(match[1]), avg60: Number(match[2]), avg300: Number(match[3]), totalUs: Number(match[4]) }
      : null;
  };
  return { some: line('some'), full: line('full') };
}

function whyUnreadable(file: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  // Not "no CONFIG_PSI": a container may hide a file the kernel has (psiAbsence tells).
  if (code === 'ENOENT') return `${file} does not exist`;
  if (code === 'EOPNOTSUPP') return `${file} refuses reads (EOPNOTSUPP): PSI is disabled; boot with psi=1`;
  if (code === 'EACCES' || code === 'EPERM') return `${file} may not be read here (${code})`;
  return `${file} could not be read (${code ?? String(error)})`;
}

function readable(file: string): string | undefined {
  try {
    return parsePressure(readKernelFile(file)).some ? undefined : `${file} has no "some" line`;
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
  let systemProblem = readable(SYSTEM_PRESSURE_FILE);
  if (systemProblem === undefined) return { kind: 'system', path: SYSTEM_PRESSURE_FILE };
  systemProblem = psiAbsence()?.reason ?? systemProblem;
  return { kind: 'unavailable', reason: cgroupProblem ? `${cgroupProblem}; ${systemProblem}` : systemProblem };
}

export interface PsiAbsence {
  /**
   * 'no-psi': nothing shows PSI (a kernel built without CONFIG_PSI, or with
   * CONFIG_PSI_DEFAULT_DISABLED and not booted with psi=1); 'disabled': psi=0
   * or EOPNOTSUPP; 'hidden': the kernel has PSI but this process is not shown
   * /proc/pressure (masked or refused, as by a container runtime);
   * 'unreadable': another error.
   */
  kind: 'no-psi' | 'disabled' | 'hidden' | 'unreadable';
  reason: string;
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readKernelFile(file);
  } catch {
    return undefined;
  }
}

/** cgroup v2 pressure files that would show the kernel has PSI. */
function cgroupPressureFiles(root: string): string[] {
  const dirs = [path.join(root, 'sys/fs/cgroup'), path.join(root, 'sys/fs/cgroup/unified')];
  if (root === '/') {
    try {
      const own = unifiedCgroup('self');
      if (own) dirs.push(own.dir);
    } catch {
      // No /proc/self/cgroup: the fixed places only.
    }
  }
  return dirs.flatMap((dir) => ['memory.pressure', 'cpu.pressure', 'io.pressure'].map((name) => path.join(dir, name)));
}

/**
 * Why /proc/pressure/memory cannot be read here, or undefined when it can.
 * An absent or refused file alone does not mean the kernel has no PSI: a
 * mount over /proc/pressure leaves the directory there, and the cgroup's
 * pressure files exist wherever the kernel has PSI. `root` stands for /
 * (tests point it at a fake one).
 */
export function psiAbsence(root = '/'): PsiAbsence | undefined {
  const file = path.join(root, SYSTEM_PRESSURE_FILE);
  let code: string;
  try {
    readKernelFile(file);
    return undefined;
  } catch (error) {
    code = (error as NodeJS.ErrnoException).code ?? String(error);
  }
  if (code === 'EOPNOTSUPP')
    return { kind: 'disabled', reason: `${file} refuses reads (EOPNOTSUPP): PSI is disabled; boot with psi=1` };
  const psiArgument = /(?:^|\s)psi=(\S*)/.exec(readOrUndefined(path.join(root, 'proc/cmdline')) ?? '')?.[1];
  if (code === 'EACCES' || code === 'EPERM') {
    return {
      kind: 'hidden',
      reason: `${file} exists but may not be read here (${code}): the container runtime or a security policy refuses it`,
    };
  }
  if (code !== 'ENOENT') return { kind: 'unreadable', reason: `${file} could not be read (${code})` };
  if (psiArgument === '0')
    return { kind: 'disabled', reason: `${file} does not exist: the kernel was booted with psi=0` };
  const evidence = [path.join(root, 'proc/pressure'), ...cgroupPressureFiles(root)].find((f) => existsSync(f));
  if (evidence !== undefined) {
    return {
      kind: 'hidden',
      reason: `${file} does not exist here, but the kernel has PSI (${evidence} exists): /proc/pressure is hidden from this process (masked by a container runtime)`,
    };
  }
  return {
    kind: 'no-psi',
    reason:
      psiArgument === undefined
        ? `${file} does not exist, nor does any cgroup pressure file: this kernel has no PSI (built without CONFIG_PSI, or with CONFIG_PSI_DEFAULT_DISABLED and not booted with psi=1)`
        : `${file} does not exist, nor does any cgroup pressure file, though the kernel was booted with psi=${psiArgument}: it was built without CONFIG_PSI`,
  };
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
      figures = parsePressure(readKernelFile(source.path));
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
  if (!capabilities().pagingMonitor)
    throw unsupported('pressure()', 'memory PSI and per-process fault counts are Linux-only');
  return pressureOf('self');
}
