// doctor's hypervisor check is stable: the same status on every run on one
// machine (it rests on the hypervisor flag, balloon devices and counters and
// steal since boot; the first-touch measurement is shown, never decisive).
// And the cgroup events check reports the kernel's counts.
// test-tier: quick
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { hypervisorCheck } from '../src/cli/container';
import { cgroupEventsCheck, cgroupEventsStatus } from '../src/cli/cgroup-events';
import { balloonDevices, hypervisorFlag } from '../src/paging/host-signals';
import { memoryCgroup } from '../src/paging/cgroup';

t.test('hypervisor check: one status over 11 runs, and on a VM it says what mlock does not cover', (t) => {
  const statuses = new Set<string>();
  let last = hypervisorCheck(Infinity);
  for (let run = 0; run < 11; run += 1) {
    last = hypervisorCheck(Infinity);
    statuses.add(last.status);
  }
  t.equal(statuses.size, 1, `stable: ${[...statuses].join(', ')}`);
  if (hypervisorFlag()) {
    t.match(last.finding, /locking pins guest memory/);
    t.match(last.finding, /does not stop the host/);
    t.match(last.finding, /first read of each page right after lock\(\)/, 'the measurement is shown');
    if (balloonDevices().length > 0) {
      t.equal(last.status, 'warn', 'a balloon device is evidence the host can take memory back');
      t.ok(last.remedy.length > 0);
    }
  }
  t.end();
});

t.test('cgroup events check: the counts are the kernel files', (t) => {
  const check = cgroupEventsCheck();
  const cgroup = memoryCgroup('self');
  if (!cgroup) {
    t.equal(check.status, 'pass');
    return t.end();
  }
  const status = cgroupEventsStatus('self')!;
  if (cgroup.version === 1) {
    const failcnt = Number(readFileSync(path.join(cgroup.dir, 'memory.failcnt'), 'latin1'));
    t.equal(status.counts['failcnt'], failcnt);
    t.match(check.finding, new RegExp(`failcnt ${failcnt}`));
    t.match(check.finding, /eventfds|every second/);
    t.equal(check.status, failcnt > 0 ? 'warn' : status.counts['oom_kill']! > 0 ? 'warn' : 'pass');
  } else {
    t.match(check.finding, /inotify/);
  }
  t.end();
});
