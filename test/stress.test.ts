import t from 'tap';
import { runFixture } from './helpers/child';

t.test('stress: main thread and 8 workers, shared and private views, secrets; everything back to 0', (t) => {
  const child = runFixture('stress.ts', { args: ['3000'] });
  t.equal(child.status, 0, `signal ${child.signal}: ${child.stderr.slice(0, 500)}`);
  const r = JSON.parse(child.stdout);
  t.equal(r.totals.length, 9, 'nine threads');
  t.ok(r.totals.every((x: { locks: number }) => x.locks > 1000), `each took over a thousand locks (${r.totals.map((x: { locks: number }) => x.locks).join(', ')})`);
  t.ok(r.totals.every((x: { secrets: number }) => x.secrets > 50), 'and allocated secrets');
  t.ok(r.sharedCounts.every((c: number) => c === 0), 'every count on the shared memory is 0');
  t.equal(r.sharedKernel.lockedPages, 0, 'nothing of it locked per the kernel');
  t.equal(r.stats.lockedPages, 0, 'memlock holds no page');
  t.equal(r.stats.heldLocks, 0, 'and no lock record');
  t.equal(r.secrets.live, 0, 'no secret left');
  t.equal(r.secrets.mappedBytes, 0, 'no slab left mapped');
  t.equal(r.vmLck, 0, 'VmLck is 0');
  t.end();
});
