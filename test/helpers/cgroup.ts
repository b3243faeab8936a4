// Memory cgroups for tests that need real memory pressure: a child directory
// of this process's own memory cgroup (v1: memory.limit_in_bytes; v2:
// memory.max), plus, on hybrid hosts, a cgroup v2 group so the child's PSI is
// its own. Every cgroup made here is removed: by remove(), at exit, on
// SIGINT/SIGTERM, and (left by a killed run) by the next run.
import fs from 'node:fs';
import path from 'node:path';
import { memoryCgroup, unifiedCgroup } from '../../src/paging/cgroup';

const PREFIX = 'memlock-test-';

export interface TestCgroup {
  /** Where the limit is set: the child sets it itself once it has started (see limitFile). */
  memory: { version: 1 | 2; dir: string; limitFile: string; usageFile: string };
  /** A cgroup v2 group whose memory.pressure is the child's alone (hybrid hosts), or undefined. */
  unified: string | undefined;
  /** Every cgroup.procs the child's pid goes into before its workload starts. */
  procsFiles: string[];
  /** Kills what is left inside, removes the directories; returns those it could not remove. */
  remove(): string[];
}

const live = new Set<TestCgroup>();
let hooked = false;

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function pidsIn(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Kills every process in dir, waits for it to empty, removes it. False if it is still there. */
function removeDir(dir: string): boolean {
  if (!fs.existsSync(dir)) return true;
  for (let attempt = 0; attempt < 100; attempt += 1) {
    for (const pid of pidsIn(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    try {
      fs.rmdirSync(dir);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY') return false;
    }
    sleepMs(100);
  }
  return false;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes cgroups a killed earlier run left behind (their owner pid is gone). */
function removeStale(parent: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const owner = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (owner && !alive(Number(owner[1]))) removeDir(path.join(parent, name));
  }
}

function hookCleanup(): void {
  if (hooked) return;
  hooked = true;
  const removeAll = (): void => {
    for (const group of live) group.remove();
  };
  process.on('exit', removeAll);
  // A program with signal handlers of its own (the benchmarks) exits through
  // them, and 'exit' covers that; otherwise remove, then die of the signal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    if (process.listenerCount(signal) > 0) continue;
    process.once(signal, () => {
      removeAll();
      process.kill(process.pid, signal);
    });
  }
}

interface Plan {
  memoryParent: string;
  version: 1 | 2;
  unifiedParent: string | undefined;
}

/** Where test cgroups can go, or why there is nowhere. */
export function planCgroups(): Plan | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'needs root to make a memory cgroup' };
  let memory;
  try {
    memory = memoryCgroup('self');
  } catch (error) {
    return { reason: `cannot read this process's cgroups: ${(error as Error).message}` };
  }
  if (!memory) return { reason: 'no memory cgroup controller is mounted here' };
  const writable = (dir: string): boolean => {
    try {
      fs.accessSync(dir, fs.constants.W_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (!writable(memory.dir)) return { reason: `the memory cgroup ${memory.dir} is not writable (read-only cgroupfs?)` };
  if (memory.version === 2) {
    const controls = fs.readFileSync(path.join(memory.dir, 'cgroup.subtree_control'), 'utf8');
    if (!controls.split(/\s+/).includes('memory')) {
      return {
        reason: `cgroup v2: the memory controller is not enabled for children of ${memory.dir} (cgroup.subtree_control)`,
      };
    }
    return { memoryParent: memory.dir, version: 2, unifiedParent: undefined };
  }
  let unifiedParent: string | undefined;
  try {
    const unified = unifiedCgroup('self');
    if (unified && writable(unified.dir)) unifiedParent = unified.dir;
  } catch {
    unifiedParent = undefined;
  }
  return { memoryParent: memory.dir, version: 1, unifiedParent };
}

let made = 0;

export function makeTestCgroup(plan: Plan, tag: string): TestCgroup {
  hookCleanup();
  removeStale(plan.memoryParent);
  if (plan.unifiedParent) removeStale(plan.unifiedParent);
  const name = `${PREFIX}${process.pid}-${tag}-${(made += 1)}`;
  const dirs: string[] = [];
  const group: TestCgroup = {
    memory: {
      version: plan.version,
      dir: path.join(plan.memoryParent, name),
      limitFile: path.join(plan.memoryParent, name, plan.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'),
      usageFile: path.join(plan.memoryParent, name, plan.version === 1 ? 'memory.usage_in_bytes' : 'memory.current'),
    },
    unified: undefined,
    procsFiles: [],
    remove() {
      const left = dirs.filter((dir) => !removeDir(dir));
      live.delete(group);
      return left;
    },
  };
  live.add(group);
  try {
    fs.mkdirSync(group.memory.dir);
    dirs.push(group.memory.dir);
    group.procsFiles.push(path.join(group.memory.dir, 'cgroup.procs'));
    if (plan.unifiedParent) {
      const dir = path.join(plan.unifiedParent, name);
      fs.mkdirSync(dir);
      dirs.push(dir);
      group.unified = dir;
      group.procsFiles.push(path.join(dir, 'cgroup.procs'));
    }
  } catch (error) {
    group.remove();
    throw error;
  }
  return group;
}

/**
 * A command prefix that writes the child's pid into every cgroup.procs
 * (before node starts, so all the child's memory is charged there), then
 * execs the rest.
 */
export function intoCgroups(group: TestCgroup): string[] {
  const script = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 97; shift; done; shift; exec "$@"';
  return ['sh', '-c', script, 'sh', ...group.procsFiles, '--'];
}
