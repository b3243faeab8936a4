// Pinned buffers (allocPinned), checked against the kernel: alignment, smaps
// Locked: and VmFlags over the whole range, huge pages as AnonHugePages or
// hugetlb, residency with no fault on first touch, and nothing left behind
// by free(), GC or a refusal.
// test-exclusive: the hugetlb pool (vm.nr_hugepages)
import diagnosticsChannel from 'node:diagnostics_channel';
import path from 'node:path';
import t from 'tap';
import { binding } from '../src/binding';
import {
  allocPinned,
  getLockablePageLimit,
  hugePageSupport,
  lock,
  lockCounts,
  locks,
  MAX_PINNED_SIZE,
  pageSize,
  pinnedStats,
  residency,
  setLockablePageLimit,
  stats,
  type PinnedBuffer,
} from '../src/index';
import { procMappings, type Mapping } from '../src/proc';
import {
  cannotDropPrivileges,
  runFixture,
  SKIP_MADVISE_FLAGS_UNDER_QEMU,
  unprivileged,
  UNDER_QEMU,
} from './helpers/child';
import {
  cannotSizePool,
  pinnedAccount,
  poolPages,
  threadMinorFaults,
  touchPages,
  withHugetlbPool,
} from './helpers/huge-pages';
import { kernelLockState, noMlock2, tableAgreesWithKernel, vmLockedBytes } from './helpers/kernel';
import { needs } from './helpers/capability';
import { tsWorker } from './helpers/ts-worker';

const MiB = 1 << 20;
const THP = hugePageSupport().transparent;

function mappingOf(buffer: Buffer): Mapping {
  const address = binding.addressOf(buffer);
  const mapping = procMappings('self').find((m) => m.start <= address && address < m.end);
  if (!mapping) throw new Error('no mapping holds the buffer');
  return mapping;
}

t.test('base pages: aligned, locked page by page per the kernel, counted, labelled, resident', (t) => {
  const before = pinnedAccount();
  const pinned = allocPinned(3 * pageSize + 100, { label: 'rt ring' });
  t.equal(pinned.size, 3 * pageSize + 100);
  t.equal(pinned.buffer.length, pinned.size);
  t.equal(pinned.mappedBytes, 4 * pageSize, 'whole pages mapped');
  t.equal(pinned.hugePages, 'none');
  t.equal(pinned.pageSize, pageSize);
  t.equal(binding.addressOf(pinned.buffer) % pageSize, 0, 'page-aligned');
  const kernel = kernelLockState(pinned.buffer);
  t.equal(kernel.lockedPages, kernel.totalPages, 'VmFlags lo over every page');
  t.equal(kernel.onFaultPages, 0, 'locked now, not on fault');
  t.equal(kernel.lockedBytes, 4 * pageSize, 'smaps Locked: covers all of it');
  t.same([...new Set(lockCounts(pinned.buffer))], [1], 'one counted lock on every page');
  t.equal(stats().lockedPages, before.lockedPages + 4);
  t.equal(vmLockedBytes(), before.vmLckBytes + 4 * pageSize, 'VmLck grew by the buffer');
  const held = locks().find((l) => l.label === 'rt ring');
  t.ok(held, 'locks() shows it with its label');
  t.equal(held?.pages, 4);
  t.same(residency(pinned.buffer), { residentPages: 4, totalPages: 4 }, 'every page resident on return');
  t.ok(
    pinned.buffer.every((b) => b === 0),
    'zeroed, as fresh memory',
  );
  t.same(pinnedStats(), { live: before.pinned.live + 1, mappedBytes: before.pinned.mappedBytes + 4 * pageSize });
  t.ok(tableAgreesWithKernel().ok, "memlock's table and the kernel agree");
  pinned.free();
  t.ok(pinned.freed);
  t.equal(pinned.buffer.length, 0, 'the Buffer is detached');
  t.same(pinnedAccount(), before, 'free() unmapped it: counts, VmLck, mappings and stats as before');
  pinned.free();
  t.end();
});

t.test('prefault: the first touch of every page takes no fault; onFault defers them', (t) => {
  const pages = 4096;
  // Compile the loop first, on memory that is already resident.
  const warm = allocPinned(16 * pageSize);
  for (let i = 0; i < 200; i += 1) touchPages(warm.buffer, pageSize);
  warm.free();

  const pinned = allocPinned(pages * pageSize);
  const before = threadMinorFaults();
  touchPages(pinned.buffer, pageSize);
  const faults = threadMinorFaults() - before;
  t.ok(faults < pages / 100, `${faults} minor faults touching ${pages} prefaulted pages (getrusage)`);
  pinned.free();

  const skip = needs('onFault') || noMlock2();
  if (skip) return t.end();
  const lazy = allocPinned(pages * pageSize, { onFault: true });
  t.equal(lazy.onFault, true);
  t.equal(lazy.prefaulted, false);
  t.equal(residency(lazy.buffer).residentPages, 0, 'onFault: nothing resident yet');
  const kernel = kernelLockState(lazy.buffer);
  t.equal(kernel.onFaultPages, kernel.totalPages, 'VmFlags lo lf: locked on fault');
  const lazyBefore = threadMinorFaults();
  touchPages(lazy.buffer, pageSize);
  t.ok(threadMinorFaults() - lazyBefore >= pages, 'each first touch faulted (the check above can fail)');
  t.equal(residency(lazy.buffer).residentPages, pages, 'and stays resident, locked');
  t.equal(kernelLockState(lazy.buffer).lockedBytes, pages * pageSize, 'smaps Locked: all of it now');
  lazy.free();

  const both = allocPinned(64 * pageSize, { onFault: true, prefault: true });
  t.equal(residency(both.buffer).residentPages, 64, 'onFault with prefault: resident anyway');
  both.free();
  t.end();
});

t.test(
  'transparent huge pages: 2 MiB-aligned, AnonHugePages, locked',
  { skip: needs('hugePages') || (THP.mode === 'never' ? 'THP is off here' : false) },
  (t) => {
    const before = pinnedAccount();
    const pinned = allocPinned(8 * MiB, { hugePages: 'try' });
    t.equal(pinned.hugePages, 'transparent', 'the kernel gave transparent huge pages');
    t.equal(pinned.pageSize, THP.pageSize);
    t.equal(binding.addressOf(pinned.buffer) % THP.pageSize, 0, 'aligned to the huge page size');
    const mapping = mappingOf(pinned.buffer);
    t.ok(mapping.anonHugeBytes > 0, `smaps AnonHugePages: ${mapping.anonHugeBytes} bytes`);
    t.equal(pinned.hugePageBytes, 8 * MiB, 'all of it, as read back');
    t.ok(mapping.flags.includes('hg'), 'VmFlags hg (MADV_HUGEPAGE)');
    const kernel = kernelLockState(pinned.buffer);
    t.equal(kernel.lockedPages, kernel.totalPages, 'VmFlags lo over the whole range');
    t.equal(kernel.lockedBytes, 8 * MiB, 'smaps Locked: all of it');
    t.ok(tableAgreesWithKernel().ok);
    pinned.free();
    t.same(pinnedAccount(), before, 'free() leaves nothing');
    t.end();
  },
);

t.test(
  'hugetlb pages from a pool the test sizes, and puts back',
  { skip: needs('hugePages') || cannotSizePool() || (UNDER_QEMU ? 'hugetlb under qemu-user' : false) },
  async (t) => {
    const original = poolPages('nr_hugepages');
    await withHugetlbPool(original + 4, (got) => {
      if (!t.equal(got, original + 4, 'the kernel sized the pool')) return;
      const before = pinnedAccount();
      const free = poolPages('free_hugepages');
      const pinned = allocPinned(3 * MiB, { hugePages: 'require', label: 'rt hugetlb' });
      t.equal(pinned.hugePages, 'hugetlb');
      t.equal(pinned.pageSize, 2 * MiB);
      t.equal(pinned.mappedBytes, 4 * MiB, 'two 2 MiB pages');
      t.equal(binding.addressOf(pinned.buffer) % (2 * MiB), 0, 'aligned to 2 MiB');
      const mapping = mappingOf(pinned.buffer);
      t.equal(mapping.kernelPageBytes, 2 * MiB, 'smaps KernelPageSize: 2048 kB');
      t.ok(mapping.flags.includes('ht'), 'VmFlags ht');
      t.equal(poolPages('free_hugepages'), free - 2, 'the pool gave two pages');
      t.same(
        residency(pinned.buffer),
        { residentPages: (3 * MiB) / pageSize, totalPages: (3 * MiB) / pageSize },
        'prefaulted',
      );
      t.ok(pinned.buffer.every((b) => b === 0));
      t.same([...new Set(lockCounts(pinned.buffer))], [1], 'counted like any pinned buffer');
      t.ok(locks().some((l) => l.label === 'rt hugetlb'));
      t.ok(tableAgreesWithKernel().ok, 'verify() takes hugetlb memory (ht) as never leaving RAM');
      const tried = allocPinned(MiB, { hugePages: 'try' });
      t.equal(tried.hugePages, 'hugetlb', "'try' takes the pool first");
      tried.free();
      if (THP.mode !== 'never') {
        const transparent = allocPinned(2 * MiB, { hugePages: 'require', hugePageSource: 'transparent' });
        t.equal(transparent.hugePages, 'transparent', "hugePageSource 'transparent' passes the pool by");
        t.equal(mappingOf(transparent.buffer).kernelPageBytes, pageSize);
        transparent.free();
      }
      pinned.free();
      t.equal(poolPages('free_hugepages'), free, 'free() gave the pages back to the pool');
      t.same(pinnedAccount(), before);
    });
    t.equal(poolPages('nr_hugepages'), original, 'the pool is as it was');
    t.end();
  },
);

t.test(
  "'require' with no pool and THP off for the process: refused, nothing changed",
  { skip: needs('hugePages', 'onFault') || cannotSizePool() || (UNDER_QEMU ? 'hugetlb under qemu-user' : false) },
  async (t) => {
    await withHugetlbPool(0, () => {
      // PR_SET_THP_DISABLE: no transparent huge pages for this child, whatever the mode.
      const child = runFixture('pinned-refusals.ts', {
        prefix: [
          'python3',
          '-c',
          'import ctypes, os, sys; ctypes.CDLL(None).prctl(41, 1, 0, 0, 0); os.execvp(sys.argv[1], sys.argv[1:])',
        ],
        args: ['no-huge-pages'],
      });
      t.equal(child.status, 0, child.stderr.slice(-2000));
      const r = JSON.parse(child.stdout) as Record<
        string,
        { code?: string; unchanged?: boolean; hugePages?: string; message?: string }
      >;
      t.equal(r['require']?.code, 'ERR_MEMLOCK_HUGE_PAGES', 'refused with a code');
      t.match(r['require']?.message, /nr_hugepages/, 'naming the remedy');
      t.ok(r['require']?.unchanged, 'and nothing is left mapped or counted');
      t.equal(r['require 1 GiB']?.code, 'ERR_MEMLOCK_HUGE_PAGES', 'a page size the kernel lacks: refused too');
      t.ok(r['require 1 GiB']?.unchanged);
      t.equal(
        r['require hugetlb']?.code,
        'ERR_MEMLOCK_HUGE_PAGES',
        "hugePageSource 'hugetlb' with the pool at 0: refused",
      );
      t.ok(r['require hugetlb']?.unchanged);
      t.equal(r['onFault require']?.code, 'ERR_MEMLOCK_HUGE_PAGES', 'onFault cannot require transparent pages');
      t.equal(r['try']?.hugePages, 'none', "'try' falls back to base pages and says so");
    });
    t.end();
  },
);

t.test('refusals leave nothing mapped or counted', async (t) => {
  const before = pinnedAccount();
  const limit = getLockablePageLimit();
  setLockablePageLimit(stats().lockedPages + 8);
  try {
    t.throws(() => allocPinned(16 * pageSize), { code: 'ERR_MEMLOCK_LIMIT' }, 'over the lockable-page limit');
    t.same(pinnedAccount(), before, 'nothing mapped or counted');
    allocPinned(8 * pageSize).free();
  } finally {
    setLockablePageLimit(limit);
  }
  const skip = cannotDropPrivileges();
  if (skip) return t.end();
  const child = runFixture('pinned-refusals.ts', { prefix: unprivileged(MiB), args: ['rlimit'] });
  t.equal(child.status, 0, child.stderr.slice(-2000));
  const r = JSON.parse(child.stdout) as {
    refused: { code: string; syscall: string };
    unchanged: boolean;
    small: boolean;
  };
  t.equal(r.refused.code, 'ENOMEM', 'RLIMIT_MEMLOCK 1 MiB without CAP_IPC_LOCK: 4 MiB refused with its errno');
  t.equal(r.refused.syscall, 'mlock');
  t.ok(r.unchanged, 'nothing mapped or counted');
  t.ok(r.small, 'what fits the limit is still pinned');
  t.end();
});

t.test(
  "'try' falls back to base pages when a limit refuses the huge-rounded size but not the size in base pages; 'require' still refuses",
  { skip: needs('hugePages') || (THP.mode === 'never' ? 'THP is off here' : false) },
  (t) => {
    // 1 MiB is 256 base pages; on 2 MiB pages it is 512. The limit lets 384 more in.
    const before = pinnedAccount();
    const limit = getLockablePageLimit();
    t.teardown(() => setLockablePageLimit(limit));
    setLockablePageLimit(stats().lockedPages + (MiB + MiB / 2) / pageSize);
    const refused: unknown[] = [];
    const onLimit = (message: unknown) => refused.push(message);
    diagnosticsChannel.subscribe('memlock:limit', onLimit);
    t.teardown(() => diagnosticsChannel.unsubscribe('memlock:limit', onLimit));
    const pinned = allocPinned(MiB, { hugePages: 'try', label: 'fallback' });
    t.equal(pinned.hugePages, 'none', 'on base pages');
    t.equal(pinned.pageSize, pageSize);
    t.equal(pinned.mappedBytes, MiB, 'the size in base pages, locked');
    t.equal(kernelLockState(pinned.buffer).lockedPages, MiB / pageSize, 'locked per the kernel');
    t.same(refused, [], 'no refusal published: the call did not fail');
    pinned.free();
    t.throws(() => allocPinned(MiB, { hugePages: 'require' }), { code: 'ERR_MEMLOCK_LIMIT' }, "'require' refuses");
    t.equal(refused.length, 1, 'and that refusal is published');
    t.same(pinnedAccount(), before, 'nothing mapped or counted');
    setLockablePageLimit(limit);

    const skip = cannotDropPrivileges();
    if (skip) return t.end();
    // RLIMIT_MEMLOCK 1.5 MiB, no CAP_IPC_LOCK: 2 MiB is refused by the kernel, 1 MiB is not.
    const child = runFixture('pinned-refusals.ts', { prefix: unprivileged(MiB + MiB / 2), args: ['rlimit-huge'] });
    t.equal(child.status, 0, child.stderr.slice(-2000));
    const r = JSON.parse(child.stdout) as {
      tried: { hugePages: string; mappedBytes: number; locked: boolean };
      require: { code: string; syscall: string; message: string; unchanged: boolean };
    };
    t.same(
      r.tried,
      { hugePages: 'none', mappedBytes: MiB, locked: true },
      "under RLIMIT_MEMLOCK, 'try' falls back to base pages",
    );
    t.equal(r.require.code, 'ENOMEM', "'require' is refused by the kernel");
    t.equal(r.require.syscall, 'mlock');
    t.match(r.require.message, /could not lock 2 MiB/, 'naming the size it tried to lock, 2 MiB pages of it');
    t.ok(r.require.unchanged, 'nothing mapped or counted');
    t.end();
  },
);

t.test(
  "onFork 'drop' (default): a spawn costs the parent no copy-on-write faults",
  { skip: needs('dropOnFork') },
  (t) => {
    const pages = 4096;
    // Faults this thread takes writing `buffer` right after a spawn (libuv forks to spawn: the
    // parent's private memory turns copy-on-write, the V8 heap's and the sanitizer's included).
    // Noise only adds (a GC or an allocation writing heap pages), so the least of three rounds is
    // the closest to the buffer's own faults.
    const faultsWritingAfterSpawn = (buffer: Buffer): number => {
      let least = Infinity;
      for (let round = 0; round < 3; round++) {
        const child = require('node:child_process').spawnSync('true');
        t.equal(child.status, 0);
        const before = threadMinorFaults();
        touchPages(buffer, pageSize);
        least = Math.min(least, threadMinorFaults() - before);
      }
      return least;
    };
    // The harness's own faults (heap pages written for the first time since the fork): the same
    // steps writing one page, taken as the noise floor.
    const onePage = allocPinned(pageSize, { onFork: 'drop' });
    touchPages(onePage.buffer, pageSize);
    const noise = faultsWritingAfterSpawn(onePage.buffer);
    onePage.free();
    const results: Record<string, number> = {};
    for (const onFork of ['drop', 'keep'] as const) {
      const pinned = allocPinned(pages * pageSize, { onFork });
      t.equal(pinned.onFork, onFork);
      t.equal(mappingOf(pinned.buffer).flags.includes('dc'), onFork === 'drop', `VmFlags dc only for 'drop'`, {
        skip: SKIP_MADVISE_FLAGS_UNDER_QEMU,
      });
      touchPages(pinned.buffer, pageSize);
      results[onFork] = faultsWritingAfterSpawn(pinned.buffer);
      pinned.free();
    }
    t.ok(
      results['drop']! < noise + pages / 100,
      `'drop': ${results['drop']} faults writing ${pages} pages after a spawn (${noise} writing one page)`,
    );
    t.ok(results['keep']! >= pages, `'keep': ${results['keep']} (every page copied on write: the check can fail)`, {
      skip: UNDER_QEMU ? 'qemu-user spawns without a real fork' : false,
    });
    t.end();
  },
);

t.test('a count taken with lock() ends with the memory; GC frees a dropped buffer', async (t) => {
  const before = pinnedAccount();
  const pinned = allocPinned(4 * pageSize);
  const extra = lock(pinned.buffer);
  t.same([...new Set(lockCounts(pinned.buffer))], [2], 'a user lock nests on it');
  pinned.free();
  t.equal(extra.released, true, 'unmapping ended the user lock too');
  extra.release();
  t.same(pinnedAccount(), before);

  const child = runFixture('pinned-refusals.ts', { node: ['--expose-gc'], args: ['gc'] });
  t.equal(child.status, 0, child.stderr.slice(-2000));
  const r = JSON.parse(child.stdout) as { liveBefore: number; liveAfter: number; lockedAfter: number; mapped: boolean };
  t.equal(r.liveBefore, 1);
  t.equal(r.liveAfter, 0, 'collected with its Buffer');
  t.equal(r.lockedAfter, 0, 'and its counts went with it');
  t.notOk(r.mapped, 'its range is no longer mapped');
  t.end();
});

t.test('bad arguments: Node-style errors, nothing changed', (t) => {
  const before = pinnedAccount();
  const cases: [unknown, unknown, string][] = [
    [0, undefined, 'ERR_OUT_OF_RANGE'],
    [-1, undefined, 'ERR_OUT_OF_RANGE'],
    [1.5, undefined, 'ERR_OUT_OF_RANGE'],
    [MAX_PINNED_SIZE + 1, undefined, 'ERR_OUT_OF_RANGE'],
    ['4096', undefined, 'ERR_INVALID_ARG_TYPE'],
    [4096, null, 'ERR_INVALID_ARG_TYPE'],
    [4096, { hugePages: 'yes' }, 'ERR_INVALID_ARG_VALUE'],
    [4096, { hugePages: true }, 'ERR_INVALID_ARG_TYPE'],
    [4096, { hugePages: 'try', hugePageSize: 3 * MiB }, 'ERR_OUT_OF_RANGE'],
    [4096, { hugePages: 'try', hugePageSize: pageSize }, 'ERR_OUT_OF_RANGE'],
    [4096, { hugePageSize: 2 * MiB }, 'ERR_INVALID_ARG_VALUE'],
    [4096, { prefault: false, onFault: false }, 'ERR_INVALID_ARG_VALUE'],
    [4096, { prefault: 1 }, 'ERR_INVALID_ARG_TYPE'],
    [4096, { onFork: 'wipe' }, 'ERR_INVALID_ARG_VALUE'],
    [4096, { label: 5 }, 'ERR_INVALID_ARG_TYPE'],
    [4096, { hugePages: 'try', hugePageSource: 'pool' }, 'ERR_INVALID_ARG_VALUE'],
    [4096, { hugePageSource: 'hugetlb' }, 'ERR_INVALID_ARG_VALUE'],
  ];
  for (const [size, options, code] of cases) {
    t.throws(
      () => allocPinned(size as number, options as never),
      { code },
      `${JSON.stringify(size)}, ${JSON.stringify(options)}`,
    );
  }
  const one = allocPinned(1);
  const PinnedBufferClass = one.constructor as new () => PinnedBuffer;
  one.free();
  t.throws(() => new PinnedBufferClass(), { code: 'ERR_ILLEGAL_CONSTRUCTOR' });
  t.same(pinnedAccount(), before, 'nothing mapped or counted');
  t.end();
});

t.test('workers allocate and free pinned buffers at once; their exits unmap what they kept', async (t) => {
  const before = pinnedAccount();
  const reports = await Promise.all(
    [1, 2, 3, 4].map(
      (seed) =>
        new Promise<{ mismatches: number; kept: number }>((resolve, reject) => {
          const worker = tsWorker(path.join(__dirname, 'fixtures', 'pinned-worker.ts'), {
            workerData: { rounds: 60, seed },
          });
          let report: { mismatches: number; kept: number } | undefined;
          worker.on('message', (m: { mismatches: number; kept: number }) => (report = m));
          worker.on('error', reject);
          worker.on('exit', () => (report ? resolve(report) : reject(new Error('no report'))));
        }),
    ),
  );
  t.same(
    reports.map((r) => r.mismatches),
    [0, 0, 0, 0],
    'every buffer held its bytes and a count of 1',
  );
  t.ok(
    reports.every((r) => r.kept === 6),
    'each worker kept some for its exit',
  );
  t.same(pinnedAccount(), before, 'after the exits: no pinned buffer, count, lock or locked mapping left');
  t.ok(tableAgreesWithKernel().ok);
  t.end();
});
