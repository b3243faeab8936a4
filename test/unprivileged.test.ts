import t from 'tap';
import { cannotDropPrivileges, runFixture, SKIP_MAP_CAP_UNDER_ASAN, unprivileged } from './helpers/child';

const skip = cannotDropPrivileges();

for (const [limit, codes] of [
  [65536, ['ENOMEM']],
  [0, ['EPERM', 'ENOMEM']],
] as const) {
  t.test(`no CAP_IPC_LOCK, RLIMIT_MEMLOCK ${limit}: a clear error and nothing changed`, { skip: skip ?? false }, (t) => {
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
    for (const [name, failure] of [['mlock', r.plain], ['mlock2', r.onFault]] as const) {
      t.ok(failure, `${name}: the lock failed`);
      t.ok(failure.isMemlockError, `${name}: a MemlockError`);
      t.ok(codes.includes(failure.code), `${name}: code ${failure.code}`);
      t.equal(failure.errno, -12, `${name}: errno like Node's SystemError`);
      t.equal(failure.syscall, name);
      t.match(failure.message, /RLIMIT_MEMLOCK is 64 KiB soft \/ 64 KiB hard/);
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
    t.same(r.errors, [
      { operation: 'lock', code: 'ENOMEM', sameError: true },
      { operation: 'lock', code: 'ENOMEM', sameError: true },
    ], 'each refused lock published on memlock:error');
    t.end();
  });
}

t.test('locking every other page: refused with a margin below vm.max_map_count, and the process works on', { skip: SKIP_MAP_CAP_UNDER_ASAN }, (t) => {
  const child = runFixture('map-cap-locks.ts', { node: ['--expose-gc'] });
  t.equal(child.status, 0, `signal ${child.signal}: ${child.stderr.slice(0, 300)}`);
  const r = JSON.parse(child.stdout);
  t.ok(r.locks > 25_000, `${r.locks} locks before the refusal`);
  t.ok(r.failure?.isMemlockError, 'a MemlockError');
  t.equal(r.failure?.code, 'ERR_MEMLOCK_MAPPINGS');
  t.ok(r.cap - r.mappingsAtRefusal >= 1024, `refused with ${r.cap - r.mappingsAtRefusal} of ${r.cap} mappings left`);
  t.ok(r.grewTo > r.mappingsAtRefusal, `V8 then grew its heap into the margin (${r.mappingsAtRefusal} -> ${r.grewTo} mappings), collected it and went on`);
  t.equal(r.countedAtFailure, r.locks, 'memlock counts exactly the locks that succeeded');
  t.equal(r.refusedCount, 0, 'the refused page has no count');
  t.equal(r.refusedKernel, 0, 'and is not locked per the kernel');
  t.ok(r.whileHeld.ok, 'with every lock held, verify(): the kernel has every counted page locked');
  t.equal(r.whileHeld.countedPages, r.locks);
  t.equal(r.whileHeld.vmLck, r.locks * 4096, 'VmLck is exactly the counted pages');
  t.equal(r.after, 0, 'all released afterwards');
  t.equal(r.vmLckAfter, 0);
  t.end();
});
