// pressure(): the memory PSI that applies to this process, with its faults,
// VmLck and VmSwap, checked against the kernel's files.
// test-exclusive: a memory cgroup
import { readFileSync } from 'node:fs';
import t from 'tap';
import { lock, pageSize, pressure } from '../src/index';
import { parsePressure } from '../src/paging/pressure';
import { intoCgroups, makeTestCgroup, planCgroups } from './helpers/cgroup';
import { runFixture } from './helpers/child';
import { alignedPages } from './helpers/kernel';

t.test('a snapshot of the pressure that applies here, and of this process', (t) => {
  const before = pressure();
  t.ok(['cgroup', 'system', 'unavailable'].includes(before.source));
  if (before.source === 'unavailable') {
    t.type(before.reason, 'string');
    t.equal(before.some, null);
  } else {
    t.equal(before.reason, null);
    t.type(before.path, 'string');
    for (const line of [before.some!, before.full!]) {
      t.ok(Number.isInteger(line.totalUs) && line.totalUs >= 0, 'total in microseconds');
      for (const avg of [line.avg10, line.avg60, line.avg300]) t.ok(avg >= 0 && avg <= 100, 'averages are percentages');
    }
    const again = parsePressure(readFileSync(before.path!, 'latin1'));
    t.ok(again.some!.totalUs >= before.some!.totalUs, 'totals only grow');
  }
  const usage = process.resourceUsage();
  t.ok(before.minorFaults > 0 && before.minorFaults <= usage.minorPageFault, "this process's minor faults");
  t.ok(before.majorFaults <= usage.majorPageFault, 'and major faults');

  const held = lock(alignedPages(64));
  const during = pressure();
  const status = readFileSync('/proc/self/status', 'latin1');
  t.equal(during.vmLckBytes, Number(/^VmLck:\s+(\d+) kB$/m.exec(status)![1]) * 1024, "VmLck, the kernel's");
  t.ok(during.vmLckBytes >= 64 * pageSize);
  t.equal(during.vmSwapBytes, Number(/^VmSwap:\s+(\d+) kB$/m.exec(status)![1]) * 1024, 'VmSwap');
  held.release();
  t.end();
});

const plan = planCgroups();
const unifiedSkip =
  'reason' in plan
    ? plan.reason
    : plan.unifiedParent === undefined && plan.version === 1
      ? 'no writable cgroup v2 hierarchy'
      : false;

t.test(
  "in a cgroup of its own, a process reads its cgroup's memory.pressure and arms its trigger there",
  { skip: unifiedSkip },
  (t) => {
    if ('reason' in plan) return t.end();
    const group = makeTestCgroup(plan, 'snapshot');
    t.teardown(() => {
      group.remove();
    });
    const dir = group.unified ?? group.memory.dir;
    const child = runFixture('paging-monitor.ts', {
      args: ['snapshot'],
      prefix: intoCgroups(group),
      env: { MEMORY_PRESSURE_WATCH: '' },
    });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.equal(r.pressure.source, 'cgroup');
    t.equal(r.pressure.path, `${dir}/memory.pressure`);
    t.equal(r.summary.source, 'cgroup', 'the trigger is on the cgroup too');
    t.equal(r.summary.path, `${dir}/memory.pressure`);
    t.same(group.remove(), [], 'removed');
    t.end();
  },
);
