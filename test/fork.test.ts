// The testing build (a fork from native code), loaded before src/.
import { NO_TESTING_BUILD } from './helpers/testing-build';
import t from 'tap';
import { lock, stats } from '../src/index';
import { runFixture } from './helpers/child';
import { hooks } from './helpers/hooks';
import { alignedPages, vmLockedBytes } from './helpers/kernel';

t.test('a child forked from native code starts with an empty table', { skip: NO_TESTING_BUILD }, (t) => {
  const view = alignedPages(16);
  const held = lock(view);
  t.equal(stats().lockedPages, 16, 'the parent holds 16 pages');
  t.ok(vmLockedBytes() >= 16 * 4096, 'the kernel agrees in the parent');
  const child = hooks().forkProbe();
  t.equal(child.vmLckKb, 0, 'the kernel passed no locks to the child');
  t.equal(child.lockedPages, 0, "the child's table is empty");
  t.equal(child.heldLocks, 0, 'and it holds no lock records');
  t.equal(stats().lockedPages, 16, "the parent's table is untouched");
  t.notOk(held.released);
  held.release();
  t.equal(vmLockedBytes(), 0);
  t.end();
});

t.test('fork while a worker allocates secrets, allocSecret being the first call: no deadlock', (t) => {
  // A hang is the failure: the child is killed after 90 s (it takes a few here).
  const child = runFixture('fork-secret-worker.ts', { timeout: 600_000 });
  t.equal(child.signal, null, 'the child was not killed: no fork deadlocked');
  t.equal(child.status, 0, child.stderr.slice(0, 300));
  const r = JSON.parse(child.stdout || '{}');
  t.equal(r.spawns, 200, 'every fork ran');
  t.equal(r.failed, 0, 'and every child exited 0');
  t.ok(r.rounds > 0, `the worker allocated and freed secrets meanwhile (${r.rounds} rounds)`);
  t.end();
});
