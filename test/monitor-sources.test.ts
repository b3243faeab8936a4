// What the paging monitor and doctor open and how they say what they found
// (issue #20): $MEMORY_PRESSURE_WATCH naming what is not a pressure source,
// a systemd socket that hangs up, a throwing listener, fds left after
// close(), and PSI hidden by a container against a kernel without it.
// test-tier: quick
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AS_NOBODY, readableInstall } from './helpers/other-user';
import t, { type Test } from 'tap';
import { monitorPaging, type PagingMonitor } from '../src/index';
import { psiCheck } from '../src/cli/container';
import { psiAbsence } from '../src/paging/pressure';
import { hasCommand, runFixture } from './helpers/child';

function tempDir(t: Test, name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `memlock-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `start` with $MEMORY_PRESSURE_WATCH (and _WRITE) set as given, restored after. */
function withWatch<T>(watch: string, start: () => T, write?: string): T {
  const saved = [process.env['MEMORY_PRESSURE_WATCH'], process.env['MEMORY_PRESSURE_WRITE']];
  process.env['MEMORY_PRESSURE_WATCH'] = watch;
  if (write === undefined) delete process.env['MEMORY_PRESSURE_WRITE'];
  else process.env['MEMORY_PRESSURE_WRITE'] = Buffer.from(`${write}\0`, 'latin1').toString('base64');
  try {
    return start();
  } finally {
    const restore = (name: string, value: string | undefined) => {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    };
    restore('MEMORY_PRESSURE_WATCH', saved[0]);
    restore('MEMORY_PRESSURE_WRITE', saved[1]);
  }
}

t.test('$MEMORY_PRESSURE_WATCH naming a regular file that is not a PSI file: refused, nothing written', (t) => {
  const dir = tempDir(t, 'watch-file');
  const file = path.join(dir, 'notes.txt');
  const content = 'precious data\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
  writeFileSync(file, content);
  for (const write of [undefined, 'some 150000 2000000']) {
    const monitor = withWatch(file, () => monitorPaging(), write);
    t.equal(
      readFileSync(file, 'utf8'),
      content,
      `unchanged (MEMORY_PRESSURE_WRITE ${write ?? 'unset'}), though its text looks like PSI`,
    );
    t.equal(monitor.mode, 'event-loop-only', 'not reported as psi');
    t.equal(monitor.source, null);
    t.equal(monitor.trigger, null);
    t.type(monitor.psiUnavailableReason, 'string');
    monitor.close();
  }
  t.end();
});

t.test('$MEMORY_PRESSURE_WATCH naming a procfs file that is not a PSI file: refused, nothing written', (t) => {
  // comm takes any text written (it renames the thread).
  const comm = `/proc/self/task/${process.pid}/comm`;
  const before = readFileSync(comm, 'utf8');
  const monitor = withWatch(comm, () => monitorPaging());
  t.equal(readFileSync(comm, 'utf8'), before, 'the thread keeps its name');
  t.equal(monitor.mode, 'event-loop-only');
  t.equal(monitor.source, null);
  monitor.close();
  t.end();
});

t.test(
  'a systemd socket that hangs up is reported: mode, psiUnavailableReason and a psi-unavailable event',
  async (t) => {
    const dir = tempDir(t, 'watch-socket');
    const file = path.join(dir, 'pressure.sock');
    const received: string[] = [];
    const server = net.createServer((connection) => {
      connection.once('data', (data) => {
        received.push(data.toString('latin1'));
        connection.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(file, resolve));
    t.teardown(() => server.close());
    const monitor: PagingMonitor = withWatch(file, () => monitorPaging(), 'some 200000 2000000');
    t.teardown(() => monitor.close());
    t.equal(monitor.source, 'systemd');
    const ended = once(monitor, 'psi-unavailable', { signal: AbortSignal.timeout(10_000) });
    const [event] = await ended;
    t.same(received, ['some 200000 2000000\0'], 'the trigger was written before the hang-up');
    t.match(event, { source: 'systemd', path: file, reason: String });
    t.equal(monitor.mode, 'event-loop-only', 'no longer shown as watching');
    t.equal(monitor.psiUnavailableReason, event.reason);
  },
);

t.test('a systemd socket nobody listens on is reported the same way', async (t) => {
  const dir = tempDir(t, 'watch-stale');
  const file = path.join(dir, 'pressure.sock');
  // A socket file left behind by a listener that exited: connect() is refused.
  const script = `require('node:net').createServer().listen(${JSON.stringify(file)}, () => process.exit(0))`;
  t.equal(spawnSync(process.execPath, ['-e', script], { env: { ...process.env, NODE_OPTIONS: '' } }).status, 0);
  const monitor: PagingMonitor = withWatch(file, () => monitorPaging());
  t.teardown(() => monitor.close());
  const [event] = await once(monitor, 'psi-unavailable', { signal: AbortSignal.timeout(10_000) });
  t.match(event, { source: 'systemd', path: file, reason: String });
  t.equal(monitor.mode, 'event-loop-only');
});

t.test(
  "a throwing 'pressure' listener is an uncaught exception, as from any EventEmitter",
  { skip: hasCommand('mkfifo') ? false : 'no mkfifo' },
  (t) => {
    const dir = tempDir(t, 'watch-fifo');
    const fifo = path.join(dir, 'pressure');
    spawnSync('mkfifo', [fifo]);
    const child = runFixture('paging-monitor.ts', {
      args: ['throwing-listener'],
      env: { MEMORY_PRESSURE_WATCH: fifo },
    });
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout);
    t.equal(r.stats.pressureEvents, 1, 'the event was emitted');
    t.same(r.caught, ['ERR_TEST_LISTENER'], "the process's uncaughtException saw the listener's error");
    t.same(
      r.warnings.filter((w: { code?: string }) => w.code === 'DEP0168'),
      [],
      'not swallowed with a DEP0168 warning',
    );
    t.end();
  },
);

function openFds(): string[] {
  return readdirSync('/proc/self/fd').sort();
}

// The loop watch's duplicates of the schedstat and PSI fds, the socket and
// the trigger: all closed by the time close() returns, not a loop turn later.
t.test('close() releases every fd of the monitor before it returns', async (t) => {
  await sleep(10);
  const before = openFds();
  const monitor = withWatch('', () => monitorPaging());
  t.ok(openFds().length > before.length, 'the running monitor holds fds');
  monitor.close();
  t.same(openFds(), before, 'none left when close() returns');
});

t.test('why PSI is missing: a kernel without it, turned off, or hidden by a container', (t) => {
  const fake = (t: Test, layout: Record<string, string | null>): string => {
    const root = tempDir(t, 'root');
    for (const [name, text] of Object.entries(layout)) {
      const file = path.join(root, name);
      if (text === null) {
        mkdirSync(file, { recursive: true });
      } else {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, text);
      }
    }
    return root;
  };
  const pressureText =
    'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
  const cmdline = 'console=ttyS0 quiet\n';

  t.equal(psiAbsence(fake(t, { 'proc/pressure/memory': pressureText })), undefined, 'present: nothing missing');
  const none = fake(t, { 'proc/cmdline': cmdline, 'sys/fs/cgroup': null });
  t.equal(psiAbsence(none)?.kind, 'no-psi', 'no /proc/pressure, no cgroup pressure file, no psi=: the kernel has none');
  t.equal(
    psiAbsence(fake(t, { 'proc/cmdline': 'quiet psi=1\n' }))?.kind,
    'no-psi',
    'psi=1 asked for and still none: built without it',
  );
  t.equal(psiAbsence(fake(t, { 'proc/cmdline': 'quiet psi=0\n' }))?.kind, 'disabled', 'psi=0');
  // A container runtime's mount over /proc/pressure leaves the directory.
  const masked = fake(t, { 'proc/cmdline': cmdline, 'proc/pressure': null });
  t.equal(psiAbsence(masked)?.kind, 'hidden', '/proc/pressure masked by an empty mount');
  const cgroupShows = fake(t, { 'proc/cmdline': cmdline, 'sys/fs/cgroup/memory.pressure': pressureText });
  t.equal(psiAbsence(cgroupShows)?.kind, 'hidden', 'no /proc/pressure, but the cgroup shows PSI');
  const hybrid = fake(t, { 'proc/cmdline': cmdline, 'sys/fs/cgroup/unified/cpu.pressure': pressureText });
  t.equal(psiAbsence(hybrid)?.kind, 'hidden', "a hybrid host's cgroup2 mount shows PSI");

  // The doctor's fix follows the diagnosis: not "build with CONFIG_PSI" for a hidden /proc/pressure.
  const unavailable = { kind: 'unavailable', reason: 'not here' } as const;
  const noneCheck = psiCheck(unavailable, none);
  const hiddenCheck = psiCheck(unavailable, masked);
  t.equal(noneCheck.status, 'warn');
  t.equal(hiddenCheck.status, 'warn');
  t.notSame(hiddenCheck.remedy, noneCheck.remedy, 'a different fix for hidden PSI than for a kernel without it');
  t.same(psiCheck(unavailable, cgroupShows).remedy, hiddenCheck.remedy);
  t.end();
});

t.test(
  '/proc/pressure that exists but may not be read is hidden, not absent',
  {
    skip: process.getuid?.() === 0 && hasCommand('setpriv') ? false : 'needs root and setpriv to read as another user',
  },
  (t) => {
    const root = tempDir(t, 'root');
    mkdirSync(path.join(root, 'proc/pressure'), { recursive: true });
    writeFileSync(path.join(root, 'proc/pressure/memory'), 'some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n', {
      mode: 0o600,
    });
    writeFileSync(path.join(root, 'proc/cmdline'), 'quiet\n');
    spawnSync('chmod', ['755', root]);
    // From a copy of the built package nobody may read: the checkout may be private (a 0700 clone).
    const install = readableInstall(t);
    const script = `const { psiAbsence } = require(${JSON.stringify(path.join(install.root, 'lib/paging/pressure.js'))});
    process.stdout.write(JSON.stringify(psiAbsence(${JSON.stringify(root)})));`;
    // In the copy's directory too: Node 24 reads the package.json above the
    // working directory for -e, and the checkout's parent may be private.
    const child = spawnSync('env', ['-u', 'NODE_OPTIONS', ...AS_NOBODY, install.node, '-e', script], {
      encoding: 'utf8',
      cwd: install.root,
      env: { ...process.env, ...install.env },
    });
    t.equal(child.status, 0, child.stderr);
    t.equal(JSON.parse(child.stdout).kind, 'hidden', 'EACCES: the kernel has PSI, this process may not read it');
    t.end();
  },
);
