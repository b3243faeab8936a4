// The paging monitor's cgroup memory events on a real cgroup v1 memory
// controller (this machine has no v2 one: test/cgroup-events-v2.test.ts runs
// the v2 files through the same code on a copy). A child in a memory cgroup
// of its own fills its page cache far past its limit: the monitor must report
// the cgroup's pressure-level events (eventfds registered in
// cgroup.event_control) and its limit hits (memory.failcnt), and its counts
// must be the kernel's. Skips, with the reason, where no memory cgroup can be
// made; removes every cgroup it makes, also when it fails.
// test-exclusive: cgroup
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { CgroupMemoryEvent, CgroupMemoryStatus } from '../src/index';
import { intoCgroups, makeTestCgroup, planCgroups } from './helpers/cgroup';
import { runFixture, UNDER_ASAN } from './helpers/child';
import { makeDataFile } from './helpers/file-map';
import { NO_TESTING_BUILD } from './helpers/testing-build';

const MiB = 1 << 20;
const plan = planCgroups();
const skip = UNDER_ASAN
  ? "the sanitizer's shadow memory does not fit a tight cgroup"
  : 'reason' in plan
    ? plan.reason
    : plan.version !== 1
      ? 'this test drives a cgroup v1 memory controller; v2 files are tested on a copy (cgroup-events-v2.test.ts)'
      : NO_TESTING_BUILD;

interface Report {
  dir: string;
  before: CgroupMemoryStatus | null;
  after: CgroupMemoryStatus | null;
  kernel: { failcnt: number; oomControl: string };
  events: CgroupMemoryEvent[];
  unavailable: string | null;
  stats: { cgroupEvents: number };
}

t.test('cgroup v1: pressure-level and limit events of the monitor match the kernel', { skip }, (t) => {
  if ('reason' in plan) return t.end();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'memlock-cgroup-events-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const dataFile = path.join(dataDir, 'data');
  makeDataFile(dataFile, 192 * MiB);
  const group = makeTestCgroup(plan, 'events');
  t.teardown(() => {
    const left = group.remove();
    if (left.length > 0) t.fail(`cgroups left behind: ${left.join(', ')}`);
  });
  const child = runFixture('cgroup-events.ts', {
    prefix: intoCgroups(group),
    env: {
      MEMLOCK_CGROUP_EVENTS_FIXTURE: JSON.stringify({
        limitFile: group.memory.limitFile,
        usageFile: group.memory.usageFile,
        headroomBytes: 64 * MiB,
        dataFile,
        dataBytes: 192 * MiB,
        passes: 2,
      }),
    },
  });
  t.equal(child.status, 0, `child exits cleanly ${child.signal ?? ''} ${child.stderr}`);
  const report = JSON.parse(child.stdout || '{}') as Report;
  t.equal(report.dir, group.memory.dir, "the monitor watched the child's own cgroup");
  t.equal(report.unavailable, null, 'the watch is up');
  const after = report.after!;
  t.comment(`counts: ${JSON.stringify(after.counts)}; ${report.events.length} events`);
  t.equal(after.version, 1);
  t.equal(after.via, 'eventfd', 'notified by eventfds, not polled');
  t.same(after.problems, [], 'every registration was accepted');

  // The limit: charges refused at it, as the monitor counted them and as the kernel's file says.
  const failcnt = Number(readFileSync(path.join(group.memory.dir, 'memory.failcnt'), 'latin1'));
  t.ok(failcnt > 0, `the cgroup hit its limit (memory.failcnt ${failcnt})`);
  t.equal(after.counts['failcnt'], failcnt, 'failcnt is the kernel memory.failcnt');
  t.equal(report.kernel.failcnt, failcnt, 'and it did not move after the limit was lifted');
  const oomKill = /^oom_kill (\d+)$/m.exec(readFileSync(path.join(group.memory.dir, 'memory.oom_control'), 'latin1'));
  t.equal(after.counts['oom_kill'], Number(oomKill?.[1]), 'oom_kill is memory.oom_control oom_kill');
  t.equal(after.underOom, false);

  // Pressure levels: each eventfd counts events at or above its level.
  const low = after.counts['pressure_low']!;
  t.ok(low > 0, `reclaim raised pressure-level events (low: ${low})`);
  t.ok(
    low >= after.counts['pressure_medium']! && after.counts['pressure_medium']! >= after.counts['pressure_critical']!,
  );
  const pressureEvents = report.events.filter((e) => e.cause.startsWith('memory.pressure_level'));
  t.ok(pressureEvents.length > 0, 'pressure-level events were emitted');
  t.ok(
    pressureEvents.every((e) => e.via === 'eventfd' && e.version === 1),
    'each came from an eventfd',
  );
  // The events' increments add up to the counts (from the monitor's start, when every signal count was 0).
  const summed = (name: string) => report.events.reduce((sum, e) => sum + (e.changed[name] ?? 0), 0);
  t.equal(summed('pressure_low'), low, 'the pressure_low increments add up to the count');
  // failcnt is read on each wake: hits after the last one are in the counts, not in an event.
  const grown = failcnt - report.before!.counts['failcnt']!;
  t.ok(
    summed('failcnt') > 0 && summed('failcnt') <= grown,
    `the failcnt increments (${summed('failcnt')}) are the growth of memory.failcnt (${grown}) seen at the wakes`,
  );
  t.ok(
    report.events.some((e) => (e.changed['failcnt'] ?? 0) > 0),
    'limit hits were reported as they happened',
  );
  t.equal(report.stats.cgroupEvents, report.events.length);
  t.end();
});
