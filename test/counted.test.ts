// test-tier: quick
import t from 'tap';
import { binding } from '../src/binding';
import { lock, lockCounts, pageSize, stats, unlock } from '../src/index';
import { alignedPages, kernelLockState } from './helpers/kernel';

t.test('two Buffers from one pool page: the page stays locked until both are released', (t) => {
  // Buffer.allocUnsafe slices share an 8 KiB pool: find two on one page.
  const pageOf = (x: Buffer) => Math.floor(binding.addressOf(x) / pageSize);
  const samePage = (x: Buffer, y: Buffer) => x.buffer === y.buffer && pageOf(x) === pageOf(y);
  let a = Buffer.allocUnsafe(64);
  let b = Buffer.allocUnsafe(64);
  while (!samePage(a, b)) {
    a = Buffer.allocUnsafe(64);
    b = Buffer.allocUnsafe(64);
  }
  t.not(a.byteOffset, b.byteOffset, 'two distinct Buffers');
  const la = lock(a);
  const lb = lock(b);
  // The page both slices start on (the pool itself need not be page-aligned).
  const page = a.subarray(0, 1);
  t.equal(lockCounts(page)[0], 2, 'the shared page is counted twice');
  la.release();
  t.ok(la.released);
  t.equal(kernelLockState(b).lockedPages, kernelLockState(b).totalPages, 'b is still locked per the kernel');
  t.equal(kernelLockState(page).lockedPages, 1, 'the shared page is still VM_LOCKED');
  lb.release();
  t.equal(kernelLockState(a).lockedPages, 0, 'a is unlocked per the kernel');
  t.equal(kernelLockState(b).lockedPages, 0, 'b is unlocked per the kernel');
  t.equal(lockCounts(page)[0], 0, 'the shared page count is back to 0');
  t.end();
});

t.test('nested locks of one view need as many releases', (t) => {
  const view = alignedPages(3);
  const locks = Array.from({ length: 5 }, () => lock(view));
  t.same(Array.from(lockCounts(view)), [5, 5, 5]);
  for (let i = 0; i < 4; i += 1) {
    locks[i]!.release();
    t.equal(kernelLockState(view).lockedPages, 3, `still locked after ${i + 1} release(s)`);
    t.same(Array.from(lockCounts(view)), [4 - i, 4 - i, 4 - i]);
  }
  t.ok(kernelLockState(view).lockedBytes >= 3 * pageSize, 'smaps Locked: covers the range');
  locks[4]!.release();
  t.equal(kernelLockState(view).lockedPages, 0, 'unlocked after the fifth release');
  t.equal(kernelLockState(view).lockedBytes, 0, 'smaps Locked: is 0 for the range');
  t.end();
});

t.test('release is idempotent, and dispose releases', (t) => {
  const view = alignedPages(1);
  const first = lock(view);
  const second = lock(view);
  second.release();
  second.release();
  second[Symbol.dispose]();
  t.same(Array.from(lockCounts(view)), [1], 'a second release does not take another count');
  {
    using scoped = lock(view);
    t.equal(scoped.pages, 1);
    t.same(Array.from(lockCounts(view)), [2]);
  }
  t.same(Array.from(lockCounts(view)), [1], 'leaving the using block released');
  first.release();
  t.equal(kernelLockState(view).lockedPages, 0);
  t.end();
});

t.test('unlock(view) releases the most recent lock on exactly those bytes', (t) => {
  const view = alignedPages(2);
  const older = lock(view);
  const newer = lock(view);
  const firstPage = view.subarray(0, pageSize);
  t.throws(() => unlock(firstPage), { code: 'ERR_MEMLOCK_NOT_LOCKED' }, 'other bytes: nothing to unlock');
  t.same(Array.from(lockCounts(view)), [2, 2], 'a refused unlock changes nothing');
  unlock(view);
  t.ok(newer.released, 'the newer lock was released');
  t.notOk(older.released, 'the older lock is still held');
  unlock(view);
  t.ok(older.released);
  t.throws(() => unlock(view), { code: 'ERR_MEMLOCK_NOT_LOCKED' });
  t.equal(kernelLockState(view).lockedPages, 0);
  t.end();
});

t.test('a view starting and ending mid-page covers whole pages', (t) => {
  const backing = alignedPages(4);
  const view = new DataView(backing.buffer, backing.byteOffset + 100, pageSize * 2);
  const held = lock(view);
  t.equal(held.pages, 3, 'spans three pages');
  t.equal(held.bytes, 3 * pageSize, 'bytes are page-rounded');
  t.same(Array.from(lockCounts(backing)), [1, 1, 1, 0]);
  t.equal(kernelLockState(backing.subarray(0, 3 * pageSize)).lockedPages, 3);
  t.equal(kernelLockState(backing.subarray(3 * pageSize)).lockedPages, 0, 'the fourth page is not locked');
  held.release();
  t.end();
});

t.test('every kind of view locks the bytes it covers', (t) => {
  const backing = alignedPages(2);
  const { buffer, byteOffset } = backing;
  const views = {
    Buffer: Buffer.from(buffer, byteOffset, pageSize),
    Int8Array: new Int8Array(buffer, byteOffset, pageSize),
    Uint8ClampedArray: new Uint8ClampedArray(buffer, byteOffset, pageSize),
    Int16Array: new Int16Array(buffer, byteOffset, pageSize / 2),
    Uint16Array: new Uint16Array(buffer, byteOffset, pageSize / 2),
    Int32Array: new Int32Array(buffer, byteOffset, pageSize / 4),
    Uint32Array: new Uint32Array(buffer, byteOffset, pageSize / 4),
    Float32Array: new Float32Array(buffer, byteOffset, pageSize / 4),
    Float64Array: new Float64Array(buffer, byteOffset, pageSize / 8),
    BigInt64Array: new BigInt64Array(buffer, byteOffset, pageSize / 8),
    BigUint64Array: new BigUint64Array(buffer, byteOffset, pageSize / 8),
    DataView: new DataView(buffer, byteOffset, pageSize),
  };
  for (const [kind, view] of Object.entries(views)) {
    const held = lock(view);
    t.same(Array.from(lockCounts(backing)), [1, 0], `${kind}: exactly its page`);
    t.equal(kernelLockState(backing).lockedPages, 1, `${kind}: the kernel agrees`);
    held.release();
  }
  const arrayBuffer = new ArrayBuffer(3 * pageSize);
  const shared = new SharedArrayBuffer(3 * pageSize);
  for (const [kind, whole] of Object.entries({ ArrayBuffer: arrayBuffer, SharedArrayBuffer: shared })) {
    const held = lock(whole);
    const all = new Uint8Array(whole);
    t.ok(held.pages >= 3 && held.pages <= 4, `${kind}: covers its pages`);
    t.equal(kernelLockState(all).lockedPages, held.pages, `${kind}: the kernel agrees`);
    unlock(whole);
    t.equal(kernelLockState(all).lockedPages, 0, `${kind}: unlocked`);
  }
  t.equal(stats().lockedPages, 0);
  t.end();
});

t.test('stats follow locks', (t) => {
  const before = stats();
  const view = alignedPages(8);
  const held = lock(view);
  const during = stats();
  t.equal(during.lockedPages - before.lockedPages, 8);
  t.equal(during.lockedBytes - before.lockedBytes, 8 * pageSize);
  t.equal(during.heldLocks - before.heldLocks, 1);
  t.equal(during.pageSize, pageSize);
  held.release();
  t.same(stats(), before);
  t.end();
});

t.test('a released handle never touches a later lock in its reused slot', (t) => {
  const view = alignedPages(1);
  const first = lock(view);
  first.release();
  const second = lock(view); // takes the record slot `first` had
  first.release();
  t.notOk(second.released, 'releasing the stale handle again left the new lock alone');
  t.same(Array.from(lockCounts(view)), [1]);
  second.release();
  t.end();
});

t.test('releases in any order, mixed with unlock(view), keep the newest-first order', (t) => {
  const view = alignedPages(2);
  const locks = Array.from({ length: 200 }, () => lock(view));
  for (let i = 0; i < 200; i += 2) locks[i]!.release(); // every other one, oldest first
  t.same(Array.from(lockCounts(view)), [100, 100]);
  unlock(view);
  t.ok(locks[199]!.released, 'unlock took the newest');
  locks[197]!.release();
  unlock(view);
  t.ok(locks[195]!.released, 'then the newest still held');
  t.notOk(locks[193]!.released);
  for (const held of locks) held.release();
  t.same(Array.from(lockCounts(view)), [0, 0]);
  t.equal(kernelLockState(view).lockedPages, 0);
  t.throws(() => unlock(view), { code: 'ERR_MEMLOCK_NOT_LOCKED' });
  t.end();
});
