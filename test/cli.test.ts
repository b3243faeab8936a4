// The memlock CLI (lib/cli/index.js, built by npm install), run as a child process
// the way a user runs it, and checked against the kernel's own account.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { colourWanted } from '../src/cli/format';
import { procMemlockLimit, procStatus } from '../src/proc';
import { cannotDropPrivileges, FIXTURES, unprivileged } from './helpers/child';
import { AS_NOBODY, readableInstall } from './helpers/other-user';

// The start of a terminal control sequence (colour).
const ESCAPE = new RegExp(String.fromCharCode(27) + '\\[');

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'index.js');
const MiB = 1024 * 1024;
const CHECK_IDS = [
  'rlimit',
  'capability',
  'swap',
  'max-map-count',
  'test-lock',
  'on-fault',
  'madvise',
  'kernel',
  'cgroup-limit',
  'cgroup-protection',
  'cap-effective',
  'psi',
  'hypervisor',
  'huge-pages',
  'secret-backend',
  'hardening',
  'cgroup-events',
  'container-swap',
  'container-memory',
  'user-namespace',
  'seccomp',
];

// Without the test runner's NODE_OPTIONS hooks: the child is a plain node process.
// The runner puts its own hook back into every child's environment, so `env -u`
// removes it again where the child starts (a child running as nobody could not
// write the runner's process records).
// Nor the runner's colour settings (FORCE_COLOR=0, NO_COLOR=1): the CLI's own
// defaults are what is tested, and the colour test sets them itself.
const {
  NODE_OPTIONS: _runnerHooks,
  FORCE_COLOR: _force,
  NO_COLOR: _noColor,
  NODE_DISABLE_COLORS: _disable,
  ...env
} = process.env;
const PLAIN = ['env', '-u', 'NODE_OPTIONS'];

function runCli(args: string[], prefix: string[] = [], extraEnv: Record<string, string> = {}) {
  const command = [...PLAIN, ...prefix, process.execPath, cli, ...args];
  const result = spawnSync(command[0]!, command.slice(1), {
    cwd: root,
    encoding: 'utf8',
    env: { ...env, ...extraEnv },
    timeout: 600_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

// Polls until `probe` returns something: no deadline of its own (tap's
// timeout bounds it), so a busy machine only makes it slower.
async function until<T>(probe: () => T | undefined): Promise<T> {
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function readProc(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

interface Check {
  id: string;
  status: string;
  finding: string;
  remedy: string[];
  error: { code: string; syscall: string | null } | null;
}

function byId(report: { checks: Check[] }, id: string): Check {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id}`);
  return found;
}

t.test('lib/cli/ is built from the current src/cli/', (t) => {
  t.ok(existsSync(cli), 'lib/cli/index.js exists (npm install builds it)');
  const built = statSync(cli).mtimeMs;
  for (const file of readdirSync(path.join(root, 'src', 'cli')).filter((f) => f.endsWith('.ts'))) {
    const js = path.join(root, 'lib', 'cli', file.replace(/\.ts$/, '.js'));
    t.ok(
      existsSync(js) && statSync(js).mtimeMs >= statSync(path.join(root, 'src', 'cli', file)).mtimeMs,
      `lib/ is not older than src/cli/${file} (else: npm run build:ts)`,
    );
  }
  t.ok(built > 0);
  t.end();
});

const self = procStatus('self');
const canLock64 = self.hasIpcLock || procMemlockLimit('self').soft >= 64 * MiB;

t.test(
  'doctor --json passes here, with every check',
  { skip: canLock64 ? false : 'needs CAP_IPC_LOCK or RLIMIT_MEMLOCK >= 64 MiB' },
  (t) => {
    const run = runCli(['doctor', '--json']);
    t.equal(run.status, 0, run.stderr || run.stdout);
    const report = JSON.parse(run.stdout);
    t.equal(report.command, 'doctor');
    t.equal(report.ok, true);
    t.equal(report.sizeBytes, 64 * MiB, 'default --size is 64 MiB');
    t.same(
      report.checks.map((c: Check) => c.id),
      CHECK_IDS,
      'every check, in order',
    );
    for (const c of report.checks as Check[]) {
      t.ok(['pass', 'warn'].includes(c.status), `${c.id}: ${c.status}`);
      t.type(c.finding, 'string');
      t.ok(c.finding.length > 0 && !c.finding.includes('\n'), `${c.id}: a one-line finding`);
      t.ok(Array.isArray(c.remedy), `${c.id}: remedy is a list`);
      if (c.status === 'pass') t.same(c.remedy, [], `${c.id}: no remedy when it passed`);
      else t.ok(c.remedy.length > 0, `${c.id}: a remedy for a warning`);
    }
    t.equal(byId(report, 'test-lock').status, 'pass', 'the 64 MiB test lock worked');
    const thp = /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'latin1'))?.[1];
    t.match(
      byId(report, 'huge-pages').finding,
      new RegExp(`transparent huge pages ${thp === 'never' ? 'off' : thp}`),
      'huge pages: the THP mode, as /sys says',
    );
    t.equal(report.summary.pass + report.summary.warn + report.summary.fail, CHECK_IDS.length);
    t.equal(report.summary.fail, 0);
    t.end();
  },
);

t.test(
  'doctor (human) prints one line per check and a summary',
  { skip: canLock64 ? false : 'needs CAP_IPC_LOCK or RLIMIT_MEMLOCK >= 64 MiB' },
  (t) => {
    const run = runCli(['doctor', '--size', '1']);
    t.equal(run.status, 0, run.stderr || run.stdout);
    t.notMatch(run.stdout, ESCAPE, 'no colour on a pipe');
    t.match(run.stdout, /test size 1 MiB/);
    for (const title of [
      'RLIMIT_MEMLOCK',
      'CAP_IPC_LOCK',
      'swap',
      'vm.max_map_count',
      'test lock',
      'MLOCK_ONFAULT',
      'MADV_DONTDUMP',
      'kernel',
    ]) {
      t.match(run.stdout, new RegExp(`^(PASS|WARN)  ${title}`, 'm'), title);
    }
    t.match(run.stdout, /locked and released 1 MiB/);
    t.match(run.stdout, /\d passed, \d warnings?, 0 failed/);
    t.end();
  },
);

t.test(
  'doctor without CAP_IPC_LOCK under a 64 KiB RLIMIT_MEMLOCK fails with the fixes',
  { skip: cannotDropPrivileges() ?? false },
  (t) => {
    const run = runCli(['doctor', '--json'], unprivileged(65536));
    t.equal(run.status, 1, 'exit code 1: a check failed');
    const report = JSON.parse(run.stdout);
    t.equal(report.ok, false);
    t.equal(report.capIpcLock, false);
    t.same(report.rlimitMemlock, { soft: 65536, hard: 65536 });
    t.same(
      report.checks.map((c: Check) => c.id),
      CHECK_IDS,
    );
    const rlimit = byId(report, 'rlimit');
    const testLock = byId(report, 'test-lock');
    t.equal(rlimit.status, 'fail', 'the rlimit check fails');
    t.equal(testLock.status, 'fail', 'the test lock fails');
    t.equal(byId(report, 'capability').status, 'warn', 'CAP_IPC_LOCK not held: a warning, not a pass');
    t.equal(testLock.error?.code, 'ENOMEM', 'with the MemlockError code');
    t.equal(testLock.error?.syscall, 'mlock');
    for (const c of [rlimit, testLock]) {
      const remedy = c.remedy.join('\n');
      for (const fix of [
        'ulimit -l',
        'LimitMEMLOCK=infinity',
        '--ulimit memlock=-1:-1',
        'IPC_LOCK',
        'securityContext.capabilities.add',
      ]) {
        t.ok(remedy.includes(fix), `${c.id}: the remedy mentions ${fix}`);
      }
    }
    t.ok(report.summary.fail >= 2);

    const human = runCli(['doctor'], unprivileged(65536));
    t.equal(human.status, 1);
    t.match(human.stdout, /^FAIL {2}RLIMIT_MEMLOCK +64 KiB soft \/ 64 KiB hard/m);
    t.match(human.stdout, /^FAIL {2}test lock +lock\(\) of 64 MiB refused: ENOMEM from mlock/m);
    t.match(human.stdout, /fix: shell: ulimit -l/);
    t.end();
  },
);

t.test('status of another process that locks 4 MiB', async (t) => {
  // env execs node: the child's pid is the fixture's.
  const child = spawn(
    PLAIN[0]!,
    [...PLAIN.slice(1), process.execPath, '--import', 'tsx', path.join(FIXTURES, 'cli-locker.ts')],
    {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.teardown(() => {
    child.kill();
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('ready\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`the fixture exited (${code}) before it was ready: ${out}`)));
  });
  const [pid, range] = line.split(' ') as [string, string];
  const [start, end] = range.split('-');

  const run = runCli(['status', '--pid', pid, '--json']);
  t.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  t.equal(report.command, 'status');
  t.equal(report.pid, Number(pid));
  // argv[0]'s last part: not the main thread's name, which Node 22+ sets to MainThread.
  const name = path.basename(process.execPath);
  t.equal(report.name, name, "the process's name, from argv[0]");
  t.equal(report.vmLckBytes, 4 * MiB, 'VmLck is exactly 4 MiB');
  t.equal(report.vmLckBytes, procStatus(Number(pid)).vmLckBytes, "the kernel's own VmLck");
  t.equal(report.smapsLockedBytes, 4 * MiB, 'smaps Locked: sums to 4 MiB');
  t.equal(report.vmPinBytes, 0);
  t.type(report.capIpcLock, 'boolean');
  t.ok(report.mappings > 0 && report.mappings <= report.maxMappings, 'mapping count within vm.max_map_count');
  const { soft, hard } = procMemlockLimit(Number(pid));
  t.same(report.rlimitMemlock, { soft: soft === Infinity ? null : soft, hard: hard === Infinity ? null : hard });
  t.equal(report.lockedMappings, 1, 'one locked mapping');
  t.same(
    report.topMappings[0],
    {
      start,
      end,
      perms: 'rw-p',
      path: '',
      sizeBytes: 4 * MiB,
      lockedBytes: 4 * MiB,
      vmLocked: true,
      onFault: false,
    },
    'the top mapping is the locked region',
  );

  const human = runCli(['status', '--pid', pid]);
  t.equal(human.status, 0, human.stderr);
  t.notMatch(human.stdout, ESCAPE, 'no colour on a pipe');
  t.match(human.stdout, new RegExp(`pid ${pid} \\(${name}\\)`));
  t.match(human.stdout, /^ +VmLck +4 MiB/m);
  t.match(human.stdout, /^ +smaps Locked: +4 MiB/m);
  t.match(human.stdout, /^ +CAP_IPC_LOCK +(yes|no)/m);
  t.match(human.stdout, new RegExp(`^ +mappings +\\d+ of ${report.maxMappings}`, 'm'));
  t.match(
    human.stdout,
    new RegExp(`^ +${start}-${end} +rw-p +4 MiB +4 MiB +lo +\\[anon\\]$`, 'm'),
    'the mapping, aligned',
  );

  const watched = runCli(['status', '--pid', pid, '--json', '--watch', '0.2', '--count', '3', '--top', '1']);
  t.equal(watched.status, 0, watched.stderr);
  const lines = watched.stdout.trim().split('\n');
  t.equal(lines.length, 3, 'three reports, one JSON object per line');
  for (const report of lines.map((l) => JSON.parse(l))) {
    t.equal(report.vmLckBytes, 4 * MiB);
    t.equal(report.topMappings.length, 1);
  }
});

t.test('colour: FORCE_COLOR forces it in a pipe; NO_COLOR, FORCE_COLOR=0 and a pipe turn it off', (t) => {
  const cases: [Record<string, string>, boolean][] = [
    [{}, false],
    [{ FORCE_COLOR: '1' }, true],
    [{ FORCE_COLOR: '' }, true],
    [{ FORCE_COLOR: '3' }, true],
    [{ FORCE_COLOR: '0' }, false],
    [{ FORCE_COLOR: 'false' }, false],
    [{ NO_COLOR: '1' }, false],
    [{ FORCE_COLOR: '1', NO_COLOR: '1' }, true],
  ];
  for (const [extra, coloured] of cases) {
    const run = runCli(['status'], [], extra);
    t.equal(run.status, 0, run.stderr);
    const what = JSON.stringify(extra);
    if (coloured) t.match(run.stdout, ESCAPE, `${what}: coloured in a pipe`);
    else t.notMatch(run.stdout, ESCAPE, `${what}: no colour`);
    t.match(run.stdout, /memlock status/, `${what}: the report`);
  }
  // On a terminal (a stand-in stream): colour unless NO_COLOR, FORCE_COLOR=0 or TERM=dumb say otherwise.
  const tty = { isTTY: true, hasColors: () => true } as unknown as NodeJS.WriteStream;
  t.equal(colourWanted(tty, {}), true, 'a terminal with colours');
  t.equal(colourWanted(tty, { NO_COLOR: '1' }), false, 'NO_COLOR on a terminal');
  t.equal(colourWanted(tty, { NO_COLOR: '' }), true, 'an empty NO_COLOR is not set');
  t.equal(colourWanted(tty, { FORCE_COLOR: '0' }), false, 'FORCE_COLOR=0 on a terminal');
  t.equal(colourWanted(tty, { TERM: 'dumb' }), false, 'TERM=dumb');
  t.end();
});

t.test('status of the CLI itself by default', (t) => {
  const run = runCli(['status', '--json']);
  t.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  t.not(report.pid, process.pid, "the CLI's own pid");
  t.equal(report.vmLckBytes, 0, 'it locks nothing');
  t.same(report.topMappings, []);
  t.end();
});

t.test('--version prints the package version', (t) => {
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  for (const args of [['--version'], ['-v']]) {
    const run = runCli(args);
    t.equal(run.status, 0, args.join(' '));
    t.equal(run.stdout, `${version}\n`);
  }
  t.end();
});

t.test('help', (t) => {
  for (const args of [['--help'], ['help'], ['-h']]) {
    const run = runCli(args);
    t.equal(run.status, 0, args.join(' '));
    t.match(run.stdout, /usage: memlock doctor/);
    t.match(run.stdout, /memlock status/);
    t.equal(run.stderr, '');
  }
  t.end();
});

t.test('bad input: exit code 2, one line and the usage on stderr, no stack', (t) => {
  const cases: [string[], RegExp][] = [
    [['doctor', '--bogus'], /unknown option '--bogus'/],
    [['status', '--bogus'], /unknown option '--bogus'/],
    [['bogus'], /unknown command 'bogus'/],
    [[], /missing command/],
    [['status', '--pid', '999999999'], /no process with pid 999999999/],
    [['status', '--pid', 'abc'], /--pid must be a positive integer, got 'abc'/],
    [['status', '--pid', '0'], /--pid must be a positive integer/],
    [['doctor', '--size', 'abc'], /--size must be a positive number of MiB, got 'abc'/],
    [['doctor', '--size', '-1'], /--size must be a positive number of MiB, got '-1'/],
    [['status', '--watch', '0'], /--watch must be a positive number of seconds, got '0'/],
    [['status', '--top', '-3'], /--top must be a positive integer/],
    [['status', '--count', '2'], /--count needs --watch/],
    [['status', 'extra'], /unexpected argument 'extra'/],
  ];
  for (const [args, message] of cases) {
    const name = `memlock ${args.join(' ')}`;
    const run = runCli(args);
    t.equal(run.status, 2, `${name}: exit code 2`);
    t.equal(run.stdout, '', `${name}: nothing on stdout`);
    const lines = run.stderr.trimEnd().split('\n');
    t.equal(lines.length, 2, `${name}: two lines on stderr`);
    t.match(lines[0], /^memlock: /, `${name}: one message line`);
    t.match(lines[0], message, `${name}: says what is wrong`);
    t.match(lines[1], /^usage: memlock /, `${name}: then the usage line`);
    t.notMatch(run.stderr, /^\s+at /m, `${name}: no stack trace`);
  }
  t.end();
});

t.test(
  'status of a process whose smaps may not be read: what can be read, exit code 3',
  { skip: cannotDropPrivileges() ?? false },
  async (t) => {
    // The target runs as nobody; the CLI runs as root (so it can read a
    // checkout only root may read, such as a clone in a mktemp -d directory)
    // with every capability dropped: without CAP_SYS_PTRACE the kernel's
    // ptrace access check refuses another user's /proc/<pid>/smaps*.
    const target = spawn(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), 'sleep', '300'], { stdio: 'ignore' });
    t.teardown(() => {
      target.kill();
    });
    const pid = String(target.pid);
    // setpriv execs sleep once it is nobody.
    await until(() => (readProc(`/proc/${pid}/comm`).trim() === 'sleep' ? true : undefined));
    t.match(readProc(`/proc/${pid}/status`), /^Uid:\s+65534\s/m, 'the target runs as nobody');
    const allowed = runCli(['status', '--pid', pid, '--json']);
    t.equal(allowed.status, 0, `with its capabilities, root reads it: ${allowed.stderr}`);
    t.same(JSON.parse(allowed.stdout).unreadable, [], 'a complete report');
    const run = runCli(['status', '--pid', pid], ['setpriv', '--inh-caps=-all', '--bounding-set=-all']);
    t.equal(run.status, 3, `exit code 3, not the usage code: ${run.stderr}`);
    t.equal(run.stderr, '', 'no usage line');
    t.match(run.stdout, /VmLck\s+0 bytes/, 'VmLck, from the status file anyone may read');
    t.match(run.stdout, /mappings\s+unreadable \(max \d+\)/, 'maps: unreadable, said so');
    t.match(run.stdout, new RegExp(`partial report: permission denied reading /proc/${pid}/smaps_rollup`));
    t.notMatch(run.stdout, /^\s+at /m);
  },
);

t.test(
  "status --json as nobody of root's process that locks 4 MiB: VmLck, the limits, exit code 3",
  { skip: cannotDropPrivileges() ?? false },
  async (t) => {
    const child = spawn(
      PLAIN[0]!,
      [...PLAIN.slice(1), process.execPath, '--import', 'tsx', path.join(FIXTURES, 'cli-locker.ts')],
      { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.teardown(() => {
      child.kill();
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('ready\n')) resolve(out.trim());
      });
      child.on('exit', (code) => reject(new Error(`the fixture exited (${code}) before it was ready: ${out}`)));
    });
    const pid = line.split(' ')[0]!;
    const install = readableInstall(t);
    const command = [...PLAIN, ...AS_NOBODY, install.node, install.cli, 'status', '--pid', pid, '--json'];
    const result = spawnSync(command[0]!, command.slice(1), {
      cwd: install.root,
      encoding: 'utf8',
      env: { ...env, ...install.env },
      timeout: 120_000,
    });
    t.equal(result.status, 3, `exit code 3: a partial report (${result.stderr})`);
    const report = JSON.parse(result.stdout);
    const kernel = procStatus(Number(pid));
    t.equal(report.pid, Number(pid));
    t.equal(report.vmLckBytes, kernel.vmLckBytes, "VmLck as the kernel's /proc/<pid>/status says");
    t.ok(report.vmLckBytes >= 4 * MiB, 'the 4 MiB lock is in it');
    const limit = procMemlockLimit(Number(pid));
    t.equal(report.rlimitMemlock.soft, limit.soft === Infinity ? null : limit.soft, 'RLIMIT_MEMLOCK, from limits');
    t.equal(report.smapsLockedBytes, null, 'smaps_rollup: not readable, so null');
    t.equal(report.mappings, null);
    t.equal(report.lockedMappings, null);
    t.same(report.topMappings, []);
    t.same(report.unreadable, [`/proc/${pid}/smaps_rollup`, `/proc/${pid}/maps`, `/proc/${pid}/smaps`]);
  },
);

t.test('status of a zombie: exit code 2, and it says so (ESRCH)', async (t) => {
  // sh starts a child and becomes sleep, which never reaps it: once the
  // child exits it stays a zombie, with no memory, while sleep runs.
  const parent = spawn('sh', ['-c', 'sleep 0 & exec sleep 300'], { stdio: 'ignore' });
  t.teardown(() => {
    parent.kill();
  });
  const zombie = await until(() => {
    const child = readProc(`/proc/${parent.pid}/task/${parent.pid}/children`).trim();
    return child !== '' && /^State:\s+Z/m.test(readProc(`/proc/${child}/status`)) ? child : undefined;
  });
  for (const args of [
    ['status', '--pid', zombie],
    ['status', '--pid', zombie, '--json'],
  ]) {
    const run = runCli(args);
    t.equal(run.status, 2, `memlock ${args.join(' ')}: exit code 2`);
    t.equal(run.stdout, '', 'nothing on stdout');
    t.match(
      run.stderr,
      new RegExp(`^memlock: process ${zombie} is a zombie: .*parent \\(pid ${parent.pid}\\).* \\(ESRCH\\)\n`),
    );
    t.match(run.stderr.split('\n')[1], /^usage: memlock status/);
    t.notMatch(run.stderr, /^\s+at /m);
  }
});
