// Locks, secrets, fork(), verify() and whole-process locking from several
// threads at once (test/fixtures/concurrency.ts): no hang, and at the end
// memlock's account and the kernel's agree.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { FIXTURES, UNDER_ASAN } from './helpers/child';
import { needs } from './helpers/capability';

// Generous: the run takes ~5 s, ~40 s with the machine oversubscribed; a
// deadlock never ends.
const TIMEOUT_MS = 180_000;

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** On timeout: each thread of the child, its state and where it waits in the kernel. */
  hung?: string[];
}

// What each thread of a process is doing, from /proc: name, state, wchan.
function threadStates(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) => {
      const read = (file: string) => {
        try {
          return readFileSync(`/proc/${pid}/task/${tid}/${file}`, 'utf8').trim();
        } catch {
          return '?';
        }
      };
      const state = /^State:\s*(.*)$/m.exec(read('status'))?.[1] ?? '?';
      return `${tid} ${read('comm')}: ${state}, wchan ${read('wchan')}`;
    });
  } catch {
    return [];
  }
}

function runConcurrency(args: string[]): Promise<Run> {
  // `env -u NODE_OPTIONS`: a plain node, without the test runner's loader (see helpers/child.ts).
  // env execs node, so the child's pid is the fixture's.
  const child = spawn('env', [
    '-u',
    'NODE_OPTIONS',
    process.execPath,
    '--import',
    'tsx',
    path.join(FIXTURES, 'concurrency.ts'),
    ...args,
  ]);
  let stdout = '';
  let stderr = '';
  let hung: string[] | undefined;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => {
    hung = threadStates(child.pid!);
    child.kill('SIGKILL');
  }, TIMEOUT_MS);
  return new Promise((resolve) =>
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, ...(hung ? { hung } : {}) });
    }),
  );
}

// Whole-process locking under ASan would lock the sanitizer's shadow memory.
const args = UNDER_ASAN ? ['no-lock-all'] : [];

t.test(
  'workers lock and allocate secrets while others fork, verify() and lockAll(): no hang, counts and kernel agree',
  { skip: needs('lockAll', 'kernelAccount') },
  async (t) => {
    const run = await runConcurrency(args);
    if (run.hung) {
      t.fail(
        `no exit within ${TIMEOUT_MS / 1000} s (a deadlock?); threads:\n${run.hung.join('\n')}\n${run.stderr.slice(0, 500)}`,
      );
      return;
    }
    t.equal(run.status, 0, `signal ${run.signal}: ${run.stderr.slice(0, 1000)}`);
    if (run.status !== 0) return;
    const r = JSON.parse(run.stdout);
    const { requested } = r;
    t.same(
      r.main,
      { spawns: requested.spawns, verifies: requested.spawns, alarms: [] },
      `main thread: ${requested.spawns} spawnSync('true'), each followed by a verify() that found nothing missing`,
    );
    const lockers = r.workers.filter((w: { role: string }) => w.role === 'locking');
    t.equal(lockers.length, 2, 'two locking workers');
    lockers.forEach((w: unknown, i: number) => {
      t.same(
        w,
        {
          role: 'locking',
          locks: requested.locks,
          releases: requested.locks,
          secrets: requested.secrets,
          frees: requested.secrets,
        },
        `locking worker ${i + 1}: ${requested.locks} locks taken and released, ${requested.secrets} secrets allocated and freed`,
      );
    });
    t.same(
      r.workers.find((w: { role: string }) => w.role === 'whole'),
      {
        role: 'whole',
        lockAlls: requested.lockAlls,
        unlockAlls: requested.lockAlls,
        verifies: requested.wholeVerifies,
        alarms: [],
      },
      `whole-process worker: ${requested.lockAlls} lockAll/unlockAll pairs, every verify() clean`,
    );

    t.ok(
      r.sharedCounts.every((c: number) => c === 0),
      'every count on the shared memory is 0',
    );
    t.equal(r.sharedKernel.lockedPages, 0, 'nothing of it locked per the kernel');
    t.equal(r.stats.lockedPages, 0, 'memlock holds no page');
    t.equal(r.stats.heldLocks, 0, 'and no lock record');
    t.equal(r.stats.lockAll, null, 'whole-process locking is off');
    t.equal(r.secrets.live, 0, 'no secret left');
    t.equal(r.secrets.mappedBytes, 0, 'no slab left mapped');
    t.same(r.verify, { ok: true, countedPages: 0, missingPages: 0, missing: [] }, 'verify() at the end: ok');
    t.equal(r.vmLckAfter, r.vmLckBefore, `VmLck back to its value before (${r.vmLckBefore} bytes)`);
  },
);
