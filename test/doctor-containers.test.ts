// doctor's remedies are true for the user who runs it: the kernel lets
// CAP_IPC_LOCK lift RLIMIT_MEMLOCK for any uid (mm/mlock.c: capable(), in the
// initial user namespace), but a non-root user keeps the capability across
// exec only as an ambient (or file) capability, which "add IPC_LOCK" in
// docker or Kubernetes does not set; in a user namespace it never counts.
// Each case runs doctor, and then what its remedies say, as that user.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { MEMLOCK_REMEDIES, NON_ROOT_MEMLOCK_REMEDIES, USER_NAMESPACE_MEMLOCK_REMEDIES } from '../src/native-failure';
import { AS_NOBODY, readableInstall } from './helpers/other-user';
import { hasCommand, runFixture } from './helpers/child';
import { NO_TESTING_BUILD } from './helpers/testing-build';

const MiB = 1 << 20;
const RLIMIT = ['prlimit', `--memlock=${8 * MiB}`];
const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;
const skip =
  process.getuid?.() !== 0
    ? 'needs root (to become nobody, and to grant or drop CAP_IPC_LOCK)'
    : !hasCommand('setpriv') || !hasCommand('prlimit')
      ? 'needs setpriv and prlimit (util-linux)'
      : false;

t.test('remedies hold for root, for nobody, and in a user namespace', { skip }, (t) => {
  const install = readableInstall(t);
  const run = (prefix: string[], args: string[]) => {
    const r = spawnSync('env', ['-u', 'NODE_OPTIONS', ...prefix, install.node, ...args], {
      encoding: 'utf8',
      env: { ...env, ...install.env },
      cwd: install.root,
    });
    return r;
  };
  const doctor = (prefix: string[]) => {
    const r = run(prefix, [install.cli, 'doctor', '--json', '--size', '64']);
    const report = JSON.parse(r.stdout) as { checks: { id: string; status: string; remedy: string[] }[] };
    return (id: string) => report.checks.find((c) => c.id === id)!;
  };
  // Locks `mib` MiB (64: over the 8 MiB limit) and says whether the kernel allowed it.
  const lock64 = (prefix: string[], mib = 64) =>
    run(prefix, [
      '-e',
      `const m = require(${JSON.stringify(path.join(install.root, 'lib', 'index.js'))});
       try { m.lock(Buffer.alloc(${mib * MiB})).release(); console.log('locked'); }
       catch (e) { console.log(e.code); }`,
    ]).stdout.trim();

  // nobody, the limit 8 MiB, no capability: refused; the non-root remedies.
  const nobody = [...RLIMIT, ...AS_NOBODY];
  const asNobody = doctor(nobody);
  t.equal(asNobody('rlimit').status, 'fail');
  t.same(asNobody('rlimit').remedy, NON_ROOT_MEMLOCK_REMEDIES, 'the non-root remedies');
  t.notOk(
    asNobody('rlimit').remedy.some((r) => /cap-add IPC_LOCK\)$/.test(r)),
    'no remedy says --cap-add alone helps a non-root user',
  );
  t.equal(lock64(nobody), 'ENOMEM', 'refused as doctor says');
  // "cap-add" as a runtime does it: in the bounding and inheritable sets, not ambient: still refused.
  t.equal(
    lock64([...RLIMIT, ...AS_NOBODY, '--inh-caps=+ipc_lock']),
    'ENOMEM',
    'an added, non-ambient capability is dropped at exec',
  );
  // What the remedies say works: an ambient capability (systemd AmbientCapabilities=), or a limit
  // that is high enough (--ulimit, LimitMEMLOCK=; raising it here needs CAP_SYS_RESOURCE, which
  // this machine withholds, so: a lock under the limit, the limit being what binds).
  t.equal(lock64([...RLIMIT, ...AS_NOBODY, '--inh-caps=+ipc_lock', '--ambient-caps=+ipc_lock']), 'locked');
  t.equal(lock64(nobody, 4), 'locked', 'under the limit nobody locks without any capability');
  const ambient = doctor([...RLIMIT, ...AS_NOBODY, '--inh-caps=+ipc_lock', '--ambient-caps=+ipc_lock']);
  t.equal(ambient('rlimit').status, 'pass', 'with an ambient CAP_IPC_LOCK nobody is not bound, as for root');
  t.equal(ambient('cap-effective').status, 'pass');

  // root without the capability: the root remedies, and adding it works.
  const dropped = [...RLIMIT, 'setpriv', '--inh-caps=-ipc_lock', '--bounding-set=-ipc_lock'];
  t.same(doctor(dropped)('rlimit').remedy, MEMLOCK_REMEDIES);
  t.equal(lock64(dropped), 'ENOMEM');
  t.equal(lock64(RLIMIT), 'locked', 'root with CAP_IPC_LOCK is not bound');

  // A user namespace: root there, every capability there, and still bound.
  if (!hasCommand('unshare') || run(['unshare', '-Ur'], ['-e', '']).status !== 0) {
    t.comment('no unprivileged user namespaces here: that case not run');
    return t.end();
  }
  const userns = [...RLIMIT, 'unshare', '-Ur'];
  const inNs = doctor(userns);
  t.equal(inNs('user-namespace').status, 'warn');
  t.equal(inNs('cap-effective').status, 'warn', 'CAP_IPC_LOCK is effective there but does not count');
  t.equal(inNs('rlimit').status, 'fail', 'the limit binds');
  t.same(inNs('rlimit').remedy, USER_NAMESPACE_MEMLOCK_REMEDIES);
  t.equal(lock64(userns), 'ENOMEM', 'refused as doctor says');
  t.end();
});

t.test(
  'a seccomp filter refusing mlock2 and memfd_secret: doctor fails the seccomp check with the profile remedies',
  { skip: NO_TESTING_BUILD || (process.arch !== 'x64' && process.arch !== 'arm64' ? 'x64 and arm64 only' : false) },
  (t) => {
    const child = runFixture('seccomp-doctor.ts');
    t.equal(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout) as {
      installed: number[];
      seccomp: { status: string; finding: string; remedy: string[] };
      secretBackend: { status: string; finding: string };
    };
    t.same(r.installed, [0, 0], 'both filters are in place');
    t.equal(r.seccomp.status, 'fail', r.seccomp.finding);
    t.match(r.seccomp.finding, /seccomp filter\(s\); mlock2 \(lock with onFault\) refused \(EPERM\)/);
    t.ok(
      r.seccomp.remedy.some((line) => line.includes('seccompProfile')) &&
        r.seccomp.remedy.some((line) => line.includes('SystemCallFilter')),
      'the remedies name the Kubernetes and systemd settings',
    );
    t.match(r.secretBackend.finding, /mlock/, `the secret backend check sees the fallback: ${r.secretBackend.finding}`);
    t.end();
  },
);
