// The memory cgroup's own event counts for `memlock status` (any pid) and
// `memlock doctor` (this process): what the kernel counted, and whether the
// paging monitor can be notified of them or would fall back to reading
// them every second.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { memoryCgroup } from '../paging/cgroup';
import { readCgroupCounts } from '../paging/cgroup-events';
import type { Check } from './check';

export interface CgroupEventsStatus {
  version: 1 | 2;
  /** As in /proc/<pid>/cgroup. */
  path: string;
  /** See CgroupMemoryStatus.counts (the files' counts only: no v1 pressure-level signals). */
  counts: Record<string, number>;
  underOom: boolean | null;
  /** Files that could not be read. */
  problems: string[];
}

/** `pid`'s memory cgroup event counts, or null when it has no memory cgroup in view. */
export function cgroupEventsStatus(pid: number | 'self'): CgroupEventsStatus | null {
  const cgroup = memoryCgroup(pid);
  if (!cgroup) return null;
  const problems: string[] = [];
  const { counts, underOom } = readCgroupCounts(cgroup.version, cgroup.dir, problems);
  return { version: cgroup.version, path: cgroup.path, counts, underOom, problems };
}

// The counts that say the cgroup ran out of memory: v2 max/oom/oom_kill
// (memory.high's throttling is "high"), v1 failcnt and oom_kill.
const TROUBLE = ['max', 'oom', 'oom_kill', 'oom_group_kill', 'swap_max', 'swap_fail', 'failcnt', 'oom_kill'];

export function cgroupEventsRow(status: CgroupEventsStatus | null): [string, string, string] {
  if (status === null) return ['cgroup events', 'none', 'no memory cgroup in view'];
  const shown = Object.entries(status.counts)
    .filter(([name, value]) => value > 0 || ['high', 'max', 'oom_kill', 'failcnt'].includes(name))
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
  const oom = status.underOom ? ' UNDER OOM NOW' : '';
  const source = status.version === 2 ? 'memory.events, memory.swap.events' : 'memory.failcnt, memory.oom_control';
  return ['cgroup events', `${shown || 'none'}${oom}`, `since the cgroup was made (v${status.version} ${source})`];
}

function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * doctor: what the cgroup has counted (a limit hit, an OOM kill is a warning:
 * locked memory counts against that limit and cannot be reclaimed), and how
 * the paging monitor would hear of the next one.
 */
export function cgroupEventsCheck(): Check {
  const base = { id: 'cgroup-events' as const, title: 'memory cgroup events', error: null };
  const cgroup = memoryCgroup('self');
  if (!cgroup) return { ...base, status: 'pass', finding: 'no memory cgroup in view: no cgroup events', remedy: [] };
  const status = cgroupEventsStatus('self')!;
  if (status.problems.length > 0)
    return {
      ...base,
      status: 'warn',
      finding: `cgroup v${cgroup.version} ${cgroup.path}: ${status.problems.join('; ')}`,
      remedy: [
        'make the cgroup files readable to the service (a read-only /sys/fs/cgroup is fine; a hidden one is not)',
      ],
    };
  const how =
    cgroup.version === 2
      ? 'the paging monitor is notified through inotify on memory.events'
      : writable(path.join(cgroup.dir, 'cgroup.event_control'))
        ? 'the paging monitor is notified through eventfds registered in cgroup.event_control'
        : 'cgroup.event_control is not writable here: the paging monitor reads the counts every second instead';
  const trouble = Object.entries(status.counts).filter(([name, value]) => TROUBLE.includes(name) && value > 0);
  const counted = Object.entries(status.counts)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
  const finding = `cgroup v${cgroup.version} ${cgroup.path}: ${counted}${status.underOom ? ', under OOM now' : ''}; ${how}`;
  if (trouble.length > 0 || status.underOom)
    return {
      ...base,
      status: 'warn',
      finding,
      remedy: [
        `the cgroup reached its limit (${trouble.map(([n, v]) => `${n} ${v}`).join(', ')}): locked memory is charged to it and cannot be reclaimed, so leave room above what is locked (see the memory cgroup limit check)`,
        'watch these live: monitorPaging() emits cgroup-memory events; memlock_cgroup_memory_events_total in Prometheus',
      ],
    };
  return { ...base, status: 'pass', finding, remedy: [] };
}
