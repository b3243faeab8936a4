// test-exclusive: the machine's memory (whole-process locking)
import { spawn } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { lockAll, pageSize } from '../src/index';
import {
  cannotDropPrivileges,
  FIXTURES,
  runFixture,
  SKIP_LOCK_ALL_UNDER_ASAN,
  UNDER_QEMU,
  unprivileged,
} from './helpers/child';
import { NO_TESTING_BUILD, TESTING_BUILD } from './helpers/testing-build';

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// Children run two at a time (two cores): 40 GC-heavy runs in about 25 s.
function runChurn(flags: string, extra: string[] = [], env: Record<string, string> = {}): Promise<Run> {
  // `env -u NODE_OPTIONS`: a plain node, without the test runner's loader (see helpers/child.ts).
  const args = [
    '-u',
    'NODE_OPTIONS',
    process.execPath,
    '--expose-gc',
    '--import',
    'tsx',
    path.join(FIXTURES, 'lock-all-churn.ts'),
    flags,
    ...extra,
  ];
  const child = spawn('env', args, { env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
}

async function inPairs<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < tasks.length; i += 2) results.push(...(await Promise.all(tasks.slice(i, i + 2).map((f) => f()))));
  return results;
}

// Under emulation (scripts/ci-arm64.sh) a run takes about 20 s of CPU: one
// a flag set there.
const RUNS = UNDER_QEMU ? 1 : 10;

const COMBOS = {
  '{ current }': '100',
  '{ current, future }': '110',
  '{ current, future, onFault }': '111',
  '{ future, onFault }': '011',
};

for (const [name, flags] of Object.entries(COMBOS)) {
  t.test(
    `lockAll(${name}): GC churn, a worker, exit; ${RUNS} runs, no V8 abort`,
    { skip: SKIP_LOCK_ALL_UNDER_ASAN },
    async (t) => {
      const runs = await inPairs(Array.from({ length: RUNS }, () => () => runChurn(flags)));
      runs.forEach((run, i) => {
        t.equal(run.status, 0, `run ${i + 1}: exit code 0${run.status === 0 ? '' : `: ${run.stderr.slice(0, 300)}`}`);
        t.notMatch(run.stderr, /Fatal|Check failed|out of memory/, `run ${i + 1}: no V8 fatal output`);
      });
      const last = JSON.parse(runs[runs.length - 1]!.stdout);
      t.equal(last.built, 1_200_000, 'the workload ran');
      t.same(
        last.state,
        { current: flags[0] === '1', future: flags[1] === '1', onFault: flags[2] === '1' },
        'stats().lockAll',
      );
      t.ok(last.vmLckBytes > 20 << 20, `VmLck covers the process (${Math.round(last.vmLckBytes / 2 ** 20)} MiB)`);
      if (flags[1] === '1') {
        t.ok(
          last.hook.retriedLocked > 0,
          `V8's page releases were served by MADV_DONTNEED_LOCKED (${last.hook.retriedLocked})`,
        );
      }
      if (flags.startsWith('11')) {
        t.ok(
          last.lockedShare > 0.9,
          `the heap stays locked: ${(last.lockedShare * 100).toFixed(1)}% of private writable RSS`,
        );
      } else if (flags[1] === '1') {
        // Without MCL_CURRENT, memory mapped before lockAll stays unlocked:
        // only what the heap grew into since is locked.
        t.ok(
          last.lockedShare > 0.1 && last.lockedShare < 1,
          `new memory is locked (${(last.lockedShare * 100).toFixed(1)}%)`,
        );
      }
      t.equal(last.hook.failed, 0, 'no release was refused in the end');
    },
  );
}

t.test(
  'the fallback for kernels before 5.18 (munlock + madvise + mlock) also survives',
  { skip: SKIP_LOCK_ALL_UNDER_ASAN || NO_TESTING_BUILD },
  async (t) => {
    // The testing build's switch makes the hook act as on an older kernel.
    const env = { MEMLOCK_NATIVE_BINDING: process.env['MEMLOCK_NATIVE_BINDING'] ?? TESTING_BUILD };
    const runs = await inPairs(['110', '111'].map((flags) => () => runChurn(flags, ['fallback'], env)));
    for (const run of runs) {
      t.equal(run.status, 0, run.stderr.slice(0, 300));
      t.notMatch(run.stderr, /Fatal|Check failed/);
      const r = JSON.parse(run.stdout);
      t.equal(r.hook.retriedLocked, 0, 'MADV_DONTNEED_LOCKED was not used');
      t.ok(r.hook.retriedUnlock > 0, `the fallback served the releases (${r.hook.retriedUnlock})`);
      t.ok(r.lockedShare > 0.9, `and the heap stays locked (${(r.lockedShare * 100).toFixed(1)}%)`);
    }
  },
);

t.test(
  'counted locks survive unlockAll; a count reaching 0 under lockAll leaves the page locked',
  { skip: SKIP_LOCK_ALL_UNDER_ASAN },
  (t) => {
    const child = runFixture('lock-all-counts.ts');
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.equal(r.during.counted.lockedPages, 16, 'under lockAll: the counted range is locked');
    t.equal(r.during.other.lockedPages, 16, 'and so is everything else');
    t.same(r.transientAfterRelease.counts, [0, 0, 0, 0], 'released to 0');
    t.equal(r.transientAfterRelease.kernel.lockedPages, 4, 'but still locked: lockAll holds it');
    t.equal(r.after.counted.lockedPages, 16, 'after unlockAll the counted range is locked again');
    t.ok(r.after.counted.lockedBytes >= 16 * pageSize, 'smaps Locked: on it stays > 0');
    t.equal(r.after.other.lockedPages, 0, 'what was only held by lockAll is unlocked');
    t.equal(r.after.transient.lockedPages, 0, 'including the page whose count reached 0');
    t.equal(r.end.lockedPages, 0, 'and a last release unlocks the counted range');
    t.end();
  },
);

t.test(
  'unprivileged: a clear ENOMEM/EPERM, and the process keeps running',
  { skip: SKIP_LOCK_ALL_UNDER_ASAN || (cannotDropPrivileges() ?? false) },
  (t) => {
    const child = runFixture('lock-all-unprivileged.ts', { prefix: unprivileged(8 << 20) });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.ok(r.current?.isMemlockError, 'lockAll(): a MemlockError');
    t.ok(['ENOMEM', 'EPERM'].includes(r.current?.code), `code ${r.current?.code}`);
    t.equal(r.current?.syscall, 'mlockall');
    t.match(r.current?.message, /RLIMIT_MEMLOCK is 8 MiB soft/);
    t.match(r.current?.message, /ulimit -l/);
    t.ok(r.future?.isMemlockError, 'lockAll({ future: true }) is refused up front');
    t.equal(r.future?.code, 'ENOMEM');
    t.match(r.future?.message, /every mapping made after it would fail/);
    for (const [name, refused] of [
      ['{ future, onFault }', r.futureOnFault],
      ['{ current, future, onFault: false }', r.currentFuture],
    ]) {
      t.ok(refused?.isMemlockError, `lockAll(${name}) is refused up front too`);
      t.equal(refused?.code, 'ENOMEM');
      t.equal(refused?.syscall, 'mlockall');
    }
    t.same(r.after, r.before, 'nothing locked, no whole-process locking in force');
    t.equal(r.alive, 100_000, 'the process kept running');
    t.end();
  },
);

t.test('bad options: codes, and nothing locked', (t) => {
  const anyLockAll = lockAll as (options?: unknown) => void;
  t.throws(() => anyLockAll(null), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyLockAll('current'), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyLockAll({ current: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyLockAll({ future: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyLockAll({ onFault: null }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyLockAll({ current: false }), { code: 'ERR_INVALID_ARG_VALUE' }, 'neither current nor future');
  t.end();
});
