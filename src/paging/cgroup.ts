// Where a process sits in the cgroup hierarchies, and what its memory cgroup
// allows, from /proc/<pid>/cgroup, /proc/self/mountinfo and the cgroup files.
// Read on demand; nothing here is cached, as a process can be moved.
import { existsSync } from 'node:fs';
import { readKernelFile } from '../kernel-file';
import path from 'node:path';
import { readProcFile } from '../proc';

interface Mount {
  /** The cgroup path (in this namespace) mounted at mountPoint. */
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

// mountinfo escapes space, tab, newline and backslash as octal.
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

function cgroupMounts(): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readProcFile('/proc/self/mountinfo').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fsType = '', , options = ''] = right.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    mounts.push({
      root: unescape(fields[3] ?? '/'),
      mountPoint: unescape(fields[4] ?? ''),
      fsType,
      superOptions: options.split(','),
    });
  }
  return mounts;
}

/** The directory of cgroup `cgroupPath` under `mount`, or undefined if it is not visible there. */
function directoryOf(mount: Mount, cgroupPath: string): string | undefined {
  const relative =
    mount.root === '/'
      ? cgroupPath
      : cgroupPath.startsWith(`${mount.root}/`) || cgroupPath === mount.root
        ? cgroupPath.slice(mount.root.length) || '/'
        : undefined;
  if (relative === undefined) return undefined;
  const dir = path.join(mount.mountPoint, relative);
  return existsSync(dir) ? dir : undefined;
}

interface Membership {
  /** The cgroup v2 path ("0::<path>"), if the process has one. */
  unified?: string;
  /** cgroup v1 paths by controller. */
  v1: Map<string, string>;
}

function membership(pid: number | 'self'): Membership {
  const result: Membership = { v1: new Map() };
  for (const line of readProcFile(`/proc/${pid}/cgroup`).split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, controllers = '', cgroupPath = '/'] = match;
    if (id === '0' && controllers === '') result.unified = cgroupPath;
    else for (const controller of controllers.split(',')) if (controller) result.v1.set(controller, cgroupPath);
  }
  return result;
}

export interface UnifiedCgroup {
  path: string;
  dir: string;
  /**
   * The hierarchy's real root (no cgroup.type there). Its memory.pressure is
   * the system's; a container's namespace root is not the real root.
   */
  isRoot: boolean;
}

/** The process's cgroup v2 directory, if cgroup2 is mounted and the process has one. */
export function unifiedCgroup(pid: number | 'self'): UnifiedCgroup | undefined {
  const unified = membership(pid).unified;
  if (unified === undefined) return undefined;
  for (const mount of cgroupMounts().filter((m) => m.fsType === 'cgroup2')) {
    const dir = directoryOf(mount, unified);
    if (dir !== undefined) return { path: unified, dir, isRoot: !existsSync(path.join(dir, 'cgroup.type')) };
  }
  return undefined;
}

export interface MemoryCgroup {
  version: 1 | 2;
  /** As in /proc/<pid>/cgroup. */
  path: string;
  dir: string;
  /** The tightest memory limit of this cgroup and its ancestors, in bytes; Infinity when none. */
  limitBytes: number;
  /** The directory whose limit that is (undefined when none). */
  limitDir: string | undefined;
  /** v2 memory.high (self and ancestors, tightest); Infinity when none or v1. */
  highBytes: number;
  /** Charged now: v1 memory.usage_in_bytes, v2 memory.current. */
  usageBytes: number;
  /** Page cache in it (active + inactive file), which reclaim can take back. */
  fileBytes: number;
  /** v2 memory.min and memory.low; undefined on v1. */
  minBytes: number | undefined;
  lowBytes: number | undefined;
  /** v1 memory.soft_limit_in_bytes (v1's nearest thing to memory.low); undefined on v2. */
  softLimitBytes: number | undefined;
}

// v1 says "no limit" with PAGE_COUNTER_MAX pages (9223372036854771712 with
// 4 KiB pages); v2 with "max".
function limitValue(text: string | undefined): number {
  if (text === undefined) return Infinity;
  const value = text.trim();
  if (value === 'max' || value === '') return Infinity;
  const n = Number(value);
  return Number.isFinite(n) && n < 2 ** 62 ? n : Infinity;
}

function readOptional(file: string): string | undefined {
  try {
    return readKernelFile(file);
  } catch {
    return undefined;
  }
}

function statField(text: string | undefined, key: string): number | undefined {
  if (text === undefined) return undefined;
  const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The tightest value of `file` from dir up to the mount point. */
function tightest(dir: string, top: string, file: string): { bytes: number; dir: string | undefined } {
  let best = { bytes: Infinity, dir: undefined as string | undefined };
  for (let at = dir; ; at = path.dirname(at)) {
    const bytes = limitValue(readOptional(path.join(at, file)));
    if (bytes < best.bytes) best = { bytes, dir: at };
    if (at === top || at === path.dirname(at) || !at.startsWith(top)) break;
  }
  return best;
}

/** The process's memory cgroup: v2 when its cgroup has the memory controller, else v1. */
export function memoryCgroup(pid: number | 'self'): MemoryCgroup | undefined {
  const member = membership(pid);
  const mounts = cgroupMounts();
  if (member.unified !== undefined) {
    for (const mount of mounts.filter((m) => m.fsType === 'cgroup2')) {
      const dir = directoryOf(mount, member.unified);
      if (dir === undefined || !existsSync(path.join(dir, 'memory.current'))) continue;
      const limit = tightest(dir, mount.mountPoint, 'memory.max');
      const stat = readOptional(path.join(dir, 'memory.stat'));
      return {
        version: 2,
        path: member.unified,
        dir,
        limitBytes: limit.bytes,
        limitDir: limit.dir,
        highBytes: tightest(dir, mount.mountPoint, 'memory.high').bytes,
        usageBytes: Number(readOptional(path.join(dir, 'memory.current')) ?? 0),
        fileBytes: (statField(stat, 'active_file') ?? 0) + (statField(stat, 'inactive_file') ?? 0),
        minBytes: limitValue(readOptional(path.join(dir, 'memory.min'))),
        lowBytes: limitValue(readOptional(path.join(dir, 'memory.low'))),
        softLimitBytes: undefined,
      };
    }
  }
  const v1Path = member.v1.get('memory');
  if (v1Path === undefined) return undefined;
  for (const mount of mounts.filter((m) => m.fsType === 'cgroup' && m.superOptions.includes('memory'))) {
    const dir = directoryOf(mount, v1Path);
    if (dir === undefined) continue;
    const stat = readOptional(path.join(dir, 'memory.stat'));
    // hierarchical_memory_limit already is the tightest of the ancestors' limits.
    const own = limitValue(readOptional(path.join(dir, 'memory.limit_in_bytes')));
    const hierarchical = limitValue(statField(stat, 'hierarchical_memory_limit')?.toString());
    const limit =
      hierarchical < own
        ? tightest(dir, mount.mountPoint, 'memory.limit_in_bytes')
        : { bytes: own, dir: own === Infinity ? undefined : dir };
    return {
      version: 1,
      path: v1Path,
      dir,
      limitBytes: Math.min(own, hierarchical),
      limitDir: limit.dir,
      highBytes: Infinity,
      usageBytes: Number(readOptional(path.join(dir, 'memory.usage_in_bytes')) ?? 0),
      fileBytes:
        (statField(stat, 'total_active_file') ?? statField(stat, 'active_file') ?? 0) +
        (statField(stat, 'total_inactive_file') ?? statField(stat, 'inactive_file') ?? 0),
      minBytes: undefined,
      lowBytes: undefined,
      softLimitBytes: limitValue(readOptional(path.join(dir, 'memory.soft_limit_in_bytes'))),
    };
  }
  return undefined;
}
