// unlockAll(): counted locks survive it as they were, whatever the kernel
// would now refuse; everything else is unlocked. Each case runs in a child
// (whole-process locking is process-wide).
// test-exclusive: the machine's memory (whole-process locking)
import t from 'tap';
import { pageSize } from '../src/index';
import { runFixture, SKIP_LOCK_ALL_UNDER_ASAN } from './helpers/child';

for (const flags of ['current', 'current,future', 'current,future,onFault', 'current,onFault', 'future,onFault']) {
  t.test(
    `unlockAll() after lockAll({ ${flags} }): counted locks keep their kind, nothing else stays locked`,
    { skip: SKIP_LOCK_ALL_UNDER_ASAN },
    (t) => {
      const child = runFixture('unlock-all-keeps.ts', { args: [flags] });
      t.equal(child.status, 0, child.stderr.slice(0, 300));
      const r = JSON.parse(child.stdout);
      t.match(r.after.full, { lockedPages: 16, onFaultPages: 0 }, 'a counted lock: locked outright (lo, no lf)');
      t.match(r.after.onFault, { lockedPages: 8, onFaultPages: 8 }, 'a counted onFault lock: locked on fault (lo lf)');
      t.match(r.after.late, { lockedPages: 4, onFaultPages: 0 }, 'a lock taken under lockAll: locked outright');
      t.equal(r.after.other.lockedPages, 0, 'memory with no count is unlocked');
      t.equal(r.after.vmLck, 28 * pageSize, 'VmLck is exactly the counted pages');
      t.equal(r.after.fresh.lockedPages, 0, 'memory mapped afterwards is not locked (no MCL_FUTURE left)');
      t.equal(r.after.big.lockedPages, 0, 'nor is a 32 MiB Buffer');
      t.ok(r.after.verify, 'verify() agrees');
      t.equal(r.after.state, null, 'no whole-process locking in force');
      t.same(r.end, { vmLck: 0, locked: 0 }, 'releasing the counted locks unlocks them');
      t.end();
    },
  );
}

t.test(
  'unlockAll() after RLIMIT_MEMLOCK fell below what is counted and root was given up: counted pages stay locked',
  { skip: SKIP_LOCK_ALL_UNDER_ASAN || (process.getuid?.() === 0 ? false : 'needs root to give it up') },
  (t) => {
    const child = runFixture('unlock-all-rlimit.ts');
    t.equal(child.status, 0, child.stderr.slice(0, 300));
    const r = JSON.parse(child.stdout);
    t.equal(r.lockAll, null, 'lockAll() with CAP_IPC_LOCK');
    t.equal(r.prlimit.status, 0, `RLIMIT_MEMLOCK lowered to 1 MiB ${r.prlimit.stderr}`);
    t.same(r.dropped, { uid: 65534, capIpcLock: false }, 'and no CAP_IPC_LOCK left');
    // Relocking 5 MiB is refused now; whether unlockAll reports that or not,
    // the counted pages must never be left unlocked.
    if (r.unlockAll !== null)
      t.ok(['ENOMEM', 'EPERM', 'EAGAIN'].includes(r.unlockAll.code), `unlockAll: ${r.unlockAll.code}`);
    t.equal(r.after.full.lockedPages, 1024, 'the counted 4 MiB are locked per smaps');
    t.equal(r.after.onFault.lockedPages, 256, 'and so is the counted onFault MiB');
    t.ok(r.after.verify, 'verify() agrees');
    t.equal(r.after.counted, 1280);
    if (r.unlockAll === null) {
      t.equal(r.after.other.lockedPages, 0, 'unlockAll succeeded: memory with no count is unlocked');
      t.equal(r.after.vmLck, 5 << 20, 'VmLck is exactly the counted pages');
      t.equal(r.after.state, null);
    }
    t.same(r.end, { vmLck: 0, locked: 0 });
    t.end();
  },
);
