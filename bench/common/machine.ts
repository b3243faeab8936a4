// The machine and build the figures were measured on, for every
// benchmark's --json and report header: the figures depend on all of it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binding } from '../../lib/binding';
import { pageSize } from '../../lib/index';
import { ROOT } from './files';

export interface SwapDevice {
  name: string;
  type: string;
  sizeBytes: number;
  usedBytes: number;
  priority: number;
}

export interface SwapState {
  devices: SwapDevice[];
  totalBytes: number;
  freeBytes: number;
}

export interface Machine {
  kernel: string;
  cpu: string;
  cpus: number;
  memBytes: number;
  node: string;
  v8: string;
  pageSize: number;
  swap: SwapState;
  /** /sys/kernel/mm/transparent_hugepage/enabled, the choice in force. */
  transparentHugepages: string | null;
  clocksource: string | null;
  /** read_ahead_kb of the block device under os.tmpdir(), where the file-backed scenario's files go. */
  tmpdir: { path: string; readAheadKb: number | null };
  /** vm.max_map_count: each lock of part of a mapping, and each guarded secret, costs mappings. */
  maxMapCount: number | null;
  /** RLIMIT_MEMLOCK [soft, hard] in bytes (-1: unlimited); null if unreadable. */
  memlockRlimit: [number, number] | null;
  loadAverage: number[];
}

const read = (file: string): string | null => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
};

export function swapState(): SwapState {
  const devices = (read('/proc/swaps') ?? '')
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [name = '', type = '', size = '0', used = '0', priority = '0'] = line.trim().split(/\s+/);
      return { name, type, sizeBytes: Number(size) * 1024, usedBytes: Number(used) * 1024, priority: Number(priority) };
    });
  const totalBytes = devices.reduce((sum, d) => sum + d.sizeBytes, 0);
  return { devices, totalBytes, freeBytes: totalBytes - devices.reduce((sum, d) => sum + d.usedBytes, 0) };
}

/** vm.max_map_count, or null if unreadable. */
export function maxMapCount(): number | null {
  const text = read('/proc/sys/vm/max_map_count');
  return text === null ? null : Number(text);
}

// st_dev -> /sys/dev/block/MAJOR:MINOR; a partition's queue/ is its disk's.
function readAheadKb(dir: string): number | null {
  const dev = fs.statSync(dir).dev;
  const major = (Math.floor(dev / 2 ** 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
  const minor = (dev & 0xff) | (Math.floor(dev / 2 ** 12) & ~0xff);
  for (const queue of ['queue', '../queue']) {
    const kb = read(`/sys/dev/block/${major}:${minor}/${queue}/read_ahead_kb`);
    if (kb !== null) return Number(kb);
  }
  return null;
}

export function describeMachine(): Machine {
  const thp = read('/sys/kernel/mm/transparent_hugepage/enabled');
  const rlimit = binding.memlockRlimit();
  return {
    kernel: os.release(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.availableParallelism(),
    memBytes: os.totalmem(),
    node: process.version,
    v8: process.versions.v8,
    pageSize,
    swap: swapState(),
    transparentHugepages: thp === null ? null : (/\[(\w+)\]/.exec(thp)?.[1] ?? thp),
    clocksource: read('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
    tmpdir: { path: os.tmpdir(), readAheadKb: readAheadKb(os.tmpdir()) },
    maxMapCount: maxMapCount(),
    memlockRlimit: typeof rlimit === 'number' ? null : rlimit,
    loadAverage: os.loadavg(),
  };
}

export function machineLine(m: Machine): string {
  const swap = m.swap.totalBytes === 0 ? 'no swap' : `swap ${(m.swap.totalBytes / 2 ** 20).toFixed(0)} MiB`;
  return (
    `${m.cpu}, ${m.cpus} CPUs, ${(m.memBytes / 2 ** 30).toFixed(0)} GiB, Linux ${m.kernel}, Node ${m.node}, ` +
    `page ${m.pageSize} B, ${swap}, THP ${m.transparentHugepages ?? '?'}, clocksource ${m.clocksource ?? '?'}`
  );
}

export interface BuildInfo {
  commit: string | null;
  dirty: boolean | null;
  addonBuilt: string | null;
}

// Figures from a dirty tree or a stale addon are not comparable with a
// commit's. GIT_OPTIONAL_LOCKS=0: read only, never touch the index.
export function buildInfo(): BuildInfo {
  const git = (...args: string[]): string =>
    execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
    });
  let commit: string | null = null;
  let dirty: boolean | null = null;
  try {
    commit = git('rev-parse', '--short', 'HEAD').trim();
    dirty = git('status', '--porcelain', '--', 'src', 'native', 'binding.gyp', 'bench').trim() !== '';
  } catch {
    // not a git checkout: leave both unknown
  }
  const addon = fs.statSync(path.join(ROOT, 'build', 'Release', 'memlock.node'), { throwIfNoEntry: false });
  return { commit, dirty, addonBuilt: addon ? addon.mtime.toISOString() : null };
}

/** `build: <commit> + uncommitted changes, addon built <time>`: the header line every benchmark prints. */
export function buildLine(b: BuildInfo): string {
  return (
    `build: ${b.commit ?? 'unknown commit'}${b.dirty ? ' + uncommitted changes' : ''}, ` +
    `addon built ${b.addonBuilt ?? 'unknown'}`
  );
}
