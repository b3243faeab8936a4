import { execFileSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { hasCommand, runFixture, UNDER_ASAN } from './helpers/child';

// The fault-injection build is a CMake target (CMakeLists.txt); it is built
// here, once, into build-cmake/.
const root = path.join(__dirname, '..');
const build = path.join(root, 'build-cmake');
const skip = hasCommand('cmake') ? false : 'needs cmake for the fault-injection build';

interface FaultRecord {
  call: string;
  syscall: string;
  errnoName: string;
  expected: string;
  nth: number;
  fired: number;
  code?: string;
  unchanged: boolean;
  locked?: boolean;
  arenaLockedPages: number;
  arenaCounted: number;
}

// Failures memlock documents as absorbed: a best-effort secret falls back to
// unlocked memory when the lock is refused; unlockAll ignores ENOMEM from a
// munlock (a mapping unmapped meanwhile) and a refused relock of a counted
// run (its pages are still locked, only perhaps of the other kind).
const ABSORBED = new Set([
  'allocSecret best-effort/mlock',
  'unlockAll/munlock/ENOMEM', 'unlockAll future/munlock/ENOMEM',
  'unlockAll/mlock', 'unlockAll/mlock2', 'unlockAll future/mlock', 'unlockAll future/mlock2',
]);
const absorbed = (r: FaultRecord) => ABSORBED.has(`${r.call}/${r.syscall}`) || ABSORBED.has(`${r.call}/${r.syscall}/${r.errnoName}`);

t.test('every public call x every failing syscall: its documented error, nothing changed', { skip }, (t) => {
  execFileSync('cmake', ['-S', root, '-B', build, '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], { stdio: 'ignore' });
  execFileSync('cmake', ['--build', build, '--target', 'memlock_faults', '-j2'], { stdio: 'ignore' });
  // About 30 s here; several times that with both cores busy.
  const child = runFixture('fault-matrix.ts', { env: { MEMLOCK_ADDON: path.join(build, 'memlock_faults.node') }, timeout: 240_000 });
  t.equal(child.status, 0, `signal ${child.signal}: ${child.stderr.slice(0, 500)}`);
  const { records, end } = JSON.parse(child.stdout) as { records: FaultRecord[]; end: { stats: { lockedPages: number; lockAll: unknown } } };
  const calls = UNDER_ASAN ? 9 : 12; // no whole-process locking under ASan
  t.equal(records.length, calls * 9 * 4 * 2, 'the whole matrix ran');

  let failedCleanly = 0;
  const problems: string[] = [];
  for (const r of records) {
    const name = `${r.call} / ${r.syscall} ${r.errnoName} #${r.nth}`;
    if (r.code !== undefined) {
      if (r.fired === 0) problems.push(`${name}: threw ${r.code} without an injected fault`);
      if (r.code !== r.expected) problems.push(`${name}: threw ${r.code}, not ${r.expected}`);
      if (!r.unchanged) problems.push(`${name}: threw but changed state`);
      failedCleanly += 1;
    } else if (r.fired > 0) {
      if (!absorbed(r)) problems.push(`${name}: the fault fired but the call succeeded`);
      else if (r.call.startsWith('unlockAll')) {
        if (r.arenaLockedPages !== 8 || r.arenaCounted !== 8) problems.push(`${name}: absorbed, but counted pages are not all locked`);
      } else if (r.locked !== false) problems.push(`${name}: absorbed, yet the secret claims to be locked`);
    }
  }
  t.same(problems, [], 'no case broke the rule');
  // 112 by hand: every (call, syscall, nth) whose syscall the call makes, times four errnos.
  t.ok(failedCleanly >= (UNDER_ASAN ? 90 : 100), `${failedCleanly} injected failures surfaced as their errno with nothing changed`);
  for (const [call, syscall] of [['lock', 'mlock'], ['lock onFault', 'mlock2'], ['release', 'munlock'], ['unlock(view)', 'munlock'],
    ['residency', 'mincore'], ['allocSecret pooled', 'mmap'], ['allocSecret guarded', 'mprotect'], ['allocSecret pooled', 'madvise'],
    ...(UNDER_ASAN ? [] : [['lockAll', 'mlockall'], ['unlockAll', 'munlock'], ['unlockAll future', 'mlockall'], ['unlockAll future', 'munlock']] as const)] as const) {
    const hits = records.filter((r) => r.call === call && r.syscall === syscall && r.nth === 1 && !absorbed(r));
    t.ok(hits.length > 0 && hits.every((r) => r.fired > 0 && r.code !== undefined), `${call}: a failing ${syscall} surfaces`);
  }
  if (!UNDER_ASAN) {
    // A refused relock of a counted run: absorbed, and its pages stay locked.
    for (const call of ['unlockAll', 'unlockAll future']) {
      const relocks = records.filter((r) => r.call === call && (r.syscall === 'mlock' || r.syscall === 'mlock2') && r.fired > 0);
      t.ok(relocks.length > 0 && relocks.every((r) => r.code === undefined && r.arenaLockedPages === 8), `${call}: a refused relock leaves the counted pages locked`);
    }
  }
  const second = records.filter((r) => r.nth === 2 && r.fired > 0 && r.code !== undefined).map((r) => `${r.call}/${r.syscall}`);
  t.ok(second.includes('lock/mlock') && second.includes('release/munlock'), 'failures part way (the 2nd syscall) roll back');
  t.equal(end.stats.lockedPages, 0, 'nothing left locked at the end');
  t.equal(end.stats.lockAll, null);
  t.end();
});
