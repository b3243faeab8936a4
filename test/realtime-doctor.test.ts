// memlock doctor's real-time readiness section, run as a user runs it, with
// vm.compact_unevictable_allowed at 1 and at 0 (restored afterwards), its
// findings checked against the kernel's files.
// test-exclusive: system settings (vm.compact_unevictable_allowed)
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { cannotCompact, changeCompactUnevictable } from './helpers/compaction';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'index.js');
const REALTIME_IDS = ['compact-unevictable', 'numa-balancing', 'thp', 'ksm', 'swappiness', 'rtprio', 'cpu-governor'];

interface Check {
  id: string;
  title: string;
  status: string;
  finding: string;
  remedy: string[];
}
interface Realtime {
  ready: boolean;
  checks: Check[];
  summary: Record<string, number>;
}

const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;

function doctor(args: string[]) {
  return spawnSync('env', ['-u', 'NODE_OPTIONS', process.execPath, cli, 'doctor', '--size', '1', ...args], {
    cwd: root,
    encoding: 'utf8',
    env,
    timeout: 600_000,
  });
}

function realtime(): Realtime {
  const run = doctor(['--json']);
  return (JSON.parse(run.stdout) as { realtime: Realtime }).realtime;
}

function byId(report: Realtime, id: string): Check {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no real-time check ${id}`);
  return found;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1').trim();
  } catch {
    return undefined;
  }
}

const skip = cannotCompact() ?? false;

t.test('at 1: doctor names compact_unevictable_allowed=1 with its remedies, in --json and in text', { skip }, (t) => {
  changeCompactUnevictable(t, 1);
  const report = realtime();
  t.same(
    report.checks.map((c) => c.id),
    REALTIME_IDS,
    'every real-time check, in order',
  );
  const compaction = byId(report, 'compact-unevictable');
  t.equal(compaction.status, 'warn');
  t.match(compaction.finding, /^1: compaction may migrate locked pages/);
  t.match(compaction.finding, /pgmigrate_success \d+/, 'evidence: the kernel migration counter');
  t.ok(
    compaction.remedy.some((r) => r.startsWith('sysctl -w vm.compact_unevictable_allowed=0')),
    'sysctl',
  );
  t.ok(
    compaction.remedy.some((r) => r.includes('kernel command line')),
    'kernel command line',
  );
  t.ok(
    compaction.remedy.some((r) => r.includes('tuned-adm profile realtime')),
    'tuned',
  );
  t.equal(report.ready, false, 'not real-time ready');
  t.equal(report.summary['fail'], 0, 'a real-time check never fails');

  const text = doctor([]);
  t.match(text.stdout, /real-time readiness/);
  t.match(text.stdout, /WARN\s+vm\.compact_unevictable_allowed\s+1: /);
  t.match(text.stdout, /fix: sysctl -w vm\.compact_unevictable_allowed=0/);
  t.match(text.stdout, /not real-time ready/);
  t.end();
});

t.test('at 0: the compaction check passes with no remedy', { skip }, (t) => {
  changeCompactUnevictable(t, 0);
  const compaction = byId(realtime(), 'compact-unevictable');
  t.equal(compaction.status, 'pass');
  t.match(compaction.finding, /^0: compaction leaves locked pages where they are/);
  t.same(compaction.remedy, []);
  t.notMatch(doctor([]).stdout, /WARN\s+vm\.compact_unevictable_allowed/);
  t.end();
});

t.test(
  'the other real-time findings say what the kernel files say',
  { skip: process.platform === 'linux' ? false : 'Linux only' },
  (t) => {
    const report = realtime();
    const numa = read('/proc/sys/kernel/numa_balancing');
    const nodes = readdirSync('/sys/devices/system/node').filter((n) => /^node\d+$/.test(n)).length || 1;
    const numaCheck = byId(report, 'numa-balancing');
    t.match(numaCheck.finding, new RegExp(`^${numa ?? 'absent'} \\((on|off)\\)`), 'numa_balancing value');
    t.match(numaCheck.finding, new RegExp(`${nodes} NUMA node`), 'NUMA node count');
    if (nodes > 1 && numa !== '0') t.equal(numaCheck.status, 'warn');
    else t.equal(numaCheck.status, 'pass');
    const enabled = /\[(\w+)\]/.exec(read('/sys/kernel/mm/transparent_hugepage/enabled') ?? '')?.[1];
    const defrag = /\[([\w+]+)\]/.exec(read('/sys/kernel/mm/transparent_hugepage/defrag') ?? '')?.[1];
    if (enabled !== undefined) {
      t.match(byId(report, 'thp').finding, `enabled ${enabled}, defrag ${defrag}`, 'THP modes as /sys says');
      if (enabled === 'always' || defrag === 'always') t.equal(byId(report, 'thp').status, 'warn');
    }
    const ksm = read('/sys/kernel/mm/ksm/run');
    if (ksm !== undefined) {
      t.match(byId(report, 'ksm').finding, `run ${ksm}`);
      t.equal(byId(report, 'ksm').status, ksm === '1' ? 'warn' : 'pass');
    }
    const rtprio = /^Max realtime priority\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'latin1'))?.[1];
    t.match(
      byId(report, 'rtprio').finding,
      new RegExp(`^${rtprio} soft`),
      'RLIMIT_RTPRIO as the child sees it (inherited)',
    );
    t.equal(byId(report, 'rtprio').status, 'pass', 'information');
    t.equal(byId(report, 'cpu-governor').status, 'pass', 'information');
    t.match(byId(report, 'swappiness').finding, new RegExp(`^${read('/proc/sys/vm/swappiness')}`));
    t.end();
  },
);
