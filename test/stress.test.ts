import t from 'tap';
import { runFixture } from './helpers/child';

const LOCKS = 2000;
const SECRETS = 100;

t.test('stress: main thread and 8 workers, shared and private views, secrets; everything back to 0', (t) => {
  // A fixed amount of work per thread, bounded only by runFixture's timeout:
  // a busy machine takes longer, and must pass all the same.
  const child = runFixture('stress.ts', { args: [String(LOCKS), String(SECRETS)] });
  t.equal(child.status, 0, `signal ${child.signal}: ${child.stderr.slice(0, 500)}`);
  const r = JSON.parse(child.stdout);
  t.equal(r.totals.length, 9, 'nine threads');
  r.totals.forEach((done: unknown, i: number) => {
    t.same(
      done,
      { locks: LOCKS, releases: LOCKS, secrets: SECRETS, frees: SECRETS },
      `thread ${i}: took and released ${LOCKS} locks, allocated and freed ${SECRETS} secrets`,
    );
  });
  t.ok(
    r.sharedCounts.every((c: number) => c === 0),
    'every count on the shared memory is 0',
  );
  t.equal(r.sharedKernel.lockedPages, 0, 'nothing of it locked per the kernel');
  t.equal(r.stats.lockedPages, 0, 'memlock holds no page');
  t.equal(r.stats.heldLocks, 0, 'and no lock record');
  t.equal(r.secrets.live, 0, 'no secret left');
  t.equal(r.secrets.mappedBytes, 0, 'no slab left mapped');
  t.equal(r.vmLck, 0, 'VmLck is 0');
  t.end();
});
