// doctor's container-memory check in a real memory cgroup with a limit:
// what is locked plus --size against the limit (locked pages are charged to
// the cgroup and never reclaimed). Removes the cgroup it makes.
// test-exclusive: cgroup
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { intoCgroups, makeTestCgroup, planCgroups } from './helpers/cgroup';

const MiB = 1 << 20;
const plan = planCgroups();
const cli = path.join(__dirname, '..', 'lib', 'cli', 'index.js');
const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;

t.test('locked + --size against the cgroup limit', { skip: 'reason' in plan ? plan.reason : false }, (t) => {
  if ('reason' in plan) return t.end();
  const group = makeTestCgroup(plan, 'doctor');
  t.teardown(() => {
    const left = group.remove();
    if (left.length > 0) t.fail(`cgroups left behind: ${left.join(', ')}`);
  });
  writeFileSync(group.memory.limitFile, String(256 * MiB));
  const doctor = (size: number) => {
    const r = spawnSync(
      'env',
      ['-u', 'NODE_OPTIONS', ...intoCgroups(group), process.execPath, cli, 'doctor', '--json', '--size', String(size)],
      {
        encoding: 'utf8',
        env,
      },
    );
    const report = JSON.parse(r.stdout) as {
      checks: { id: string; status: string; finding: string; remedy: string[] }[];
    };
    return report.checks.find((c) => c.id === 'container-memory')!;
  };
  const over = doctor(300);
  t.equal(over.status, 'fail', over.finding);
  t.match(over.finding, /limit 256 MiB/);
  t.ok(
    over.remedy.some((r) => /resources\.limits\.memory/.test(r)),
    'the Kubernetes remedy',
  );
  const near = doctor(220);
  t.equal(near.status, 'warn', near.finding);
  const fine = doctor(8);
  t.equal(fine.status, 'pass', fine.finding);
  t.end();
});
