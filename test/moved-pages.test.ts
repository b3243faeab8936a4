// movedPages(): the frames of locked pages, recorded at each call and compared
// at the next, checked against /proc/self/pagemap read directly. Moving pages
// for real needs compaction: test/locked-moves.test.ts.
// test-tier: quick
import t from 'tap';
import { binding } from '../src/binding';
import { lock, movedPages, pageSize } from '../src/index';
import { cannotDropPrivileges, runFixture } from './helpers/child';
import { pagemapFrames } from './helpers/compaction';
import { alignedPages } from './helpers/kernel';
import { CAN_ON_FAULT } from './helpers/capability';

const linux = process.platform === 'linux';

/** Whether this process sees real frames (CAP_SYS_ADMIN): a touched page reads a PFN above 0. */
function framesReadable(): boolean {
  const page = alignedPages(1);
  page[0] = 1;
  return (pagemapFrames(binding.addressOf(page), 1)[0] ?? 0n) > 0n;
}

const readable = linux && framesReadable();

t.test(
  'the first call records a baseline; the next compares with it and finds the frames pagemap shows',
  { skip: readable ? false : 'needs /proc/self/pagemap frames (Linux, CAP_SYS_ADMIN)' },
  (t) => {
    t.match(movedPages(), { readable: true }, 'frames readable here, even with nothing locked'); // and forgets what earlier tests left
    const view = alignedPages(32);
    view.fill(7);
    const held = lock(view);
    t.teardown(() => held.release());
    const first = movedPages();
    t.equal(first.readable, true);
    t.ok(first.lockedPages >= 32, 'counts the locked pages');
    t.ok(first.newPages >= 32, 'the new lock is a baseline, not compared');
    const second = movedPages();
    t.equal(second.newPages, 0, 'seen before: compared now');
    t.equal(second.lockedPages, first.lockedPages);
    // Nothing forced a move: whatever moved, pagemap saw move too (it is the kernel's record).
    const frames = pagemapFrames(binding.addressOf(view), 32);
    t.ok(
      frames.every((f) => f !== null && f > 0n),
      'every locked page has a frame in pagemap',
    );
    t.equal(second.presentPages, second.lockedPages, 'every locked (faulted in) page is present');
    t.ok(second.movedPages <= second.lockedPages);
    t.end();
  },
);

t.test(
  'pages locked on fault and never touched have no frame, and are not compared',
  { skip: readable && CAN_ON_FAULT ? false : 'needs pagemap frames and MLOCK_ONFAULT' },
  (t) => {
    // Above glibc's largest mmap threshold (32 MiB): a fresh mapping, untouched;
    // 16 pages away from its start (malloc's header).
    const fresh = new Uint8Array(new ArrayBuffer(40 * 1024 * 1024));
    const skip = (pageSize - (binding.addressOf(fresh) % pageSize)) % pageSize;
    const view = fresh.subarray(skip + 16 * pageSize, skip + 32 * pageSize);
    const held = lock(view, { onFault: true });
    t.teardown(() => held.release());
    movedPages();
    const report = movedPages();
    t.ok(report.lockedPages - report.presentPages >= 16, 'the 16 untouched pages are not present');
    t.same(
      pagemapFrames(binding.addressOf(view), 16),
      Array.from({ length: 16 }, () => null),
      'pagemap agrees: not present',
    );
    t.end();
  },
);

t.test(
  'released pages are forgotten: a later lock of the same bytes starts a new baseline',
  { skip: readable ? false : 'needs pagemap frames' },
  (t) => {
    const view = alignedPages(8);
    view.fill(1);
    lock(view).release();
    const held = lock(view);
    const withLock = movedPages();
    held.release();
    t.equal(movedPages().lockedPages, withLock.lockedPages - 8, 'the released pages are no longer counted');
    const again = lock(view);
    t.teardown(() => again.release());
    t.ok(movedPages().newPages >= 8, 'relocked pages are new again');
    t.end();
  },
);

t.test(
  'without CAP_SYS_ADMIN the kernel shows PFN 0: readable false, nothing compared',
  { skip: !linux ? 'Linux only' : (cannotDropPrivileges() ?? false) },
  (t) => {
    const run = runFixture('moved-pages.ts', {
      prefix: ['setpriv', '--inh-caps=-sys_admin', '--bounding-set=-sys_admin'],
    });
    t.equal(run.status, 0, run.stderr);
    const { report, frames, nothingLocked } = JSON.parse(run.stdout) as {
      report: Record<string, unknown>;
      frames: (string | null)[];
      nothingLocked: Record<string, unknown>;
    };
    t.match(nothingLocked, { readable: false, lockedPages: 0 }, 'said also when nothing is locked');
    t.same(
      frames,
      Array.from({ length: 8 }, () => '0'),
      'pagemap itself: present, PFN 0 for every page',
    );
    t.match(report, { readable: false, movedPages: 0, newPages: 0, moved: [] });
    t.ok((report['presentPages'] as number) >= 8);
    t.end();
  },
);

t.test('movedPages() outside Linux is ERR_MEMLOCK_UNSUPPORTED', { skip: linux ? 'on Linux' : false }, (t) => {
  t.throws(() => movedPages(), { code: 'ERR_MEMLOCK_UNSUPPORTED' });
  t.end();
});
