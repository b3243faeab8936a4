// The attribution rule alone (src/paging/stall-verdict.ts), on figures of the kinds
// measured in the monitor's own runs here.
// test-tier: quick
import fc from 'fast-check';
import t from 'tap';
import { stallVerdict, type StallFigures } from '../src/paging/stall-verdict';

const base: StallFigures = {
  delayMs: 200,
  windowMs: 210,
  majorFaults: 0,
  cpuMs: 0,
  runQueueMs: 0,
  blockedMs: 0,
  sleeps: 0,
  preemptions: 0,
  gcMs: 0,
};

t.test('page-ins that keep the thread asleep are paging', (t) => {
  const f = { ...base, majorFaults: 1921, cpuMs: 40, blockedMs: 150, runQueueMs: 20, sleeps: 1896, preemptions: 33 };
  t.equal(stallVerdict(f).verdict, 'paging');
  t.end();
});

t.test('on a busy machine the wait for a CPU after each page-in is paging, after preemptions cpu', (t) => {
  // 2,244 ms stall measured under load 16: 237 ms on a CPU, 753 ms queued, 1,263 ms asleep.
  const paged = {
    ...base,
    delayMs: 2244,
    windowMs: 2254,
    majorFaults: 1921,
    cpuMs: 237,
    runQueueMs: 753,
    blockedMs: 1263,
    sleeps: 1896,
    preemptions: 33,
  };
  t.equal(stallVerdict(paged).verdict, 'paging');
  // 658 ms: 41 page-ins, but mostly queued behind other work after preemption.
  const crowded = {
    ...base,
    delayMs: 658,
    windowMs: 668,
    majorFaults: 41,
    cpuMs: 137,
    runQueueMs: 484,
    blockedMs: 47,
    sleeps: 26,
    preemptions: 88,
  };
  t.equal(stallVerdict(crowded).verdict, 'cpu');
  t.end();
});

t.test('GC pauses are gc, even while the pause waits for a CPU', (t) => {
  const f = {
    ...base,
    delayMs: 916,
    windowMs: 926,
    cpuMs: 91,
    runQueueMs: 440,
    blockedMs: 394,
    sleeps: 14,
    preemptions: 33,
    gcMs: 917,
  };
  t.equal(stallVerdict(f).verdict, 'gc');
  t.end();
});

t.test('a busy loop is cpu; a major fault or two in it does not make it paging', (t) => {
  t.equal(stallVerdict({ ...base, cpuMs: 190, blockedMs: 5, preemptions: 3 }).verdict, 'cpu');
  t.equal(
    stallVerdict({ ...base, majorFaults: 2, cpuMs: 180, blockedMs: 15, sleeps: 2, preemptions: 3 }).verdict,
    'cpu',
  );
  t.end();
});

t.test('asleep without a major fault is unknown (I/O, a lock, Atomics.wait)', (t) => {
  const r = stallVerdict({ ...base, delayMs: 250, windowMs: 260, cpuMs: 1, blockedMs: 258, sleeps: 2 });
  t.equal(r.verdict, 'unknown');
  t.match(r.reason, /^250 ms stall/);
  t.end();
});

t.test('nothing covering half the stall is unknown', (t) => {
  t.equal(
    stallVerdict({ ...base, delayMs: 200, windowMs: 210, cpuMs: 60, gcMs: 60, blockedMs: 90 }).verdict,
    'unknown',
  );
  t.end();
});

// The times a reason lists side by side (not the stall itself, not "GC ... of it").
function listedMs(reason: string): number {
  const body = reason.slice(reason.indexOf('stall:')).replace(/GC [\d.]+ ms of it/g, '');
  return [...body.matchAll(/([\d.]+) ms/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

t.test("a reason's times add up to no more than the stall lasted", (t) => {
  // Measured: a 52 ms stall whose window (from the sample before it) spans 61 ms.
  const paging = { ...base, delayMs: 52, windowMs: 61, majorFaults: 40, blockedMs: 55, runQueueMs: 5, sleeps: 40 };
  t.equal(stallVerdict(paging).verdict, 'paging');
  t.ok(listedMs(stallVerdict(paging).reason) <= 52, stallVerdict(paging).reason);
  fc.assert(
    fc.property(
      fc.record({
        delayMs: fc.double({ min: 1, max: 5000, noNaN: true }),
        extraMs: fc.double({ min: 0, max: 50, noNaN: true }),
        majorFaults: fc.nat(3000),
        cpuMs: fc.double({ min: 0, max: 6000, noNaN: true }),
        runQueueMs: fc.double({ min: 0, max: 6000, noNaN: true }),
        blockedMs: fc.double({ min: 0, max: 6000, noNaN: true }),
        sleeps: fc.nat(3000),
        preemptions: fc.nat(3000),
        gcMs: fc.double({ min: 0, max: 6000, noNaN: true }),
      }),
      ({ extraMs, ...figures }) => {
        const { reason } = stallVerdict({ ...figures, windowMs: figures.delayMs + extraMs });
        return listedMs(reason) <= figures.delayMs + 1e-9;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('2000 random stalls');
  t.end();
});

const guest = { hypervisor: true, stealMs: 180, balloonPages: 0 };

t.test('in a guest, time gone with no run, no wait, no sleep and no fault is host', (t) => {
  // The vCPU taken away: the guest leaves stolen time out of the thread's run time.
  const stolen = { ...base, cpuMs: 20, blockedMs: 180, sleeps: 0, host: guest };
  const verdict = stallVerdict(stolen);
  t.equal(verdict.verdict, 'host');
  t.match(verdict.reason, /steal 180 ms/);
  t.end();
});

t.test('host is never said for CPU, GC, guest paging, a sleep, or on bare metal', (t) => {
  const stolen = { ...base, cpuMs: 20, blockedMs: 180, sleeps: 0 };
  t.equal(stallVerdict({ ...stolen, host: null }).verdict, 'unknown', 'bare metal: unknown, as before');
  t.equal(stallVerdict({ ...stolen, host: { ...guest, hypervisor: false } }).verdict, 'unknown');
  t.equal(stallVerdict({ ...stolen, sleeps: 1, host: guest }).verdict, 'unknown', 'it slept: blocking I/O, a lock');
  t.equal(stallVerdict({ ...stolen, majorFaults: 3, host: guest }).verdict, 'paging', 'a guest page-in is paging');
  t.equal(stallVerdict({ ...base, cpuMs: 150, runQueueMs: 40, preemptions: 9, host: guest }).verdict, 'cpu');
  t.equal(stallVerdict({ ...base, cpuMs: 190, gcMs: 170, host: guest }).verdict, 'gc');
  t.end();
});

t.test('many short sleeps with minor faults while the system migrates pages are migration', (t) => {
  const migration = { pages: 16190, compactionIsolated: 33000, numaPages: 0 };
  // Touching pages compaction is moving: a sleep and a minor fault per page.
  const f = { ...base, cpuMs: 30, blockedMs: 160, sleeps: 400, preemptions: 2, minorFaults: 410, migration };
  const v = stallVerdict(f);
  t.equal(v.verdict, 'migration', v.reason);
  t.match(v.reason, /compaction isolated 33000/);
  t.equal(
    stallVerdict({ ...f, migration: { ...migration, pages: 0 } }).verdict,
    'unknown',
    'no migration: not migration',
  );
  t.equal(stallVerdict({ ...f, minorFaults: 0 }).verdict, 'unknown', 'no minor faults: not a wait on a migrating page');
  t.equal(stallVerdict({ ...f, majorFaults: 300 }).verdict, 'paging', 'page-ins are paging');
  t.end();
});

t.test('one long sleep while the system migrates pages is not migration (Atomics.wait, a lock)', (t) => {
  const f = {
    ...base,
    blockedMs: 190,
    sleeps: 1,
    minorFaults: 3,
    migration: { pages: 5000, compactionIsolated: 9000, numaPages: 0 },
  };
  t.equal(stallVerdict(f).verdict, 'unknown');
  t.end();
});

t.test('a CPU stall while compaction runs stays cpu, and says the system migrated pages meanwhile', (t) => {
  const f = {
    ...base,
    cpuMs: 90,
    runQueueMs: 100,
    preemptions: 40,
    migration: { pages: 20000, compactionIsolated: 40000, numaPages: 0 },
  };
  const v = stallVerdict(f);
  t.equal(v.verdict, 'cpu');
  t.match(v.reason, /migrated 20000 pages \(compaction isolated 40000\) meanwhile/);
  t.end();
});
