import t from 'tap';
import { runFixture } from './helpers/child';

t.test('main thread and workers on the same SharedArrayBuffer pages end with every count 0', (t) => {
  const child = runFixture('workers.ts');
  t.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout);
  t.equal(r.taken.length, 5, 'five threads took locks');
  t.ok(
    r.taken.every((n: number) => n > 10000),
    'each took over ten thousand',
  );
  t.ok(
    r.counts.every((c: number) => c === 0),
    'every count is 0',
  );
  t.equal(r.kernel.lockedPages, 0, 'the kernel has nothing locked in the range');
  t.equal(r.kernel.lockedBytes, 0, 'smaps Locked: is 0');
  t.equal(r.stats.lockedPages, 0);
  t.equal(r.stats.heldLocks, 0);
  t.end();
});

t.test("a terminated worker's locks and emptied slabs are released with it; the table is shared", (t) => {
  const child = runFixture('worker-exit.ts');
  t.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout);
  t.same(r.during.counts, [3, 2, 2, 2, 2, 2, 2, 2], "the worker's locks count in the one table");
  t.equal(r.during.kernel.lockedPages, 8);
  t.same(r.after.counts, [1, 0, 0, 0, 0, 0, 0, 0], "after terminate only the main thread's lock is left");
  t.equal(r.after.kernel.lockedPages, 1, 'and only its page is locked per the kernel');
  t.match(r.during.secrets, { live: 0, slabs: 1 }, 'the worker freed its secret; its emptied slab was still mapped');
  t.match(r.after.secrets, { live: 0, slabs: 0, mappedBytes: 0 }, 'the emptied slab went with the worker');
  t.equal(r.end.lockedPages, 0);
  t.end();
});
