import t from 'tap';
import { binding } from '../src/binding';
import { runFixture, UNDER_ASAN } from './helpers/child';
import { NO_TESTING_BUILD, TESTING_BUILD } from './helpers/testing-build';

// Fault injection is part of the testing build (CMake target
// memlock_testing, made by npm test before the suite).

interface FaultRecord {
  call: string;
  syscall: string;
  errnoName: string;
  expected: string;
  nth: number;
  fired: number;
  code?: string;
  unchanged: boolean;
  agrees: boolean;
  locked?: boolean;
  arenaLockedPages: number;
  arenaCounted: number;
}

// Failures memlock documents as absorbed: a best-effort secret falls back to
// unlocked memory when the lock is refused. munlock's ENOMEM says part of the
// range is no longer mapped, which unlocks it implicitly: a release goes on
// page by page (the table must then agree with the kernel), and unlockAll
// ignores it (a mapping unmapped meanwhile). unlockAll also absorbs a refused
// relock of a counted run (its pages are still locked, only perhaps of the
// other kind). A pinned buffer asked for with hugePages 'try' falls back to
// base pages when huge ones cannot be mapped, advised or locked (a limit may
// allow the size in base pages, not rounded to huge ones); a kernel without
// MADV_POPULATE_WRITE (EINVAL) is prefaulted by touching each page.
const ABSORBED = new Set([
  'allocSecret best-effort/mlock',
  'allocPinned try/mmap',
  'allocPinned try/madvise',
  'allocPinned onFault/madvise/EINVAL',
  // One refused lock is always survived: the base-page attempt locks anew.
  'allocPinned try/mlock',
  'release/munlock/ENOMEM',
  'unlock(view)/munlock/ENOMEM',
  'unlockAll/munlock/ENOMEM',
  'unlockAll future/munlock/ENOMEM',
  'unlockAll/mlock',
  'unlockAll/mlock2',
  'unlockAll future/mlock',
  'unlockAll future/mlock2',
]);
const absorbed = (r: FaultRecord) =>
  ABSORBED.has(`${r.call}/${r.syscall}`) || ABSORBED.has(`${r.call}/${r.syscall}/${r.errnoName}`);

t.test(
  'every public call x every failing syscall: its documented error, nothing changed',
  { skip: NO_TESTING_BUILD },
  (t) => {
    // The plain testing build, under ASan too (as before the split): the
    // matrix's 864 cases under the sanitizer take minutes on a loaded machine.
    const child = runFixture('fault-matrix.ts', { env: { MEMLOCK_NATIVE_BINDING: TESTING_BUILD } });
    t.equal(child.status, 0, `signal ${child.signal}: ${child.stderr.slice(0, 500)}`);
    const { records, end } = JSON.parse(child.stdout) as {
      records: FaultRecord[];
      end: { stats: { lockedPages: number; lockAll: unknown } };
    };
    const calls = UNDER_ASAN ? 13 : 16; // no whole-process locking under ASan
    // Every syscall but 'none': memfd_secret and ftruncate too (made by the secretmem backend only).
    t.equal(records.length, calls * (binding.numbers.syscalls.length - 1) * 4 * 2, 'the whole matrix ran');

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
          if (r.arenaLockedPages !== 8 || r.arenaCounted !== 8)
            problems.push(`${name}: absorbed, but counted pages are not all locked`);
        } else if (r.call.startsWith('allocSecret')) {
          if (r.locked !== false) problems.push(`${name}: absorbed, yet the secret claims to be locked`);
        } else if (!r.agrees) problems.push(`${name}: absorbed, yet the table and the kernel disagree`);
      }
    }
    t.same(problems, [], 'no case broke the rule');
    // 112 by hand: every (call, syscall, nth) whose syscall the call makes, times four errnos.
    t.ok(
      failedCleanly >= (UNDER_ASAN ? 90 : 100),
      `${failedCleanly} injected failures surfaced as their errno with nothing changed`,
    );
    for (const [call, syscall] of [
      ['lock', 'mlock'],
      ['lock onFault', 'mlock2'],
      ['release', 'munlock'],
      ['unlock(view)', 'munlock'],
      ['residency', 'mincore'],
      ['allocSecret pooled', 'mmap'],
      ['allocPinned', 'mmap'],
      ['allocPinned', 'madvise'],
      ['allocPinned', 'mlock'],
      ['allocPinned onFault', 'mlock2'],
      ['lockCode', 'mlock'],
      ['allocSecret guarded', 'mprotect'],
      ['allocSecret pooled', 'madvise'],
      ...(UNDER_ASAN
        ? []
        : ([
            ['lockAll', 'mlockall'],
            ['unlockAll', 'munlock'],
            ['unlockAll future', 'mlockall'],
            ['unlockAll future', 'munlock'],
          ] as const)),
    ] as const) {
      const hits = records.filter((r) => r.call === call && r.syscall === syscall && r.nth === 1 && !absorbed(r));
      t.ok(
        hits.length > 0 && hits.every((r) => r.fired > 0 && r.code !== undefined),
        `${call}: a failing ${syscall} surfaces`,
      );
    }
    if (!UNDER_ASAN) {
      // A refused relock of a counted run: absorbed, and its pages stay locked.
      for (const call of ['unlockAll', 'unlockAll future']) {
        const relocks = records.filter(
          (r) => r.call === call && (r.syscall === 'mlock' || r.syscall === 'mlock2') && r.fired > 0,
        );
        t.ok(
          relocks.length > 0 && relocks.every((r) => r.code === undefined && r.arenaLockedPages === 8),
          `${call}: a refused relock leaves the counted pages locked`,
        );
      }
    }
    const second = records
      .filter((r) => r.nth === 2 && r.fired > 0 && r.code !== undefined)
      .map((r) => `${r.call}/${r.syscall}`);
    t.ok(
      second.includes('lock/mlock') && second.includes('release/munlock'),
      'failures part way (the 2nd syscall) roll back',
    );
    t.equal(end.stats.lockedPages, 0, 'nothing left locked at the end');
    t.equal(end.stats.lockAll, null);
    t.end();
  },
);
