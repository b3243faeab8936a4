// test-exclusive: million locks
// A million live one-page locks: taken, listed, verified and released with
// memlock's table and the kernel's account agreeing, in bounded memory. No
// speed is asserted (bench/scale measures that); the RSS bound has generous
// headroom over the ~300 B a lock measured (docs/scale.md).
//
// The locks are onFault (mlock2 MLOCK_ONFAULT) on untouched memory, taken in
// ascending page order: the kernel merges them into one mapping per chunk
// (one-page locks in random order would split a mapping per lock and stop at
// vm.max_map_count), and a million of them cost no 4 GiB of RAM.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { binding } from '../src/binding';
import {
  eachLock,
  getLockablePageLimit,
  lock,
  lockCounts,
  locks,
  pageSize,
  stats,
  verify,
  type PageLock,
} from '../src/index';
import { needs, CAN_ON_FAULT } from './helpers/capability';
import { SKIP_SLOW_UNDER_QEMU, UNDER_ASAN } from './helpers/child';
import { kernelLockState } from './helpers/kernel';

const LOCKS = 1_000_000;
const CHUNK_PAGES = 2 ** 18; // 1 GiB ArrayBuffers (Node 20 caps one at 4 GiB)
const RSS_PER_LOCK_BOUND = 1024; // bytes: handle, registry record, table entry, with headroom
const TOUCH_EVERY = 4096; // pages: one resident page per 16 MiB, for smaps Locked:

const vmLckKb = (): number => Number(/^VmLck:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

function skipReason(): string | false {
  if (!CAN_ON_FAULT) return 'no mlock2(MLOCK_ONFAULT) here';
  if (UNDER_ASAN) return 'a million locks under ASan take minutes; the ASan run covers the same paths at small scale';
  if (getLockablePageLimit() < LOCKS + 65536) return 'the lockable-page limit is below a million pages';
  return needs('kernelAccount') || SKIP_SLOW_UNDER_QEMU;
}

t.test(
  'a million live locks: taken, listed, verified, released; table and kernel agree',
  { skip: skipReason() },
  (t) => {
    const chunks: Uint8Array[] = [];
    const views: Uint8Array[] = [];
    while (views.length < LOCKS) {
      const pages = Math.min(CHUNK_PAGES, LOCKS - views.length);
      const backing = new Uint8Array(new ArrayBuffer((pages + 1) * pageSize));
      const skip = (pageSize - (binding.addressOf(backing) % pageSize)) % pageSize;
      const chunk = backing.subarray(skip, skip + pages * pageSize);
      chunks.push(chunk);
      for (let i = 0; i < pages; i++) views.push(chunk.subarray(i * pageSize, (i + 1) * pageSize));
    }
    const before = stats();
    const vmLckBefore = vmLckKb();
    const rssBefore = process.memoryUsage().rss;

    const handles: PageLock[] = new Array<PageLock>(LOCKS);
    for (let i = 0; i < LOCKS; i++) handles[i] = lock(views[i]!, { onFault: true });
    for (let i = 0; i < LOCKS; i += TOUCH_EVERY) views[i]![0] = 1;
    const rssPerLock = (process.memoryUsage().rss - rssBefore) / LOCKS;

    const held = stats();
    t.equal(held.heldLocks - before.heldLocks, LOCKS, 'stats() counts a million more locks');
    t.equal(held.lockedPages - before.lockedPages, LOCKS, 'and a million more locked pages');
    t.equal(vmLckKb() - vmLckBefore, (LOCKS * pageSize) / 1024, 'VmLck grew by exactly the million pages');
    let onFaultPages = 0;
    let lockedBytes = 0;
    for (const chunk of chunks) {
      const state = kernelLockState(chunk);
      t.equal(state.lockedPages, state.totalPages, 'every page of the chunk is VM_LOCKED (smaps VmFlags lo)');
      onFaultPages += state.onFaultPages;
      lockedBytes += state.lockedBytes;
    }
    t.equal(onFaultPages, LOCKS, 'all of them locked on fault (VmFlags lf)');
    t.equal(lockedBytes, Math.ceil(LOCKS / TOUCH_EVERY) * pageSize, 'smaps Locked: counts exactly the pages touched');
    t.ok(rssPerLock <= RSS_PER_LOCK_BOUND, `RSS per live lock ${rssPerLock.toFixed(0)} B <= ${RSS_PER_LOCK_BOUND} B`);

    const listed = locks();
    const first = binding.addressOf(views[0]!);
    const mine = listed.filter((l) =>
      chunks.some((c) => l.start >= binding.addressOf(c) && l.start < binding.addressOf(c) + c.byteLength),
    );
    t.equal(mine.length, LOCKS, 'locks() lists every one of them');
    let inOrder = true;
    let shapes = true;
    for (let i = 0; i < mine.length; i++) {
      const l = mine[i]!;
      if (l.address !== binding.addressOf(views[i]!)) inOrder = false;
      if (l.pages !== 1 || l.count !== 1 || !l.onFault || l.length !== pageSize) shapes = false;
    }
    t.ok(inOrder, 'oldest first: in the order they were taken');
    t.ok(shapes, 'each one page, count 1, onFault');
    t.equal(mine[0]!.address, first);
    // The paged walk lists the same, in the same order, without one second-long call.
    let walked = 0;
    let walkSame = true;
    for (const l of eachLock({ limit: 50_000 })) {
      if (l.start !== listed[walked]?.start || l.address !== listed[walked]?.address) walkSame = false;
      walked += 1;
    }
    t.ok(walkSame && walked === listed.length, `eachLock() in pages of 50,000 walks what locks() lists (${walked})`);

    const report = verify();
    t.ok(report.ok, 'verify(): the kernel has every counted page locked');
    t.ok(report.countedPages >= LOCKS, 'and it counted them all');

    // Released in ascending order: each munlock trims the front of one
    // mapping, so the mapping count stays flat.
    for (const handle of handles) handle.release();
    const after = stats();
    t.equal(after.heldLocks, before.heldLocks, 'every lock released');
    t.equal(after.lockedPages, before.lockedPages, 'no page left counted');
    t.equal(vmLckKb(), vmLckBefore, 'VmLck is back where it was');
    for (const chunk of chunks)
      t.equal(kernelLockState(chunk).lockedPages, 0, 'no page of the chunk locked per the kernel');
    t.ok(
      lockCounts(chunks[0]!).every((c) => c === 0),
      'counts are 0',
    );
    t.ok(verify().ok);
    t.end();
  },
);
