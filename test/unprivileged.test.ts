import t from 'tap';
import { formatBytes } from '../src/errors';
import { pageSize } from '../src/index';
import { cannotDropPrivileges, runFixture, SKIP_MAP_CAP_UNDER_ASAN, unprivileged } from './helpers/child';
import { noMlock2 } from './helpers/kernel';
import { needs } from './helpers/capability';

const skip = cannotDropPrivileges();

// 16 pages (64 KiB at 4 KiB pages): room for the fixture's first locks.
const SMALL = 16 * pageSize;

for (const [limit, codes] of [
  [SMALL, ['ENOMEM']],
  [0, ['EPERM', 'ENOMEM']],
] as const) {
  t.test(
    `no CAP_IPC_LOCK, RLIMIT_MEMLOCK ${limit}: a clear error and nothing changed`,
    { skip: skip ?? false },
    (t) => {
      const child = runFixture('unprivileged.ts', { prefix: unprivileged(limit) });
      if (limit === 0) {
        // With a zero limit even the first small lock is refused: the fixture
        // itself fails, which is the assertion.
        t.not(child.status, 0, 'the first lock fails');
        t.match(child.stderr, /RLIMIT_MEMLOCK is 0 bytes soft \/ 0 bytes hard/, 'the error names the limit');
        t.match(child.stderr, new RegExp(`code: '(${codes.join('|')})'`), 'with an errno code');
        t.match(child.stderr, /syscall: 'mlock'/);
        t.end();
        return;
      }
      t.equal(child.status, 0, child.stderr);
      const r = JSON.parse(child.stdout);
      const unsupported = needs('onFault');
      const withoutMlock2 = unsupported || noMlock2();
      if (unsupported) {
        // A backend without onFault refuses it before any syscall.
        t.comment(`mlock2 checked for ERR_MEMLOCK_UNSUPPORTED only: ${unsupported}`);
        t.equal(r.onFault?.code, 'ERR_MEMLOCK_UNSUPPORTED', 'onFault: ERR_MEMLOCK_UNSUPPORTED');
      } else if (withoutMlock2) {
        // A missing syscall, whatever the limit: not an RLIMIT_MEMLOCK error.
        t.comment(`mlock2 checked for ENOSYS only: ${withoutMlock2}`);
        t.equal(r.onFault?.code, 'ENOSYS', 'mlock2: ENOSYS');
        t.equal(r.onFault?.syscall, 'mlock2');
      }
      const attempts = [
        ['mlock', r.plain],
        ['mlock2', r.onFault],
      ] as const;
      for (const [name, failure] of withoutMlock2 ? attempts.slice(0, 1) : attempts) {
        t.ok(failure, `${name}: the lock failed`);
        t.ok(failure.isMemlockError, `${name}: a MemlockError`);
        t.ok(codes.includes(failure.code), `${name}: code ${failure.code}`);
        t.equal(failure.errno, -12, `${name}: errno like Node's SystemError`);
        t.equal(failure.syscall, name);
        t.match(failure.message, `RLIMIT_MEMLOCK is ${formatBytes(SMALL)} soft / ${formatBytes(SMALL)} hard`);
        t.match(failure.message, /lacks CAP_IPC_LOCK/);
        t.match(failure.message, /ulimit -l/);
        t.match(failure.message, /LimitMEMLOCK/);
        t.match(failure.message, /--ulimit memlock/);
      }
      t.same(r.after.counts, r.before.counts, 'counts unchanged');
      t.same(r.after.counts.slice(0, 3), [0, 1, 0], 'only the middle page is counted');
      t.same(r.after.kernel, r.before.kernel, 'smaps unchanged: the first run was rolled back');
      t.equal(r.after.kernel.lockedPages, 1, 'the kernel has only the middle page locked');
      t.equal(r.after.vmLck, r.before.vmLck, 'VmLck unchanged');
      t.same(r.after.stats, r.before.stats, 'stats unchanged');
      t.equal(r.smallKernel.lockedPages, 2, 'the earlier lock is untouched');
      t.equal(r.end.stats.lockedPages, 0, 'the process kept running and released everything');
      t.equal(r.end.vmLck, 0);
      t.same(
        r.errors,
        [
          { operation: 'lock', code: 'ENOMEM', sameError: true },
          ...(unsupported ? [] : [{ operation: 'lock', code: withoutMlock2 ? 'ENOSYS' : 'ENOMEM', sameError: true }]),
        ],
        'each refused lock published on memlock:error',
      );
      t.end();
    },
  );
}

t.test(
  'locking every other page: refused with a margin below vm.max_map_count, and the process works on',
  { skip: SKIP_MAP_CAP_UNDER_ASAN || needs('kernelAccount') },
  (t) => {
    const child = runFixture('map-cap-locks.ts', { node: ['--expose-gc'] });
    t.equal(child.status, 0, `signal ${child.signal}: ${child.stderr.slice(0, 300)}`);
    const r = JSON.parse(child.stdout);
    t.ok(r.locks > 25_000, `${r.locks} locks before the refusal`);
    t.ok(r.failure?.isMemlockError, 'a MemlockError');
    t.equal(r.failure?.code, 'ERR_MEMLOCK_MAPPINGS');
    t.ok(r.cap - r.mappingsAtRefusal >= 1024, `refused with ${r.cap - r.mappingsAtRefusal} of ${r.cap} mappings left`);
    t.ok(
      r.grewTo > r.mappingsAtRefusal,
      `V8 then grew its heap into the margin (${r.mappingsAtRefusal} -> ${r.grewTo} mappings), collected it and went on`,
    );
    t.equal(r.countedAtFailure, r.locks, 'memlock counts exactly the locks that succeeded');
    t.equal(r.refusedCount, 0, 'the refused page has no count');
    t.equal(r.refusedKernel, 0, 'and is not locked per the kernel');
    t.ok(r.whileHeld.ok, 'with every lock held, verify(): the kernel has every counted page locked');
    t.equal(r.whileHeld.countedPages, r.locks);
    t.equal(r.whileHeld.vmLck, r.locks * pageSize, 'VmLck is exactly the counted pages');
    t.equal(r.after, 0, 'all released afterwards');
    t.equal(r.vmLckAfter, 0);
    t.end();
  },
);
