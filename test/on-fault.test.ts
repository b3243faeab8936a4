// test-tier: quick
import t from 'tap';
import { lock, lockCounts, pageSize, residency } from '../src/index';
import { kernelLockState, noMlock2 } from './helpers/kernel';

// ArrayBuffers above glibc's largest mmap threshold (32 MiB) come from a
// fresh mmap: not resident until touched, so residency (mincore) shows what a
// lock faulted in. Smaller ones may reuse resident heap memory.
const FRESH = 64 << 20;
function untouched(bytes = FRESH): Uint8Array {
  return new Uint8Array(new ArrayBuffer(bytes));
}

t.test('residency reports mincore: untouched, then faulted in by a plain lock', (t) => {
  const view = untouched();
  const before = residency(view);
  t.ok(before.totalPages >= FRESH / pageSize && before.totalPages <= FRESH / pageSize + 1, 'covers its pages');
  t.ok(before.residentPages < before.totalPages / 4, `mostly not resident yet (${before.residentPages})`);
  const held = lock(view);
  t.same(
    residency(view),
    { residentPages: before.totalPages, totalPages: before.totalPages },
    'all resident after mlock',
  );
  t.equal(kernelLockState(view).onFaultPages, 0, 'a plain lock is not on-fault');
  held.release();
  t.end();
});

t.test('onFault locks pages as they are touched, not before', { skip: noMlock2() }, (t) => {
  const view = untouched();
  const held = lock(view, { onFault: true });
  t.equal(held.onFault, true);
  const kernel = kernelLockState(view);
  t.equal(kernel.lockedPages, kernel.totalPages, 'VM_LOCKED per the kernel');
  t.equal(kernel.onFaultPages, kernel.totalPages, 'with VM_LOCKONFAULT (VmFlags lf)');
  t.ok(residency(view).residentPages < kernel.totalPages / 4, 'nothing faulted in by the lock');
  view.fill(1, 0, 4 << 20);
  const touched = residency(view).residentPages;
  t.ok(touched >= 1024 && touched < kernel.totalPages / 2, `touched pages became resident (${touched})`);
  t.ok(kernelLockState(view).lockedBytes >= 4 << 20, 'and count in smaps Locked:');
  held.release();
  t.equal(kernelLockState(view).lockedPages, 0);
  t.end();
});

t.test(
  'a plain lock over pages held on fault faults them in; the pages stay locked after it',
  { skip: noMlock2() },
  (t) => {
    const view = untouched();
    const onFault = lock(view, { onFault: true });
    const plain = lock(view);
    const total = residency(view).totalPages;
    t.equal(residency(view).residentPages, total, 'all resident: the plain lock kept its promise');
    t.equal(kernelLockState(view).onFaultPages, 0, 'no longer on-fault per the kernel');
    plain.release();
    t.equal(kernelLockState(view).lockedPages, total, 'still locked by the on-fault lock');
    t.ok(lockCounts(view).every((c) => c === 1));
    onFault.release();
    t.equal(kernelLockState(view).lockedPages, 0);
    t.end();
  },
);

t.test('an on-fault lock over pages already fully locked changes nothing in the kernel', { skip: noMlock2() }, (t) => {
  const view = untouched(2 * pageSize * 64);
  const plain = lock(view);
  const onFault = lock(view, { onFault: true });
  t.equal(kernelLockState(view).onFaultPages, 0, 'still fully locked');
  plain.release();
  t.equal(kernelLockState(view).onFaultPages, 0, 'and stays so while the on-fault lock holds it');
  onFault.release();
  t.equal(kernelLockState(view).lockedPages, 0);
  t.end();
});

t.test('an ArrayBuffer over 4 GiB (past the largest typed array in Node 20) locks', { skip: noMlock2() }, (t) => {
  const huge = new ArrayBuffer(5 * 2 ** 30);
  const held = lock(huge, { onFault: true }); // on fault: nothing is faulted in
  t.ok(held.pages >= (5 * 2 ** 30) / pageSize, `covers all of it (${held.pages} pages)`);
  const kernel = kernelLockState(new DataView(huge));
  t.equal(kernel.lockedPages, kernel.totalPages, 'locked per the kernel');
  held.release();
  t.equal(kernelLockState(new DataView(huge)).lockedPages, 0);
  t.end();
});
