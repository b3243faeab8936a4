// The testing build (raw munlock behind memlock's back), loaded before src/.
// test-tier: quick
import { NO_TESTING_BUILD } from './helpers/testing-build';
import { spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import t from 'tap';
import { binding } from '../src/binding';
import {
  allocPinned,
  allocSecret,
  eachLock,
  getDiagnostics,
  getLockablePageLimit,
  kernelStatus,
  lock,
  locks,
  locksPage,
  pageSize,
  setDiagnostics,
  setLockablePageLimit,
  stats,
  unlock,
  verify,
  type LimitMessage,
  type LockMessage,
  type PageLock,
  type ReleaseMessage,
} from '../src/index';
import { hasCommand, runFixture } from './helpers/child';
import { hooks } from './helpers/hooks';
import { alignedPages, vmLockedBytes } from './helpers/kernel';
import { CAN_ON_FAULT, needs } from './helpers/capability';

function listen<T>(t: { teardown(fn: () => void): void }, name: string): T[] {
  const messages: T[] = [];
  const onMessage = (message: unknown) => messages.push(message as T);
  diagnosticsChannel.subscribe(name, onMessage);
  t.teardown(() => diagnosticsChannel.unsubscribe(name, onMessage));
  return messages;
}

t.test('locks() lists a labelled lock with its range, count and stack', (t) => {
  const view = alignedPages(4);
  const inner = view.subarray(100, 3 * pageSize);
  setDiagnostics({ captureStacks: true });
  t.same(getDiagnostics(), { captureStacks: true });
  const outer = lock(view, { label: 'frame ring' });
  const nested = lock(inner);
  setDiagnostics({ captureStacks: false });
  const plain = lock(inner, { onFault: CAN_ON_FAULT });
  const address = binding.addressOf(view);

  const mine = locks().filter((l) => l.start >= address && l.start < address + 4 * pageSize);
  t.equal(mine.length, 3, 'three locks on the range');
  const [first, second, third] = mine;
  t.match(first, {
    address,
    length: 4 * pageSize,
    start: address,
    bytes: 4 * pageSize,
    pages: 4,
    count: 3,
    sticky: false,
    onFault: false,
    threadId: 0,
    label: 'frame ring',
  });
  t.match(first?.stack, /diagnostics\.test\.ts/, 'the stack names the caller');
  t.notMatch(first?.stack, /page-lock/, "without memlock's own frames");
  t.match(second, { address: address + 100, length: 3 * pageSize - 100, start: address, pages: 3, count: 3 });
  t.equal(second?.label, undefined, 'no label given');
  t.match(second?.stack, /diagnostics\.test\.ts/);
  t.match(third, { onFault: CAN_ON_FAULT, count: 3 });
  t.equal(third?.stack, undefined, 'stacks off again');
  t.equal(outer.label, 'frame ring');

  for (const held of [plain, nested, outer]) held.release();
  t.equal(locks().filter((l) => l.start === address).length, 0, 'released locks are gone');
  t.throws(() => setDiagnostics({ captureStacks: 'yes' } as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => lock(view, { label: 5 } as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.end();
});

t.test("a label reads back as given: '' is a label, not none (lock and allocPinned)", (t) => {
  const view = alignedPages(3);
  const address = binding.addressOf(view);
  const ofView = () => locks().filter((l) => l.start >= address && l.start < address + 3 * pageSize);
  const held = [lock(view, { label: '' }), lock(view), lock(view, { label: '\0x' }), lock(view, { label: '\0' })];
  t.same(
    held.map((h) => h.label),
    ['', undefined, '\0x', '\0'],
    'on the handles',
  );
  const listed = ofView();
  t.same(
    listed.map((l) => l.label),
    ['', undefined, '\0x', '\0'],
    'in locks()',
  );
  t.ok(Object.hasOwn(listed[0]!, 'label') && !Object.hasOwn(listed[1]!, 'label'), "'' is there; no label is not");
  for (const h of held) h.release();

  const pinned = allocPinned(pageSize, { label: '' });
  t.equal(pinned.label, '', 'a pinned buffer keeps its empty label');
  const pinnedAddress = binding.addressOf(pinned.buffer);
  t.equal(locks().find((l) => l.address === pinnedAddress)?.label, '', 'and locks() shows it');
  pinned.free();
  t.end();
});

t.test('locks() shows sticky pages', (t) => {
  const view = alignedPages(1);
  const held: PageLock[] = [];
  for (let i = 0; i < 0xffff; i += 1) held.push(lock(view));
  const address = binding.addressOf(view);
  const listed = locks().filter((l) => l.start === address);
  t.ok(
    listed.every((l) => l.sticky && l.count === 0xffff),
    'every lock on it reports sticky',
  );
  for (const h of held) h.release();
  t.end();
});

t.test('locks() is oldest first, also when a lock reuses a released slot', (t) => {
  const view = alignedPages(5);
  const page = (i: number) => view.subarray(i * pageSize, (i + 1) * pageSize);
  const address = binding.addressOf(view);
  // Lock ids carry their slot's generation. Leave a slot with a high
  // generation under one with a low generation on the free list, so that
  // B below gets the high one and C, although newer, gets a lower id.
  const p = lock(page(0));
  const q = lock(page(1));
  p.release();
  for (let i = 0; i < 1000; i += 1) lock(page(0)).release();
  q.release();
  const a = lock(page(2));
  const b = lock(page(3));
  a.release();
  const c = lock(page(4)); // reuses A's slot
  const mine = locks().filter((l) => l.start >= address && l.start < address + 5 * pageSize);
  t.same(
    mine.map((l) => (l.start - address) / pageSize),
    [3, 4],
    'B then C',
  );
  const F = binding.numbers.lockFields;
  const { rows } = binding.locks();
  const ids: number[] = [];
  for (let r = 0; r < rows.length; r += F.fieldCount) {
    const start = rows[r + F.start]!;
    if (start >= address && start < address + 5 * pageSize) ids.push(rows[r + F.id]!);
  }
  t.ok(ids[0]! > ids[1]!, `in taking order, not id order (ids ${ids.join(', ')})`);
  b.release();
  c.release();
  t.end();
});

t.test('locksPage() and eachLock() list what locks() lists, a page at a time', (t) => {
  const view = alignedPages(25);
  const page = (i: number) => view.subarray(i * pageSize, (i + 1) * pageSize);
  const held = Array.from({ length: 25 }, (_, i) => lock(page(i), i % 5 === 0 ? { label: `page ${i}` } : {}));
  held[3]!.release(); // a gap in the taking order
  const all = locks();
  const pages: ReturnType<typeof locksPage>[] = [];
  let after: number | null = null;
  do {
    const next = locksPage({ after, limit: 7 });
    pages.push(next);
    after = next.next;
  } while (after !== null && pages.length < 100);
  t.same(
    pages.flatMap((p) => p.locks),
    all,
    `${pages.length} pages of at most 7 hold what locks() holds, in its order, labels included`,
  );
  t.ok(
    pages.slice(0, -1).every((p) => p.locks.length === 7),
    'every page but the last is full',
  );
  t.equal(pages.at(-1)!.next, null, 'the last page says so');
  t.same([...eachLock({ limit: 4 })], all, 'eachLock() walks the same list');
  t.same(locksPage({ limit: all.length }), { locks: all, next: null }, 'one page that holds all ends the walk');

  // The walk is not a snapshot: a lock taken during it comes in a later page,
  // one released before its page is not listed.
  const first = locksPage({ limit: 1 });
  const late = lock(page(3), { label: 'taken during the walk' });
  const lastOfMine = held.at(-1)!;
  lastOfMine.release();
  const rest: typeof all = [];
  for (let after: number | null = first.next; after !== null;) {
    const next = locksPage({ after, limit: 5 });
    rest.push(...next.locks);
    after = next.next;
  }
  t.equal(rest.at(-1)!.label, 'taken during the walk', 'the lock taken during the walk is listed last');
  t.equal(rest.length + first.locks.length, all.length, 'one more, one fewer');
  const end = locksPage({ after: Number.MAX_SAFE_INTEGER });
  t.same(end, { locks: [], next: null }, 'after the newest: an empty page');
  late.release();
  for (const l of held) if (!l.released) l.release();
  t.end();
});

t.test('locksPage() refuses bad input with a code', (t) => {
  const before = locks();
  t.throws(() => locksPage({ limit: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => locksPage({ limit: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => locksPage({ limit: 2 ** 31 + 1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => locksPage({ limit: '10' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => locksPage({ after: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => locksPage({ after: 0.5 }), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => locksPage({ after: '3' as unknown as number }), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => locksPage(null as unknown as object), { code: 'ERR_INVALID_ARG_TYPE' });
  t.throws(() => [...eachLock({ limit: -2 })], { code: 'ERR_OUT_OF_RANGE' });
  t.same(locks(), before, 'nothing changed');
  t.end();
});

t.test(
  'verify() agrees with the kernel, and reports pages unlocked behind its back',
  { skip: NO_TESTING_BUILD || needs('kernelAccount') },
  (t) => {
    const view = alignedPages(8);
    const held = lock(view);
    const before = verify();
    t.ok(before.ok, 'the kernel agrees');
    t.equal(before.missingPages, 0);
    t.ok(before.countedPages >= 8);
    t.equal(hooks().rawMunlock(view.subarray(2 * pageSize, 5 * pageSize)), 0, "munlock behind memlock's back");
    const after = verify();
    t.notOk(after.ok, 'verify notices');
    t.equal(after.missingPages, 3);
    t.same(after.missing, [{ address: binding.addressOf(view) + 2 * pageSize, bytes: 3 * pageSize }]);
    held.release();
    t.ok(verify().ok, 'consistent again once released');
    t.end();
  },
);

t.test(
  'verify() while workers lock and release their own buffers: every report is ok',
  { skip: needs('kernelAccount') },
  (t) => {
    const child = runFixture('verify-workers.ts');
    t.equal(child.status, 0, child.stderr.slice(0, 300));
    const r = JSON.parse(child.stdout);
    t.same(r.rounds, [40_000, 40_000, 40_000], 'every worker did its rounds');
    t.equal(r.verifies, 200, 'the main thread verified 200 times');
    t.equal(r.badCount, 0, `no report said ok: false (${r.whileBusy} of them while workers were locking)`);
    t.same(r.bad, []);
    t.ok(r.final.ok, 'and the last one, with everything released');
    t.end();
  },
);

t.test('channels: lock and release, with the documented fields', (t) => {
  const locked = listen<LockMessage>(t, 'memlock:lock');
  const released = listen<ReleaseMessage>(t, 'memlock:release');
  const view = alignedPages(2);
  const held = lock(view, { label: 'ch' });
  t.equal(locked.length, 1);
  t.match(locked[0], { view, pages: 2, bytes: 2 * pageSize, onFault: false, label: 'ch' });
  t.equal(locked[0]?.lock, held, 'carries the PageLock');
  held.release();
  held.release(); // no second message
  t.equal(released.length, 1);
  t.match(released[0], { pages: 2, bytes: 2 * pageSize, label: 'ch' });
  t.equal(released[0]?.lock, held);
  const again = lock(view);
  unlock(view);
  t.equal(released.length, 2, 'unlock(view) publishes too');
  t.equal(released[1]?.lock, again, 'with the PageLock it released');
  t.end();
});

t.test('channels: memlock:limit when the lockable-page limit refuses a lock', (t) => {
  const limited = listen<LimitMessage>(t, 'memlock:limit');
  const limit = getLockablePageLimit();
  t.teardown(() => setLockablePageLimit(limit));
  const view = alignedPages(4);
  const held = lock(view.subarray(0, pageSize));
  setLockablePageLimit(stats().lockedPages + 1);
  t.throws(() => lock(view, { label: 'big' }), { code: 'ERR_MEMLOCK_LIMIT' });
  t.equal(limited.length, 1);
  t.match(limited[0], { view, pages: 4, newPages: 3, lockedPages: stats().lockedPages, label: 'big' });
  t.equal(limited[0]?.limitPages, stats().lockedPages + 1);
  held.release();
  t.end();
});

t.test('channels: memlock:limit when the lockable-page limit refuses secret memory', (t) => {
  const limited = listen<LimitMessage>(t, 'memlock:limit');
  const limit = getLockablePageLimit();
  t.teardown(() => setLockablePageLimit(limit));
  const locked = stats().lockedPages;
  setLockablePageLimit(locked);
  t.throws(() => allocSecret(3 * pageSize, { placement: 'guarded' }), { code: 'ERR_MEMLOCK_LIMIT' });
  t.equal(limited.length, 1, 'a guarded secret');
  t.same(
    limited[0],
    {
      view: undefined,
      pages: 3,
      newPages: 3,
      lockedPages: locked,
      limitPages: locked,
      label: 'memlock: guarded secret',
    },
    'its three pages (not the guard pages), no view, labelled as locks() shows such memory',
  );
  t.throws(() => allocSecret(32), { code: 'ERR_MEMLOCK_LIMIT' });
  t.equal(limited.length, 2, 'a pooled secret that needs a new slab');
  t.same(
    limited[1],
    {
      view: undefined,
      pages: 1,
      newPages: 1,
      lockedPages: locked,
      limitPages: locked,
      label: 'memlock: secret memory',
    },
    "the new slab's one page",
  );
  const unlocked = allocSecret(32, { lock: 'best-effort' });
  t.equal(unlocked.locked, false);
  t.equal(limited.length, 2, 'best-effort is not refused: no message');
  unlocked.free();
  t.end();
});

// /dev/null bound over the file in a mount namespace of the child's own.
const EMPTY_MAX_MAP_COUNT = [
  'unshare',
  '--mount',
  'sh',
  '-c',
  'mount --bind /dev/null /proc/sys/vm/max_map_count && exec "$@"',
  'sh',
];
const cannotEmpty =
  process.getuid?.() !== 0 || !hasCommand('unshare')
    ? 'needs root and unshare to empty vm.max_map_count for a child'
    : spawnSync(EMPTY_MAX_MAP_COUNT[0]!, [...EMPTY_MAX_MAP_COUNT.slice(1), 'true']).status !== 0
      ? 'cannot make a mount namespace here'
      : false;

t.test(
  'an empty vm.max_map_count is unreadable (ERR_MEMLOCK_PROC_FORMAT), not a cap of 0',
  { skip: needs('kernelAccount') || cannotEmpty },
  (t) => {
    const child = runFixture('empty-max-map-count.ts', { prefix: EMPTY_MAX_MAP_COUNT });
    t.equal(child.status, 0, child.stderr.slice(-2000));
    const r = JSON.parse(child.stdout) as {
      kernelStatus: { code: string; isMemlockError: boolean } | null;
      doctor: { status: string; code: string };
      mapGuard: { cap: number; margin: number } | null;
    };
    t.match(r.kernelStatus, { isMemlockError: true, code: 'ERR_MEMLOCK_PROC_FORMAT' }, 'kernelStatus() throws');
    t.same(r.doctor, { status: 'fail', code: 'ERR_MEMLOCK_PROC_FORMAT' }, 'doctor says it could not check');
    if (r.mapGuard !== null) {
      t.same(
        r.mapGuard,
        { cap: 65530, margin: Math.max(1024, Math.floor(65530 / 16)) },
        "native code keeps its margin below the kernel's default cap, not none",
      );
    }
    t.end();
  },
);

t.test("kernelStatus() gives the kernel's figures", { skip: needs('kernelAccount') }, (t) => {
  const view = alignedPages(1024); // 4 MiB
  const before = kernelStatus();
  const held = lock(view);
  const now = kernelStatus();
  t.equal(now.pid, process.pid);
  t.equal(now.vmLckBytes - before.vmLckBytes, 4 << 20, 'VmLck grew by 4 MiB');
  t.equal(now.vmLckBytes, vmLockedBytes(), 'the same as /proc/self/status');
  t.ok(now.smapsLockedBytes >= 4 << 20, 'smaps Locked: counts it');
  t.equal(now.capIpcLock, process.getuid?.() === 0, 'root has CAP_IPC_LOCK here');
  t.ok(now.rlimitMemlock.soft > 0 && now.rlimitMemlock.hard >= now.rlimitMemlock.soft);
  t.ok(now.mappings > 10 && now.maxMappings >= 65530);
  held.release();
  t.equal(kernelStatus(process.ppid).pid, process.ppid, 'another process works too');
  t.throws(() => kernelStatus(2 ** 30), { code: 'ENOENT', name: 'MemlockError' }, 'no such process');
  t.throws(() => kernelStatus(0), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => kernelStatus('1' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  t.end();
});
