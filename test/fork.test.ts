import t from 'tap';
import { binding } from '../src/binding';
import { lock, pageSize, stats } from '../src/index';
import { alignedPages, vmLockedBytes } from './helpers/kernel';

t.test('a child forked from native code starts with an empty table', (t) => {
  const view = alignedPages(16);
  const held = lock(view);
  t.equal(stats().lockedPages, 16, 'the parent holds 16 pages');
  t.ok(vmLockedBytes() >= 16 * pageSize, 'the kernel agrees in the parent');
  const child = binding.forkProbe();
  t.equal(child.vmLckKb, 0, 'the kernel passed no locks to the child');
  t.equal(child.lockedPages, 0, "the child's table is empty");
  t.equal(child.heldLocks, 0, 'and it holds no lock records');
  t.equal(stats().lockedPages, 16, "the parent's table is untouched");
  t.notOk(held.released);
  held.release();
  t.equal(vmLockedBytes(), 0);
  t.end();
});
