// test-tier: quick
import t from 'tap';
import { runFixture } from './helpers/child';

t.test('a view stays reachable while a lock on it is held', (t) => {
  const child = runFixture('reachability.ts', { node: ['--expose-gc'] });
  t.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout);
  t.ok(r.unlockedCollected, 'the control view was collected (GC really ran)');
  t.ok(r.lockedAlive, 'the locked view was not collected');
  t.ok(r.contentIntact, 'its memory is intact');
  t.ok(r.stillLocked >= 256, 'and still locked per the kernel');
  t.ok(r.lockedPages >= 256);
  t.end();
});
