// monitorPaging() in child processes (test/fixtures/paging-monitor.ts): stall
// causes, no PSI, workers, watcher threads, systemd's protocol, bad input.
// Real memory pressure is test/paging-pressure.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { monitorPaging, pressure } from '../src/index';
import { hasSysResource } from '../src/paging/psi-trigger';
import { hasCommand, runFixture, type FixtureOptions } from './helpers/child';
import { hidePsi } from './helpers/psi';

function run(scenario: string, options: FixtureOptions = {}) {
  const child = runFixture('paging-monitor.ts', { ...options, args: [scenario] });
  if (child.status !== 0) throw new Error(`${scenario}: exit ${child.status} ${child.signal ?? ''}\n${child.stderr}`);
  return JSON.parse(child.stdout);
}

const psi = pressure();
const noPsi = psi.source === 'unavailable' ? `no PSI here: ${psi.reason}` : false;

t.test('bad options are argument errors, thrown before anything starts', (t) => {
  const cases: [unknown, string][] = [
    [5, 'ERR_INVALID_ARG_TYPE'],
    [null, 'ERR_INVALID_ARG_TYPE'],
    [{ stallThresholdMs: '50' }, 'ERR_INVALID_ARG_TYPE'],
    [{ stallThresholdMs: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ stallThresholdMs: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ stallThresholdMs: NaN }, 'ERR_OUT_OF_RANGE'],
    [{ stallThresholdMs: Infinity }, 'ERR_OUT_OF_RANGE'],
    [{ resolutionMs: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ resolutionMs: 5000 }, 'ERR_OUT_OF_RANGE'],
    [{ resolutionMs: '10' }, 'ERR_INVALID_ARG_TYPE'],
    [{ pressure: 'some' }, 'ERR_INVALID_ARG_TYPE'],
    [{ pressure: true }, 'ERR_INVALID_ARG_TYPE'],
    [{ pressure: null }, 'ERR_INVALID_ARG_TYPE'],
    [{ pressure: { kind: 'half' } }, 'ERR_INVALID_ARG_VALUE'],
    [{ pressure: { kind: 5 } }, 'ERR_INVALID_ARG_TYPE'],
    [{ pressure: { windowMs: 100 } }, 'ERR_OUT_OF_RANGE'],
    [{ pressure: { windowMs: 20_000 } }, 'ERR_OUT_OF_RANGE'],
    [{ pressure: { windowMs: '2000' } }, 'ERR_INVALID_ARG_TYPE'],
    [{ pressure: { thresholdMs: 0 } }, 'ERR_OUT_OF_RANGE'],
    [{ pressure: { thresholdMs: 3000, windowMs: 2000 } }, 'ERR_OUT_OF_RANGE'],
    [{ pressure: { thresholdMs: '100' } }, 'ERR_INVALID_ARG_TYPE'],
    [{ systemd: 'yes' }, 'ERR_INVALID_ARG_TYPE'],
    // Arrays are objects, but not options objects.
    [[], 'ERR_INVALID_ARG_TYPE'],
    [[{ stallThresholdMs: 50 }], 'ERR_INVALID_ARG_TYPE'],
    [{ pressure: [] }, 'ERR_INVALID_ARG_TYPE'],
    // Below the kernel's microsecond, or not a threshold at all.
    [{ pressure: { thresholdMs: 1e-300 } }, 'ERR_OUT_OF_RANGE'],
    [{ pressure: { thresholdMs: 0.0009 } }, 'ERR_OUT_OF_RANGE'],
    [{ pressure: { thresholdMs: -0 } }, 'ERR_OUT_OF_RANGE'],
    [{ pressure: { thresholdMs: NaN } }, 'ERR_OUT_OF_RANGE'],
    [{ stallThresholdMs: 1e-300 }, 'ERR_OUT_OF_RANGE'],
    [{ resolutionMs: 1e-300 }, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [options, code] of cases) {
    t.throws(
      () => monitorPaging(options as never),
      { code },
      `${JSON.stringify(options) ?? String(options)} -> ${code}`,
    );
  }
  t.end();
});

t.test('stalls are attributed: a busy loop is cpu, back-to-back full GCs are gc, a sleep is neither', (t) => {
  const r = run('causes', { node: ['--expose-gc'] });
  const [cpu] = r.result.cpu;
  const [gc] = r.result.gc;
  const [sleep] = r.result.sleep;
  t.ok(cpu && gc && sleep, 'each provoked stall was reported');
  t.equal(cpu.verdict, 'cpu', cpu.reason);
  t.ok(cpu.delayMs > cpu.thresholdMs && cpu.thresholdMs === 50, 'over the default 50 ms threshold');
  t.equal(gc.verdict, 'gc', gc.reason);
  t.ok(gc.gcCount >= 1 && gc.gcMs > 0, 'the GC pauses are in the figures');
  t.equal(gc.majorFaults, 0, 'no page was read from disk');
  // Asleep in Atomics.wait: no fault, no GC. On a crowded machine the wait
  // for a CPU after waking may outweigh the sleep, so cpu is allowed too.
  t.notOk(['paging', 'gc'].includes(sleep.verdict), sleep.reason);
  t.ok(sleep.blockedMs >= 200, 'asleep for the wait');
  for (const s of [cpu, gc, sleep]) {
    t.equal(s.threadId, 0);
    t.type(s.reason, 'string');
    t.ok(s.end - s.start >= s.delayMs, 'the window covers the stall');
    t.ok(Number.isInteger(s.minorFaults) && Number.isInteger(s.processMajorFaults), 'fault counts');
    // /proc/vmstat is there on every Linux: the system's migrations around the stall.
    t.ok(
      s.migration !== null && Number.isInteger(s.migration.pagesMigrated) && s.migration.pagesMigrated >= 0,
      'migrations counted',
    );
    t.ok(s.migration !== null && s.migration.sinceMs >= s.delayMs, 'counted from a reading before the stall');
  }
  t.end();
});

t.test('a monitor never keeps the process alive', (t) => {
  const child = runFixture('paging-monitor.ts', { args: ['exit'] });
  t.equal(child.status, 0, child.stderr);
  t.same(JSON.parse(child.stdout).started, true);
  t.end();
});

t.test('each monitor has one watcher thread, joined by close(); closing twice is harmless', { skip: noPsi }, (t) => {
  const r = run('threads');
  t.equal(r.before, 0);
  t.same(r.modes, ['psi', 'psi', 'event-loop-only'], 'pressure: false arms nothing');
  t.equal(r.during, 2, 'one thread per armed monitor');
  t.equal(r.after, 0, 'close() and dispose joined them all');
  t.same(r.closed, [true, true, true]);
  t.end();
});

t.test('workers each run their own monitor; a worker terminated with one running leaves no thread', (t) => {
  const r = run('workers');
  t.equal(r.results.length, 2);
  for (const w of r.results) {
    t.ok(w.stalls.length >= 1, `worker ${w.threadId} saw its own stall`);
    t.ok(
      w.stalls.every((s: { threadId: number }) => s.threadId === w.threadId),
      'attributed to that worker',
    );
  }
  const workerIds = r.results.map((w: { threadId: number }) => w.threadId);
  t.notOk(
    r.mainStalls.some((s: { threadId: number }) => workerIds.includes(s.threadId)),
    "the main thread's monitor does not see workers' stalls",
  );
  if (!noPsi) {
    t.equal(r.duringDoomed, r.threadsWithWorkersDone + 1, 'the doomed worker armed a watcher');
    t.equal(r.afterTerminate, r.threadsWithWorkersDone, "terminate() joined the worker's watcher thread");
  }
  t.end();
});

const hidden = hidePsi();

t.test(
  'without PSI: fault and event-loop watching only, said once',
  { skip: 'skip' in hidden ? hidden.skip : false },
  (t) => {
    if (!('prefix' in hidden)) return t.end();
    const r = run('no-psi', { prefix: hidden.prefix, env: { MEMORY_PRESSURE_WATCH: '' } });
    for (const m of [r.a, r.b]) {
      t.equal(m.mode, 'event-loop-only');
      t.type(m.reason, 'string');
      t.equal(m.trigger, null);
    }
    t.equal(
      r.warnings.filter((w: { code: string }) => w.code === 'MEMLOCK_NO_PSI').length,
      1,
      'one warning for two monitors',
    );
    t.equal(r.threads, 0, 'no watcher thread');
    t.ok(r.stalls.length >= 1, 'stalls are still reported');
    t.equal(r.stalls[0].pressure, null, 'with no PSI figures');
    t.equal(r.pressure.source, 'unavailable');
    t.type(r.pressure.reason, 'string');
    t.equal(r.pressure.some, null);
    t.ok(r.pressure.minorFaults > 0, 'faults are still read');
    t.end();
  },
);

t.test(
  'without CAP_SYS_RESOURCE windows are rounded up to whole 2 s, said once',
  { skip: noPsi || (hasSysResource() ? 'this process has CAP_SYS_RESOURCE' : false) },
  (t) => {
    const r = run('rounded', { env: { MEMORY_PRESSURE_WATCH: '' } });
    t.match(
      r.a.trigger,
      { windowMs: 2000, thresholdMs: 200, rounded: true, requested: { windowMs: 1000, thresholdMs: 100 } },
      'same share of the window',
    );
    t.match(r.b.trigger, { windowMs: 4000, thresholdMs: 400, rounded: true });
    t.equal(r.warnings.filter((w: { code: string }) => w.code === 'MEMLOCK_PSI_WINDOW_ROUNDED').length, 1);
    t.end();
  },
);

t.test("systemd's $MEMORY_PRESSURE_WATCH naming a pressure file, or /dev/null", { skip: noPsi }, (t) => {
  const write = (text: string) => Buffer.from(`${text}\0`).toString('base64');
  const file = run('systemd-file', {
    env: { MEMORY_PRESSURE_WATCH: psi.path!, MEMORY_PRESSURE_WRITE: write('some 150000 2000000') },
  });
  t.equal(file.summary.trigger.text, 'some 150000 2000000', "the service manager's trigger, as written");
  t.equal(file.summary.systemd, true);
  t.equal(file.summary.path, psi.path);
  t.equal(file.explicit.trigger.text, 'some 50000 2000000', 'explicit options win over its threshold');
  t.equal(file.explicit.systemd, true, '... on its file');
  t.equal(file.ignoring.systemd, false, 'systemd: false ignores it');

  const off = run('systemd-file', { env: { MEMORY_PRESSURE_WATCH: '/dev/null' } });
  t.equal(off.summary.mode, 'event-loop-only');
  t.match(off.summary.reason, /MEMORY_PRESSURE_WATCH/);
  t.same(off.warnings, [], 'turned off on purpose: no warning');
  t.equal(off.ignoring.mode, 'psi');

  t.end();
});

t.test(
  "systemd's $MEMORY_PRESSURE_WATCH naming a FIFO: a write into it is a pressure event",
  { skip: hasCommand('mkfifo') ? false : 'no mkfifo' },
  (t) => {
    const write = (text: string) => Buffer.from(`${text}\0`).toString('base64');
    const dir = mkdtempSync(path.join(tmpdir(), 'memlock-fifo-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const fifo = path.join(dir, 'pressure');
    spawnSync('mkfifo', [fifo]);
    const r = run('systemd-fifo', {
      env: { MEMORY_PRESSURE_WATCH: fifo, MEMORY_PRESSURE_WRITE: write('some 200000 2000000') },
    });
    t.equal(r.summary.source, 'systemd');
    t.equal(r.summary.trigger.thresholdMs, 200);
    t.equal(r.events.length, 1, 'a write into the FIFO is one pressure event');
    t.match(r.events[0], { source: 'systemd', path: fifo, kind: 'some', thresholdMs: 200, windowMs: 2000 });
    t.end();
  },
);

t.test(
  "systemd's $MEMORY_PRESSURE_WATCH naming an AF_UNIX socket: the trigger is written to it, data back is an event",
  (t) => {
    const r = run('systemd-socket');
    t.equal(r.summary.source, 'systemd');
    t.equal(r.summary.systemd, true);
    t.same(r.received, ['some 200000 2000000\0'], "the service manager's trigger, as written, NUL included");
    t.equal(r.events.length, 1);
    t.match(r.events[0], { source: 'systemd', kind: 'some', thresholdMs: 200, windowMs: 2000 });
    t.end();
  },
);
