// memlock status's pressure and faults, and memlock doctor's container
// checks, run as a user runs the CLI and checked against the kernel.
// test-exclusive: a memory cgroup
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { psiCheck } from '../src/cli/container';
import { pressure } from '../src/index';
import { procStatus } from '../src/proc';
import { intoCgroups, makeTestCgroup, planCgroups } from './helpers/cgroup';
import { hasCommand } from './helpers/child';
import { AS_NOBODY, readableInstall, type ReadableInstall } from './helpers/other-user';
import { hidePsi } from './helpers/psi';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'index.js');
const MiB = 1 << 20;
const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;
const PLAIN = ['env', '-u', 'NODE_OPTIONS', '-u', 'MEMORY_PRESSURE_WATCH'];

// `install`: a copy another user may read (test/helpers/other-user.ts).
function runCli(args: string[], prefix: string[] = [], install?: ReadableInstall) {
  const command = [...PLAIN, ...prefix, install?.node ?? process.execPath, install?.cli ?? cli, ...args];
  const result = spawnSync(command[0]!, command.slice(1), {
    cwd: install?.root ?? root,
    encoding: 'utf8',
    env: { ...env, ...install?.env },
    timeout: 120_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

interface Check {
  id: string;
  status: string;
  finding: string;
  remedy: string[];
}

const byId = (report: { checks: Check[] }, id: string): Check => report.checks.find((c) => c.id === id)!;
const psi = pressure();

t.test('status reports the pressure and faults of the process, and rates with --watch', (t) => {
  const run = runCli(['status', '--json', '--watch', '0.3', '--count', '2']);
  t.equal(run.status, 0, run.stderr);
  const [first, second] = run.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.equal(first.pressure.source, psi.source, 'the same source as pressure() here');
  t.equal(first.rates, null, 'no rate in the first report');
  t.ok(first.faults.minor > 0 && first.faults.major >= 0, 'fault counts');
  t.type(first.vmSwapBytes, 'number');
  t.ok(second.rates.seconds > 0, 'the second report has rates over its interval');
  t.ok(second.rates.minorFaultsPerSecond >= 0 && second.rates.majorFaultsPerSecond >= 0);
  if (psi.source !== 'unavailable') {
    t.ok(second.pressure.some.totalUs >= first.pressure.some.totalUs);
    t.ok(
      second.rates.someStallMsPerSecond >= 0 && second.rates.someStallMsPerSecond <= 1000 * 2,
      'stall ms per second',
    );
  }
  const human = runCli(['status', '--watch', '0.3', '--count', '2']);
  t.equal(human.status, 0, human.stderr);
  t.match(human.stdout, /^ {2}faults +\d[\d,]* major \/ [\d,]+ minor/m);
  t.match(human.stdout, /^ {2}fault rate +[\d.,]+ major\/s, [\d.,]+ minor\/s +over the last/m);
  if (psi.source !== 'unavailable') t.match(human.stdout, /^ {2}pressure some +[\d.]+% \/ [\d.]+% \/ [\d.]+%/m);
  t.end();
});

const plan = planCgroups();
const noCgroup = 'reason' in plan ? plan.reason : false;

t.test(
  "status of another process reads that process's cgroup pressure",
  { skip: noCgroup || (psi.source === 'unavailable' ? 'no PSI' : false) },
  async (t) => {
    if ('reason' in plan) return;
    const group = makeTestCgroup(plan, 'status');
    const [command, ...args] = [...intoCgroups(group), 'sleep', '60'];
    const child = spawn(command, args, { stdio: 'ignore' });
    t.teardown(() => {
      child.kill('SIGKILL');
      group.remove();
    });
    // The shell execs sleep once it has joined the cgroups.
    for (let i = 0; i < 100 && !readFileSync(`/proc/${child.pid}/cmdline`, 'latin1').startsWith('sleep'); i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const run = runCli(['status', '--pid', String(child.pid), '--json']);
    t.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    if (group.unified) {
      t.equal(report.pressure.source, 'cgroup');
      t.equal(report.pressure.path, `${group.unified}/memory.pressure`, "the child's own cgroup");
    } else {
      t.equal(report.pressure.source, psi.source);
    }
    t.ok(report.faults.minor > 0, "the child's faults, from /proc/<pid>/stat");
  },
);

t.test(
  'doctor in a memory cgroup too small for --size: fails the cgroup check and does not try the lock',
  { skip: noCgroup },
  (t) => {
    if ('reason' in plan) return t.end();
    const group = makeTestCgroup(plan, 'doctor');
    t.teardown(() => {
      group.remove();
    });
    writeFileSync(group.memory.limitFile, String(160 * MiB));
    const run = runCli(['doctor', '--json', '--size', '256'], intoCgroups(group));
    t.equal(run.signal, null, 'not OOM-killed');
    t.equal(run.status, 1, run.stderr);
    const report = JSON.parse(run.stdout);
    const limit = byId(report, 'cgroup-limit');
    t.equal(limit.status, 'fail', limit.finding);
    t.match(limit.finding, /OOM/);
    t.ok(
      limit.remedy.some((r) => r.includes('resources.limits.memory')),
      'names the fixes',
    );
    const testLock = byId(report, 'test-lock');
    t.equal(testLock.status, 'fail');
    t.match(testLock.finding, /not tried/);
    t.same(group.remove(), [], 'removed');

    const roomy = makeTestCgroup(plan, 'doctor-roomy');
    t.teardown(() => {
      roomy.remove();
    });
    writeFileSync(roomy.memory.limitFile, String(1024 * MiB));
    const ok = JSON.parse(runCli(['doctor', '--json', '--size', '16'], intoCgroups(roomy)).stdout);
    t.equal(byId(ok, 'cgroup-limit').status, 'pass', byId(ok, 'cgroup-limit').finding);
    t.equal(byId(ok, 'test-lock').status, 'pass');
    t.end();
  },
);

const self = procStatus('self');
const capBounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1] ?? '0';
const canBeNobody =
  process.getuid?.() === 0 && hasCommand('setpriv') && ((BigInt(`0x${capBounding}`) >> 14n) & 1n) === 1n;

t.test(
  'doctor as a non-root user with CAP_IPC_LOCK "added" (in the bounding set): not effective, says why',
  { skip: canBeNobody ? false : 'needs root, setpriv and CAP_IPC_LOCK in the bounding set' },
  (t) => {
    const run = runCli(['doctor', '--json', '--size', '1'], AS_NOBODY, readableInstall(t));
    t.not(run.stdout, '', `a report on stdout: ${run.stderr}`);
    const report = JSON.parse(run.stdout);
    const cap = byId(report, 'cap-effective');
    t.equal(cap.status, 'warn', cap.finding);
    t.match(cap.finding, /not effective/);
    t.ok(cap.remedy.some((r) => r.includes('AmbientCapabilities=CAP_IPC_LOCK')));
    t.equal(report.capIpcLock, false);
    t.end();
  },
);

t.test('doctor as this process: capability effective, PSI, hypervisor', (t) => {
  const report = JSON.parse(runCli(['doctor', '--json', '--size', '1']).stdout);
  t.equal(byId(report, 'cap-effective').status, self.hasIpcLock ? 'pass' : byId(report, 'cap-effective').status);
  const psiCheck = byId(report, 'psi');
  if (psi.source !== 'unavailable') {
    t.ok(['pass', 'warn'].includes(psiCheck.status), psiCheck.finding);
    t.match(psiCheck.finding, new RegExp(psi.source));
  }
  const hv = byId(report, 'hypervisor');
  t.ok(['pass', 'warn'].includes(hv.status), hv.finding);
  if (/^flags\s*:.*\bhypervisor\b/m.test(readFileSync('/proc/cpuinfo', 'latin1'))) {
    t.match(hv.finding, /locking pins guest memory|lock\(\)/, 'a guest is told what locking means there');
  }
  t.end();
});

const hidden = hidePsi();
t.test('doctor and status where the kernel shows no PSI', { skip: 'skip' in hidden ? hidden.skip : false }, (t) => {
  if (!('prefix' in hidden)) return t.end();
  const report = JSON.parse(runCli(['doctor', '--json', '--size', '1'], hidden.prefix).stdout);
  const check = byId(report, 'psi');
  t.equal(check.status, 'warn', check.finding);
  t.ok(check.remedy.length > 0);
  // The kernel has PSI, masked by a mount over /proc/pressure: the fix for a
  // hidden /proc/pressure, as for a fake root laid out so, not "build CONFIG_PSI".
  const fake = mkdtempSync(path.join(tmpdir(), 'memlock-root-'));
  t.teardown(() => rmSync(fake, { recursive: true, force: true }));
  mkdirSync(path.join(fake, 'proc/pressure'), { recursive: true });
  t.same(check.remedy, psiCheck({ kind: 'unavailable', reason: '' }, fake).remedy, 'diagnosed as hidden');
  const status = JSON.parse(runCli(['status', '--json'], hidden.prefix).stdout);
  t.equal(status.pressure.source, 'unavailable');
  t.type(status.pressure.reason, 'string');
  t.end();
});
