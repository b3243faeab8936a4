// test-tier: quick
import t from 'tap';
import {
  getLockablePageLimit,
  lock,
  lockCounts,
  MemlockError,
  pageSize,
  setLockablePageLimit,
  stats,
} from '../src/index';
import { binding } from '../src/binding';
import { alignedPages, kernelLockState } from './helpers/kernel';

const defaultLimit = getLockablePageLimit();
t.teardown(() => setLockablePageLimit(defaultLimit));

t.test('the default limit is 90% of physical page frames', (t) => {
  t.equal(defaultLimit, Math.floor(binding.physicalPages / 10) * 9);
  t.equal(stats().limitPages, defaultLimit);
  t.end();
});

t.test('over the limit: ERR_MEMLOCK_LIMIT and nothing changed', (t) => {
  const view = alignedPages(8);
  const base = stats().lockedPages;
  setLockablePageLimit(base + 6);
  const held = lock(view.subarray(0, 4 * pageSize));
  const err = t.throws(() => lock(view)) as MemlockError;
  t.type(err, MemlockError);
  t.equal(err.code, 'ERR_MEMLOCK_LIMIT');
  t.same(Array.from(lockCounts(view)), [1, 1, 1, 1, 0, 0, 0, 0], 'counts unchanged');
  t.equal(kernelLockState(view).lockedPages, 4, 'kernel state unchanged');
  t.equal(stats().lockedPages, base + 4);

  const again = lock(view.subarray(0, 4 * pageSize));
  t.same(Array.from(lockCounts(view)).slice(0, 4), [2, 2, 2, 2], 're-locking pages already counted takes no room');
  again.release();
  const fits = lock(view.subarray(0, 6 * pageSize));
  t.equal(stats().lockedPages, base + 6, 'up to the limit is allowed');
  fits.release();
  held.release();
  t.end();
});

t.test('a limit below what is locked now is allowed; new pages fail until released', (t) => {
  const view = alignedPages(4);
  const held = lock(view.subarray(0, 2 * pageSize));
  setLockablePageLimit(0);
  t.equal(getLockablePageLimit(), 0);
  t.throws(() => lock(view.subarray(2 * pageSize)), { code: 'ERR_MEMLOCK_LIMIT' });
  held.release();
  setLockablePageLimit(stats().lockedPages + 2);
  const now = lock(view.subarray(2 * pageSize));
  t.equal(kernelLockState(view.subarray(2 * pageSize)).lockedPages, 2);
  now.release();
  setLockablePageLimit(defaultLimit);
  t.end();
});
