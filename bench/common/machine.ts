// The machine and build the figures were measured on, for --json and the
// report header: latency depends on all of it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pageSize } from '../../lib/index';
import { swapState, type SwapState } from '../latency/swapfile';

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
  loadAverage: number[];
}

const read = (file: string): string | null => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
};

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
  const root = path.join(__dirname, '..', '..');
  const git = (...args: string[]): string =>
    execFileSync('git', args, {
      cwd: root,
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
  const addon = fs.statSync(path.join(root, 'build', 'Release', 'memlock.node'), { throwIfNoEntry: false });
  return { commit, dirty, addonBuilt: addon ? addon.mtime.toISOString() : null };
}
