// The smaller measurements behind docs/scale.md ("What changed", "Where the
// remaining cost is"), one build at a time, so that two builds can be run
// alternately in one sitting: MEMLOCK_NATIVE_BINDING names the addon to load
// (an older build copied aside), or the installed build is used.
//
//   npm run bench:probe -- --case held|rss|pair|fresh|order [--live N]
//
// held: 20,000 locks taken on random pages of N live one-page locks and held,
//       then released newest last; beside it, reaching those views alone.
// rss:  RSS added per live lock while taking N (views made first, not counted).
// pair: lock(view).release() of one live page, and lockMany() of 1,000 live
//       views and release(), with N live.
// fresh: lock(view).release() of one resident page whose count goes 0 -> 1
//       -> 0 (an mlock and a munlock each), with N live; for a profile.
// order: user and system CPU time of release() of 2,000 fresh resident pages,
//       newest first and in random order, against the bare munlock of the
//       same pages in the same order (40 rounds; --order runs one order
//       only, for a profile). Needs the testing build, which exports the bare
//       syscalls: MEMLOCK_NATIVE_BINDING=$PWD/build-cmake/memlock_testing.node
// CPU time of this process per call (process.cpuUsage), median of --rounds (5).
import { binding } from '../../lib/binding';
import { lock, lockMany, pageSize, type PageLock } from '../../lib/index';
import { benchArgs, usageError } from '../common/cli';
import { median } from '../common/histogram';
import type { RawSyscalls } from '../common/testing-build';

const USAGE = `usage: npm run bench:probe -- --case held|rss|pair|fresh|order [--live N]
  --case   held (re-lock with handles held), rss (bytes per live lock), pair (re-lock pair and lockMany),
           fresh (lock().release() of a page no lock holds),
           order (user and system time of release() newest first and in random order; the testing build)
  --live   live one-page locks (default 1000000; fresh and order: 1000)
  --order  newest or random: the order case for one order only (default both)
  --rounds repetitions of the measured loop, median reported (default 5; more for a profile)
MEMLOCK_NATIVE_BINDING=/abs/path.node runs another build of the addon.`;

const args = benchArgs(USAGE, {
  case: { type: 'string' },
  live: { type: 'string' },
  order: { type: 'string' },
  rounds: { type: 'string', default: '5' },
});
// Repetitions of the measured loop (the median of them is reported): more
// for a profile, so that taking the live set is a small part of it.
const REPS = Number(args.rounds);
if (!Number.isInteger(REPS) || REPS < 1) usageError(USAGE, '--rounds: a positive integer');
const LIVE = Number(args.live ?? (args.case === 'order' || args.case === 'fresh' ? 1000 : 1_000_000));
if (!Number.isInteger(LIVE) || LIVE < 1000) usageError(USAGE, '--live: an integer >= 1000');
const ONFAULT = { onFault: true } as const;
const CHUNK_PAGES = 2 ** 18;
const gc = (globalThis as { gc?: () => void }).gc;

const cpuNs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
function perCall(calls: number, body: () => void): number {
  const ns: number[] = [];
  for (let rep = -1; rep < REPS; rep++) {
    const t0 = cpuNs();
    body();
    if (rep >= 0) ns.push((cpuNs() - t0) / calls);
  }
  return median(ns);
}

// One-page views, page-aligned, over untouched memory (as bench:scale makes them).
function pageViews(total: number): Uint8Array[] {
  const views: Uint8Array[] = [];
  while (views.length < total) {
    const want = Math.min(CHUNK_PAGES, total - views.length);
    const chunk = new Uint8Array(new ArrayBuffer((want + 1) * pageSize));
    const skip = (pageSize - (binding.addressOf(chunk) % pageSize)) % pageSize;
    for (let i = 0; i < want; i++) views.push(chunk.subarray(skip + i * pageSize, skip + (i + 1) * pageSize));
  }
  return views;
}

function add(a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): NodeJS.CpuUsage {
  return { user: a.user + b.user, system: a.system + b.system };
}

function randomPicks(count: number, below: number): Uint32Array {
  const picks = new Uint32Array(count);
  let s = 7;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    picks[i] = (s >>> 0) % below;
  }
  return picks;
}

const live = pageViews(LIVE);
gc?.();
const rssViews = process.memoryUsage().rss;
const handles: PageLock[] = [];
for (const view of live) handles.push(lock(view, ONFAULT));
const build = process.env['MEMLOCK_NATIVE_BINDING'] || 'the installed build';

switch (args.case) {
  case 'held': {
    const picks = randomPicks(20_000, LIVE);
    const held: PageLock[] = new Array<PageLock>(picks.length);
    let relockNs = 0;
    const ns = perCall(picks.length, () => {
      const t0 = cpuNs();
      for (let i = 0; i < picks.length; i++) held[i] = lock(live[picks[i]!]!, ONFAULT);
      relockNs += cpuNs() - t0;
      for (let i = picks.length - 1; i >= 0; i--) held[i]!.release();
    });
    let sink = 0;
    const reachNs = perCall(picks.length, () => {
      for (let i = 0; i < picks.length; i++) sink += live[picks[i]!]!.byteOffset;
    });
    if (sink === 0) throw new Error('probe: reaching the views read nothing');
    const relock = relockNs / ((REPS + 1) * picks.length);
    console.log(
      `held, ${LIVE} live, ${build}: re-lock ${relock.toFixed(0)} ns (mean), re-lock + release ${ns.toFixed(0)} ns, reach ${reachNs.toFixed(0)} ns`,
    );
    break;
  }
  case 'rss': {
    if (gc === undefined) usageError(USAGE, 'rss needs node --expose-gc');
    gc();
    gc();
    console.log(
      `rss, ${LIVE} live, ${build}: ${((process.memoryUsage().rss - rssViews) / LIVE).toFixed(1)} B per lock`,
    );
    break;
  }
  case 'pair': {
    const one = live[LIVE >> 1]!;
    const pairNs = perCall(200_000, () => {
      for (let i = 0; i < 200_000; i++) lock(one, ONFAULT).release();
    });
    const views = live.slice(LIVE >> 1, (LIVE >> 1) + 1000);
    const manyNs = perCall(20 * views.length, () => {
      for (let r = 0; r < 20; r++) lockMany(views, ONFAULT).release();
    });
    console.log(
      `pair, ${LIVE} live, ${build}: lock().release() ${pairNs.toFixed(0)} ns, lockMany ${manyNs.toFixed(0)} ns a view`,
    );
    break;
  }
  case 'fresh': {
    const [page] = pageViews(1);
    page!.fill(1);
    const pairNs = perCall(100_000, () => {
      for (let i = 0; i < 100_000; i++) lock(page!).release();
    });
    console.log(
      `fresh, ${LIVE} live, ${build}: lock().release() ${pairNs.toFixed(0)} ns (an mlock and a munlock each)`,
    );
    break;
  }
  case 'order': {
    const raw = binding as unknown as Partial<RawSyscalls>;
    const { rawMlock, rawMunlock } = raw;
    if (rawMlock === undefined || rawMunlock === undefined) {
      usageError(USAGE, 'order needs the testing build: MEMLOCK_NATIVE_BINDING=$PWD/build-cmake/memlock_testing.node');
    }
    if (args.order !== undefined && args.order !== 'newest' && args.order !== 'random') {
      usageError(USAGE, `--order: newest or random, not ${args.order}`);
    }
    const fresh = pageViews(2000);
    for (const v of fresh) v.fill(1);
    const random = Array.from(randomPicks(fresh.length, 2 ** 31), (key, i) => ({ key, i }))
      .sort((a, b) => a.key - b.key)
      .map((e) => e.i);
    const newest = Array.from({ length: fresh.length }, (_, i) => fresh.length - 1 - i);
    const held: PageLock[] = [];
    const rounds = 40;
    for (const [name, order] of [
      ['newest first', newest],
      ['random order', random],
    ] as const) {
      if (args.order !== undefined && !name.startsWith(args.order)) continue;
      let mine = { user: 0, system: 0 };
      let bare = { user: 0, system: 0 };
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < fresh.length; i++) held[i] = lock(fresh[i]!);
        let t = process.cpuUsage();
        for (const i of order) held[i]!.release();
        mine = add(mine, process.cpuUsage(t));
        for (const view of fresh) rawMlock.call(binding, view);
        t = process.cpuUsage();
        for (const i of order) rawMunlock.call(binding, fresh[i]!);
        bare = add(bare, process.cpuUsage(t));
      }
      const ns = (us: number): string => ((us * 1000) / (rounds * fresh.length)).toFixed(0);
      console.log(
        `order, ${name}, ${LIVE} live: release() user ${ns(mine.user)} ns, system ${ns(mine.system)} ns; ` +
          `bare munlock user ${ns(bare.user)} ns, system ${ns(bare.system)} ns`,
      );
    }
    break;
  }
  default:
    usageError(USAGE, `--case: held, rss, pair, fresh or order, not ${String(args.case)}`);
}
for (const h of handles) h.release();
