// test-tier: quick
// lockMany(): many counted locks in one call, all or nothing, each view its
// own lock. Checked against lockCounts(), stats() and the kernel's account.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import t from 'tap';
import {
  getLockablePageLimit,
  LockGroup,
  type LockMessage,
  lockCounts,
  lockMany,
  locks,
  MemlockError,
  pageSize,
  type ReleaseMessage,
  setLockablePageLimit,
  stats,
  unlock,
} from '../src/index';
import { needs } from './helpers/capability';
import { alignedPages, kernelLockState, tableAgreesWithKernel } from './helpers/kernel';

const defaultLimit = getLockablePageLimit();
t.teardown(() => setLockablePageLimit(defaultLimit));

function pages(view: Uint8Array, first: number, count = 1): Uint8Array {
  return view.subarray(first * pageSize, (first + count) * pageSize);
}

t.test('locks every view, a count each, and releases them in one call', (t) => {
  const view = alignedPages(6);
  const before = stats();
  const bufferPages = lockCounts(view.buffer).length;
  const group = lockMany([pages(view, 0, 2), pages(view, 1, 2), pages(view, 4), view.buffer]);
  t.type(group, LockGroup);
  t.equal(group.size, 4);
  t.equal(group.pages, 2 + 2 + 1 + bufferPages, 'pages summed over the views');
  t.equal(group.bytes, group.pages * pageSize);
  t.equal(group.released, false);
  t.equal(group.onFault, false);
  const counts = [...lockCounts(view)];
  t.same(counts, [2, 3, 2, 1, 2, 1], 'each view counted once, overlaps nest');
  t.equal(kernelLockState(view).lockedPages, 6, 'the kernel has every page locked');
  t.equal(stats().heldLocks, before.heldLocks + 4, 'a lock per view');
  t.ok(tableAgreesWithKernel().ok, 'table and kernel agree');

  group.release();
  t.equal(group.released, true);
  t.same([...lockCounts(view)], [0, 0, 0, 0, 0, 0]);
  t.equal(kernelLockState(view).lockedPages, 0, 'the kernel has nothing locked');
  t.same(stats(), before, 'stats back as they were');
  group.release();
  group[Symbol.dispose]();
  t.same(stats(), before, 'releasing again is harmless');
  t.end();
});

t.test('the same view twice is two locks', (t) => {
  const view = alignedPages(1);
  const group = lockMany([view, view, view], { label: 'thrice' });
  t.same([...lockCounts(view)], [3]);
  const listed = locks().filter((info) => info.label === 'thrice');
  t.equal(listed.length, 3, 'locks() lists each view as its own lock');
  group.release();
  t.same([...lockCounts(view)], [0]);
  t.end();
});

t.test('over the limit: ERR_MEMLOCK_LIMIT naming the view, and nothing changed', (t) => {
  const view = alignedPages(8);
  setLockablePageLimit(stats().lockedPages + 5);
  const before = stats();
  const err = t.throws(() => lockMany([pages(view, 0, 2), pages(view, 1, 2), pages(view, 3, 2), pages(view, 5, 3)]));
  t.type(err, MemlockError);
  t.equal((err as MemlockError).code, 'ERR_MEMLOCK_LIMIT');
  t.match((err as Error).message, /views\[3\] of 4/, 'the message names the view refused');
  t.same([...lockCounts(view)], [0, 0, 0, 0, 0, 0, 0, 0], 'no count');
  t.equal(kernelLockState(view).lockedPages, 0, 'the kernel has nothing locked');
  t.same(stats(), before, 'stats unchanged');
  const fits = lockMany([pages(view, 0, 2), pages(view, 1, 2), pages(view, 3, 2)]);
  t.equal(kernelLockState(view).lockedPages, 5, 'up to the limit is allowed');
  fits.release();
  setLockablePageLimit(defaultLimit);
  t.end();
});

t.test('bad input: a clear error with a code, and nothing locked', (t) => {
  const view = alignedPages(2);
  const before = stats();
  t.throws(() => lockMany(view as never), { code: 'ERR_INVALID_ARG_TYPE', message: /"views"/ });
  t.throws(() => lockMany([view, 7 as never]), { code: 'ERR_INVALID_ARG_TYPE', message: /"views\[1\]"/ });
  t.throws(() => lockMany([view, new Uint8Array(0)]), { code: 'ERR_INVALID_ARG_VALUE', message: /views\[1\]/ });
  t.throws(
    () =>
      lockMany([
        view,
        new (ArrayBuffer as new (size: number, options: object) => ArrayBuffer)(8, { maxByteLength: 16 }),
      ]),
    {
      code: 'ERR_INVALID_ARG_VALUE',
      message: /views\[1\]/,
    },
  );
  t.throws(() => lockMany([view], { onFault: 'yes' } as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => lockMany([view], 3 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.same([...lockCounts(view)], [0, 0], 'no count');
  t.same(stats(), before, 'stats unchanged');
  t.equal(kernelLockState(view).lockedPages, 0);
  const empty = lockMany([]);
  t.equal(empty.size, 0);
  t.equal(empty.released, true, 'an empty group holds nothing');
  empty.release();
  t.end();
});

t.test('unlock(view) releases one lock of a group; release() skips it after', (t) => {
  const view = alignedPages(2);
  const first = pages(view, 0);
  const group = lockMany([first, pages(view, 1)]);
  unlock(first);
  t.same([...lockCounts(view)], [0, 1]);
  t.equal(group.released, false, 'the other lock is still held');
  t.equal(kernelLockState(first).lockedPages, 0);
  group.release();
  t.same([...lockCounts(view)], [0, 0]);
  t.equal(group.released, true);
  t.equal(kernelLockState(view).lockedPages, 0);
  t.end();
});

t.test('a group locked on fault', { skip: needs('onFault') }, (t) => {
  const view = alignedPages(2);
  const group = lockMany([view], { onFault: true });
  t.equal(group.onFault, true);
  t.same([...lockCounts(view)], [1, 1]);
  t.equal(kernelLockState(view).lockedPages, 2);
  group.release();
  t.end();
});

t.test('counts turn sticky at 65535 within one call, and stay', (t) => {
  const view = alignedPages(1);
  const group = lockMany(new Array<Uint8Array>(65_535).fill(view));
  t.same([...lockCounts(view)], [65_535], 'sticky');
  group.release();
  t.same([...lockCounts(view)], [65_535], 'a sticky count does not go down');
  t.equal(kernelLockState(view).lockedPages, 1, 'the page stays locked');
  t.ok(tableAgreesWithKernel().ok);
  t.end();
});

t.test('channels: a message per view, naming the group', (t) => {
  const view = alignedPages(3);
  const taken: LockMessage[] = [];
  const released: ReleaseMessage[] = [];
  const onLock = (message: unknown): void => void taken.push(message as LockMessage);
  const onRelease = (message: unknown): void => void released.push(message as ReleaseMessage);
  subscribe('memlock:lock', onLock);
  subscribe('memlock:release', onRelease);
  try {
    const first = pages(view, 0);
    const group = lockMany([first, pages(view, 1, 2)], { label: 'channels' });
    t.same(
      taken.map((m) => [m.lock === group, m.pages, m.label]),
      [
        [true, 1, 'channels'],
        [true, 2, 'channels'],
      ],
    );
    unlock(first);
    group.release();
    t.same(
      released.map((m) => [m.lock === group, m.pages]),
      [
        [true, 1],
        [true, 2],
      ],
      'unlock(view) of a member, then the group: a message each',
    );
  } finally {
    unsubscribe('memlock:lock', onLock);
    unsubscribe('memlock:release', onRelease);
  }
  t.end();
});
