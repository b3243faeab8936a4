// hardenProcess(): RLIMIT_CORE 0 and PR_SET_DUMPABLE 0, checked in child
// processes (they are process-wide and one-way) against /proc/self/limits,
// the owner of /proc/self's files and prctl(PR_GET_DUMPABLE).
import t from 'tap';
import { hardenProcess, processHardening } from '../src/index';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { cannotDropPrivileges, runFixture } from './helpers/child';
import { AS_NOBODY, NOBODY, readableInstall } from './helpers/other-user';

const LINUX = process.platform === 'linux' ? false : 'PR_SET_DUMPABLE and /proc are Linux';

t.test('as root: no core dumps, not dumpable, per the kernel; a second call changes nothing', { skip: LINUX }, (t) => {
  const child = runFixture('harden.ts');
  t.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout);
  t.equal(r.before.prctlDumpable, true, 'dumpable before');
  t.same(r.changed, ['noCoreDumps', 'notDumpable']);
  t.same(r.failed, []);
  t.same([r.after.coreSoft, r.after.coreHard], ['0', '0'], '/proc/self/limits: Max core file size 0 0');
  t.equal(r.after.prctlDumpable, false, 'PR_GET_DUMPABLE 0');
  t.same(r.state, { coreLimit: { soft: 0, hard: 0 }, dumpable: false, yamaPtraceScope: r.state.yamaPtraceScope });
  t.same(r.unchanged, ['noCoreDumps', 'notDumpable'], 'the second call finds both done');
  t.ok(r.readsOwnMaps, 'the process still reads its own /proc files');
  t.end();
});

t.test(
  "as another user: /proc/self's files become root-owned, and memlock status run by that user reports what it can read (exit 3)",
  { skip: LINUX || (cannotDropPrivileges() ?? false) },
  async (t) => {
    const install = readableInstall(t);
    // Started as nobody (exec leaves it dumpable, as setuid in-process would not).
    const script =
      `const m = require(${JSON.stringify(install.root)} + '/lib/index.js');` +
      "const fs = require('fs');" +
      "const before = fs.statSync('/proc/self/status').uid;" +
      'm.hardenProcess();' +
      "process.stdout.write(JSON.stringify({ before, after: fs.statSync('/proc/self/status').uid, dumpable: m.processHardening().dumpable }) + '\\n');" +
      'setTimeout(() => {}, 60000);';
    // In the readable copy: Node 24 resolves an -e script's require() from the
    // working directory up, and refuses a package.json it may not read (a
    // checkout in a 0700 directory) instead of passing it by.
    const child = spawn('env', ['-u', 'NODE_OPTIONS', ...AS_NOBODY, install.node, '-e', script], {
      cwd: install.root,
      env: { ...process.env, ...install.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => child.kill('SIGKILL'));
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const r = JSON.parse(line);
    t.equal(r.before, NOBODY, "before: the process's own user owns /proc/<pid>/status");
    t.equal(r.after, 0, 'after: root does');
    t.equal(r.dumpable, false);
    const status = spawnSync(
      'env',
      ['-u', 'NODE_OPTIONS', ...AS_NOBODY, install.node, install.cli, 'status', '--json', '--pid', String(child.pid)],
      { encoding: 'utf8', cwd: install.root, env: { ...process.env, ...install.env } },
    );
    t.equal(status.status, 3, `memlock status of it, as its own user, is partial (exit 3): ${status.stderr.trim()}`);
    const report = JSON.parse(status.stdout) as {
      unreadable: string[];
      vmLckBytes: unknown;
      smapsLockedBytes: unknown;
    };
    t.ok(
      report.unreadable.length > 0,
      `the root-owned files it could not read are listed: ${report.unreadable.join(', ')}`,
    );
    t.equal(report.smapsLockedBytes, null, 'what it could not read is null');
    t.type(report.vmLckBytes, 'number', 'VmLck, from the world-readable status file, is reported');
    t.notMatch(status.stderr, /\n\s+at /, 'no stack trace');
    t.end();
  },
);

t.test('this process: processHardening() reads without changing; bad options change nothing', { skip: LINUX }, (t) => {
  const state = processHardening();
  t.equal(state.dumpable, true);
  t.ok(state.coreLimit !== null);
  const anyHarden = hardenProcess as (options: unknown) => unknown;
  t.throws(() => anyHarden('yes'), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => anyHarden({ notDumpable: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.same(processHardening(), state, 'nothing changed');
  t.end();
});
