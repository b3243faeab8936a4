// The portable backend (native/platform/posix.cc, what macOS builds), on
// Linux: its capability report, and every Linux-only call refused with
// ERR_MEMLOCK_UNSUPPORTED, changing nothing. The rest of the suite runs on
// it too (scripts/test-portable.sh). And the Linux backend's own report.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { capabilities } from '../src/index';
import { runFixture } from './helpers/child';

const PORTABLE_BUILD = path.join(__dirname, '..', 'build-cmake', 'memlock_portable.node');

t.test('the loaded backend reports what it has', (t) => {
  const caps = capabilities();
  t.equal(caps.platform, process.platform);
  t.equal(caps.countedLocks, true);
  t.equal(caps.secrets.locked, true);
  t.equal(caps.secrets.zeroedOnFree, true);
  if (caps.backend === 'linux') {
    t.match(
      caps,
      {
        lockAll: true,
        residency: true,
        kernelAccount: true,
        hugePages: true,
        pagingMonitor: true,
        secrets: { noCoreDump: true, onFork: 'wipe', guardPages: true },
      },
      'Linux: everything',
    );
  }
  t.ok(Object.isFrozen(caps), 'frozen');
  t.end();
});

t.test(
  'the portable backend: Linux-only calls refused, secrets degraded with one warning',
  {
    skip: existsSync(PORTABLE_BUILD)
      ? false
      : 'needs build-cmake/memlock_portable.node (npm test builds it with cmake)',
  },
  (t) => {
    // Not under the sanitizer run's LD_PRELOAD: the portable build calls libc's
    // mlock, which ASan's runtime turns into a no-op (the Linux backend makes
    // the raw syscalls for that reason).
    const child = runFixture('portable.ts', { env: { MEMLOCK_NATIVE_BINDING: PORTABLE_BUILD, LD_PRELOAD: '' } });
    t.equal(child.status, 0, child.stderr.slice(-2000));
    const r = JSON.parse(child.stdout);
    t.match(r.capabilities, {
      platform: 'linux',
      backend: 'posix',
      countedLocks: true,
      onFault: false,
      lockAll: false,
      residency: true,
      kernelAccount: false,
      hugePages: false,
      pagingMonitor: false,
      // Linux has no minherit: neither a wipe nor a drop (macOS has the drop).
      secrets: { locked: true, noCoreDump: false, onFork: 'copied', guardPages: true },
    });
    for (const [name, outcome] of Object.entries(
      r.refused as Record<string, { code: string; unchanged: boolean; message: string }>,
    )) {
      t.equal(outcome.code, 'ERR_MEMLOCK_UNSUPPORTED', `${name}: ERR_MEMLOCK_UNSUPPORTED`);
      t.ok(outcome.unchanged, `${name}: nothing changed`);
      t.match(
        outcome.message,
        /not supported on Linux \(the posix backend\): \S/,
        `${name}: names the platform and what to do`,
      );
    }
    t.equal(Object.keys(r.refused).length, 9, 'every Linux-only call was tried');
    t.equal(r.vmLckBytes, null, 'stats().vmLckBytes: null, not a guess');
    t.same(r.hugePageSupport, { hugetlb: [], transparent: { mode: 'never', pageSize: 0 } });
    t.same(
      r.secretFacts,
      [
        { locked: true, onFork: 'copied', noCoreDump: false },
        { locked: true, onFork: 'copied', noCoreDump: false },
        { locked: true, onFork: 'copied', noCoreDump: false },
      ],
      'secrets are locked, and say what they lack',
    );
    t.same(r.warnings, ['MEMLOCK_SECRET_DEGRADED'], 'one warning for all three, never silence');
    t.same(
      r.pinnedFacts,
      { hugePages: 'none', onFork: 'keep', locked: true },
      "allocPinned: base pages under 'try', locked",
    );
    t.equal(r.requireHuge, 'ERR_MEMLOCK_HUGE_PAGES', "'require' is refused");
    t.equal(r.end.stats.lockedPages, 0, 'everything released');
    for (const command of ['doctor', 'status']) {
      const cli = spawnSync(process.execPath, [path.join(__dirname, '..', 'lib', 'cli', 'index.js'), command], {
        encoding: 'utf8',
        env: { ...process.env, MEMLOCK_NATIVE_BINDING: PORTABLE_BUILD, NODE_OPTIONS: '', LD_PRELOAD: '' },
      });
      t.equal(cli.status, 1, `memlock ${command}: exit 1`);
      t.match(
        cli.stderr,
        new RegExp(`^memlock: memlock ${command} is not supported on Linux \\(the posix backend\\): it reads`),
        'one line that says why',
      );
    }
    t.equal(r.end.vmLck, 0, 'and the kernel agrees (VmLck, read by the test)');
    t.end();
  },
);
