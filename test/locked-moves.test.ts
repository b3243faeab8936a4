// Locked is resident, not pinned: with vm.compact_unevictable_allowed=1,
// compaction of a fragmented machine moves locked pages to other frames; at 0
// it moves none. movedPages() must report what /proc/self/pagemap, read here
// directly, shows.
// test-exclusive: system settings (vm.compact_unevictable_allowed, compaction, 1 GiB of fragmented memory)
import t from 'tap';
import { binding } from '../src/binding';
import { lock, movedPages, pageSize } from '../src/index';
import {
  cannotCompact,
  cannotFragment,
  changeCompactUnevictable,
  compactMemory,
  fragmentMemory,
  pagemapFrames,
} from './helpers/compaction';
import { alignedPages } from './helpers/kernel';

const MiB = 1024 * 1024;
const LOCKED = 256 * MiB;
// A 2 GiB tmpfs file with every other page punched out: 1 GiB used, 1 GiB of holes.
const FRAGMENT = 2048 * MiB;
// Compaction moves pages only where it finds holes above them: on some rounds
// it has nothing to do. The rounds bound the tries, not the time.
const ROUNDS = 4;

function framesVisible(): boolean {
  const page = alignedPages(1);
  page[0] = 1;
  return (pagemapFrames(binding.addressOf(page), 1)[0] ?? 0n) > 0n;
}

const skip =
  cannotCompact() ??
  cannotFragment(FRAGMENT + LOCKED) ??
  (framesVisible() ? undefined : 'pagemap shows no frames to this process (needs CAP_SYS_ADMIN)');

interface Round {
  /** Pages whose frame pagemap shows changed. */
  direct: number;
  report: ReturnType<typeof movedPages>;
  /** Of the report's moved runs, pages inside the locked view. */
  reportedInView: number;
}

/** Locks `view`, records frames, fragments memory, compacts, and compares. */
function compactionRound(view: Uint8Array): Round {
  const address = binding.addressOf(view);
  const pages = view.byteLength / pageSize;
  const before = pagemapFrames(address, pages);
  movedPages(); // the baseline: frames now
  const release = fragmentMemory(FRAGMENT);
  try {
    compactMemory();
  } finally {
    release();
  }
  const report = movedPages();
  const after = pagemapFrames(address, pages);
  let direct = 0;
  for (let i = 0; i < pages; i += 1) if (before[i] !== after[i]) direct += 1;
  const end = address + view.byteLength;
  let reportedInView = 0;
  for (const run of report.moved) {
    const from = Math.max(run.address, address);
    const to = Math.min(run.address + run.bytes, end);
    if (to > from) reportedInView += (to - from) / pageSize;
  }
  return { direct, report, reportedInView };
}

function lockedView(t: { teardown(fn: () => void): void }): Uint8Array {
  const view = alignedPages(LOCKED / pageSize);
  const held = lock(view);
  t.teardown(() => held.release());
  return view;
}

t.test(
  'compact_unevictable_allowed=1: compaction moves locked pages, and movedPages() reports what pagemap shows',
  { skip: skip ?? false },
  (t) => {
    changeCompactUnevictable(t, 1);
    const view = lockedView(t);
    let moved = 0;
    for (let round = 1; round <= ROUNDS && moved === 0; round += 1) {
      const { direct, report, reportedInView } = compactionRound(view);
      t.equal(report.readable, true);
      t.equal(report.lockedPages, LOCKED / pageSize, 'the only lock held');
      t.equal(report.newPages, 0, 'every page was in the baseline');
      t.equal(report.movedPages, direct, `round ${round}: movedPages() counts the ${direct} pages pagemap shows moved`);
      t.equal(reportedInView, direct, 'and names them');
      t.comment(`round ${round}: ${direct} of ${LOCKED / pageSize} locked pages changed frame`);
      moved = direct;
    }
    if (moved === 0)
      // A skipped subtest carries the reason into the report.
      t.skip(
        `compaction moved no locked page in ${ROUNDS} rounds: it found nothing to compact around them on this machine now`,
        (st) => st.end(),
      );
    else t.ok(moved > 0, `${moved} locked pages moved: locked is not pinned`);
    t.end();
  },
);

t.test(
  'compact_unevictable_allowed=0: compaction leaves every locked page in its frame',
  { skip: skip ?? false },
  (t) => {
    changeCompactUnevictable(t, 0);
    const view = lockedView(t);
    for (let round = 1; round <= 2; round += 1) {
      const { direct, report, reportedInView } = compactionRound(view);
      t.equal(direct, 0, `round ${round}: pagemap shows no locked page moved`);
      t.equal(report.movedPages, 0, 'movedPages() agrees');
      t.equal(reportedInView, 0);
      t.equal(report.presentPages, LOCKED / pageSize, 'every locked page still present');
    }
    t.end();
  },
);
