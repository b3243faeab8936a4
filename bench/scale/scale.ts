// How memlock's costs grow with the number of live locks: lock of a fresh
// page, re-lock, release, locks(), verify() and stats() at 1k, 10k, 100k and
// 1M live one-page locks, the RSS each lock adds, and the bare mlock/munlock
// of the same pages from this process side by side (the testing build
// exports them), so the ratios and differences come from one run.
//
//   npm run bench:scale -- [--max N] [--json FILE] [--svg FILE]
//
// Times are CPU time of this process (process.cpuUsage: user + system), not
// wall time: the machine is shared, and a preempted call costs no CPU.
// The live set is taken with onFault (mlock2 MLOCK_ONFAULT) on untouched
// memory, in ascending page order: the kernel merges the locked ranges into
// one mapping (a lock per page in random order would split a mapping per
// lock and stop at vm.max_map_count), and 1M locks cost no 4 GiB of RAM.
// The fresh-page and release cases lock resident pages with plain mlock.
// Reports; never fails because a goal is missed.
import { rawSyscalls } from '../common/testing-build';
import { binding } from '../../lib/binding';
import { lock, lockMany, locks, locksPage, pageSize, stats, verify, type PageLock } from '../../lib/index';
import { benchArgs } from '../common/cli';
import { writeJson, writeOutput } from '../common/files';
import { median } from '../common/histogram';
import { buildInfo, buildLine, describeMachine, machineLine } from '../common/machine';
import { count, duration, heading, table } from '../common/report';
import { scaleFigure, type ScalePoint } from './figure';

const USAGE = `usage: npm run bench:scale -- [options]
  --max N      the largest live-lock count (default 1000000; 1k, 10k, 100k ... up to it)
  --json FILE  every figure, with the machine's description (a bare name: under bench/results/)
  --svg FILE   cost against live locks, log x axis (a bare name: under bench/results/)`;

const args = benchArgs(USAGE, {
  max: { type: 'string', default: '1000000' },
  json: { type: 'string' },
  svg: { type: 'string' },
});
const MAX = Number(args.max);
if (!Number.isInteger(MAX) || MAX < 1000) {
  console.error(`--max: an integer >= 1000\n\n${USAGE}`);
  process.exit(2);
}
const raw = rawSyscalls(binding);

const SAMPLE = 2000; // fresh pages locked and released per repetition
const REPS = 5; // median of these, memlock and raw interleaved
// The fresh-page case: its goals are differences of two figures of a few
// microseconds each, so the median of the per-repetition differences (each
// pair measured moments apart) over more repetitions.
const FRESH_REPS = 11;
const PAGE_OF_LOCKS = 10_000; // locksPage()'s default
const RELOCKS = 20_000; // re-locks held at once, then released in random order
const PAIRS = 50_000; // lock().release() pairs on one live page
const BATCH = 1000; // views per lockMany(), against a loop of lock() over the same views
const CHUNK_PAGES = 2 ** 18; // 1 GiB ArrayBuffers hold the live set (Node 20 caps one at 4 GiB)

// Re-locks ask for what the live set has: a plain lock of an onFault page
// would fault it in with an mlock, a syscall a re-lock is meant to skip.
const ONFAULT = { onFault: true } as const;

const cpuNs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
const gc = (globalThis as { gc?: () => void }).gc;
const collect = (): void => {
  gc?.();
  gc?.();
};

// A deterministic shuffle (xorshift), so every run releases in the same order.
function shuffled(n: number, seed = 1): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

// One-page views, page-aligned, over untouched memory.
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

// SAMPLE resident pages, apart from the live set.
function residentViews(): Uint8Array[] {
  const views = pageViews(SAMPLE);
  for (const v of views) v.fill(1);
  return views;
}

// The figure's point, and the RSS each lock added while reaching its size.
interface Point extends ScalePoint {
  /** Two bare crossings into native code (addressOf + isHeld): the floor under a re-lock pair. */
  crossingFloorNs: number;
  /** Reaching a random view of the live set (byteOffset), the benchmark's own part of a held re-lock. */
  viewReachNs: number;
  /** lock() and release() of a fresh page above the raw syscall: medians of paired differences. */
  lockAboveNs: number;
  releaseAboveNs: number;
  releaseRandomAboveNs: number;
  /** RSS added per live lock while reaching this size (handles and tables; views excluded). */
  rssPerLockBytes: number;
}

// What one read costs where a held re-lock reads: a dependent random read in
// a table as large as the registry's at that size (a 64-byte slot and about
// 16 bytes of index per lock). A re-lock reads in a chain (the view, its
// index cell, its slot, its page's count), so it grows at least as this does.
const REGISTRY_BYTES_PER_LOCK = 80;
const READS = 200_000;
function measureRandomRead(n: number): number {
  const lines = Math.max(2, Math.ceil((n * REGISTRY_BYTES_PER_LOCK) / 64));
  const next = new Int32Array(lines * 16); // one 64-byte line per entry
  const order = shuffled(lines, 5);
  for (let i = 0; i < lines; i++) next[order[i]! * 16] = order[(i + 1) % lines]! * 16;
  let at = 0;
  for (let i = 0; i < READS / 10; i++) at = next[at]!;
  const ns: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    ns.push(
      time(() => {
        for (let i = 0; i < READS; i++) at = next[at]!;
      }) / READS,
    );
  }
  if (at < 0) throw new Error('bench: the random read went astray');
  return median(ns);
}

function time(body: () => void): number {
  const t0 = cpuNs();
  body();
  return cpuNs() - t0;
}

function measureFresh(fresh: Uint8Array[], order: Uint32Array) {
  const handles: PageLock[] = new Array<PageLock>(fresh.length);
  const lockNs: number[] = [];
  const rawLockNs: number[] = [];
  const releaseNs: number[] = [];
  const releaseRandomNs: number[] = [];
  const rawUnlockNs: number[] = [];
  const rawUnlockRandomNs: number[] = [];
  for (let rep = -1; rep < FRESH_REPS; rep++) {
    const l = time(() => {
      for (let i = 0; i < fresh.length; i++) handles[i] = lock(fresh[i]!);
    });
    const r = time(() => {
      for (let i = fresh.length - 1; i >= 0; i--) handles[i]!.release();
    });
    const l2 = time(() => {
      for (let i = 0; i < fresh.length; i++) handles[i] = lock(fresh[i]!);
    });
    const rr = time(() => {
      for (let i = 0; i < order.length; i++) handles[order[i]!]!.release();
    });
    const rl = time(() => {
      for (let i = 0; i < fresh.length; i++) raw.rawMlock(fresh[i]!);
    });
    const ru = time(() => {
      for (let i = fresh.length - 1; i >= 0; i--) raw.rawMunlock(fresh[i]!);
    });
    for (let i = 0; i < fresh.length; i++) raw.rawMlock(fresh[i]!);
    const rur = time(() => {
      for (let i = 0; i < order.length; i++) raw.rawMunlock(fresh[order[i]!]!);
    });
    if (rep < 0) continue; // warm-up
    lockNs.push((l + l2) / 2 / fresh.length);
    releaseNs.push(r / fresh.length);
    releaseRandomNs.push(rr / fresh.length);
    rawLockNs.push(rl / fresh.length);
    rawUnlockNs.push(ru / fresh.length);
    rawUnlockRandomNs.push(rur / fresh.length);
  }
  const above = (mine: number[], raw: number[]): number => median(mine.map((ns, i) => ns - raw[i]!));
  return {
    lockFreshNs: median(lockNs),
    rawMlockNs: median(rawLockNs),
    releaseNs: median(releaseNs),
    releaseRandomNs: median(releaseRandomNs),
    rawMunlockNs: median(rawUnlockNs),
    rawMunlockRandomNs: median(rawUnlockRandomNs),
    lockAboveNs: above(lockNs, rawLockNs),
    releaseAboveNs: above(releaseNs, rawUnlockNs),
    releaseRandomAboveNs: above(releaseRandomNs, rawUnlockRandomNs),
  };
}

function measureRelock(live: Uint8Array[], n: number) {
  const picks = shuffled(n, 7);
  const count = Math.min(RELOCKS, n);
  const order = shuffled(count, 11);
  const held: PageLock[] = new Array<PageLock>(count);
  const lockNs: number[] = [];
  const releaseNs: number[] = [];
  for (let rep = -1; rep < REPS; rep++) {
    const l = time(() => {
      for (let i = 0; i < count; i++) held[i] = lock(live[picks[i]!]!, ONFAULT);
    });
    const r = time(() => {
      for (let i = 0; i < count; i++) held[order[i]!]!.release();
    });
    if (rep < 0) continue;
    lockNs.push(l / count);
    releaseNs.push(r / count);
  }
  // The benchmark's own part of a held re-lock: reaching a random view of
  // the live set (cold in cache at 1M: the views alone take over 100 MiB).
  const reachNs: number[] = [];
  let reached = 0;
  for (let rep = -1; rep < REPS; rep++) {
    const r = time(() => {
      for (let i = 0; i < count; i++) reached += live[picks[i]!]!.byteOffset;
    });
    if (rep >= 0) reachNs.push(r / count);
  }
  if (reached === 0) throw new Error('bench: reaching the views read nothing');
  const one = live[n >> 1]!;
  const pairNs: number[] = [];
  for (let rep = -1; rep < REPS; rep++) {
    const p = time(() => {
      for (let i = 0; i < PAIRS; i++) lock(one, ONFAULT).release();
    });
    if (rep >= 0) pairNs.push(p / PAIRS);
  }
  // The floor under a pair: the two crossings it makes into native code,
  // each reading what it is given (the view's address; a lock id looked up
  // under the table's mutex), with no counting, no handle and no checks.
  const floorNs: number[] = [];
  let sink = 0;
  for (let rep = -1; rep < REPS; rep++) {
    const p = time(() => {
      for (let i = 0; i < PAIRS; i++) sink += binding.addressOf(one) + (binding.isHeld(i) ? 1 : 0);
    });
    if (rep >= 0) floorNs.push(p / PAIRS);
  }
  if (sink === 0) throw new Error('bench: the crossing floor read nothing');
  return {
    relockHeldNs: median(lockNs),
    releaseRelockNs: median(releaseNs),
    relockPairNs: median(pairNs),
    crossingFloorNs: median(floorNs),
    viewReachNs: median(reachNs),
  };
}

// lockMany() against a loop of lock() over the same live views: re-locks
// (no syscall), taken and released, per view. The batch form saves a
// crossing each way per view; the handle work per view stays.
function measureBatch(live: Uint8Array[]) {
  const views = live.slice(live.length >> 1, (live.length >> 1) + BATCH);
  const held: PageLock[] = new Array<PageLock>(views.length);
  const loopNs: number[] = [];
  const batchNs: number[] = [];
  for (let rep = -1; rep < REPS; rep++) {
    const l = time(() => {
      for (let r = 0; r < 20; r++) {
        for (let i = 0; i < views.length; i++) held[i] = lock(views[i]!, ONFAULT);
        for (let i = 0; i < views.length; i++) held[i]!.release();
      }
    });
    const b = time(() => {
      for (let r = 0; r < 20; r++) lockMany(views, ONFAULT).release();
    });
    if (rep >= 0) {
      loopNs.push(l / (20 * views.length));
      batchNs.push(b / (20 * views.length));
    }
  }
  return { views: views.length, loopNs: median(loopNs), lockManyNs: median(batchNs) };
}

function main(): void {
  const machine = describeMachine();
  const build = buildInfo();
  const sizes: number[] = [];
  for (let n = 1000; n <= MAX; n *= 10) sizes.push(n);
  if (sizes.at(-1) !== MAX) sizes.push(MAX);
  console.log(heading(`memlock at scale: ${machineLine(machine)}`));
  console.log(`${buildLine(build)}; load average ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`);
  console.log(
    `CPU time per operation, median of ${REPS} (fresh pages: ${FRESH_REPS}); live set: one-page onFault locks up to ${count(MAX)}\n`,
  );
  if (gc === undefined) console.log('(run with node --expose-gc for the memory figures: npm run bench:scale does)');

  const fresh = residentViews();
  const freshOrder = shuffled(fresh.length, 3);
  collect();
  const rssBefore = process.memoryUsage().rss;
  const live = pageViews(MAX);
  collect();
  const rssViews = process.memoryUsage().rss;
  const handles: PageLock[] = [];
  const points: Point[] = [];
  let held = 0;
  let lockAllNs = 0;
  for (const n of sizes) {
    lockAllNs += time(() => {
      for (; held < n; held++) handles.push(lock(live[held]!, ONFAULT));
    });
    collect();
    const rssPerLockBytes = (process.memoryUsage().rss - rssViews) / n;
    const freshCase = measureFresh(fresh, freshOrder);
    const relockCase = measureRelock(live, n);
    const statsUs =
      time(() => {
        for (let i = 0; i < 100; i++) stats();
      }) /
      100 /
      1000;
    let listed = 0;
    const locksMs =
      time(() => {
        listed = locks().length;
      }) / 1e6;
    let paged = 0;
    const locksPageMs =
      time(() => {
        paged = locksPage({ limit: PAGE_OF_LOCKS }).locks.length;
      }) / 1e6;
    let ok = false;
    const verifyMs =
      time(() => {
        ok = verify().ok;
      }) / 1e6;
    if (listed < n || paged !== Math.min(PAGE_OF_LOCKS, listed) || !ok)
      throw new Error(`bench: at ${n} live, locks() listed ${listed}, locksPage() ${paged}, verify() ok ${ok}`);
    const point: Point = {
      live: n,
      ...freshCase,
      ...relockCase,
      locksMs,
      locksPageMs,
      verifyMs,
      statsUs,
      rssPerLockBytes,
      randomReadNs: 0, // measured after the last RSS reading
    };
    points.push(point);
    console.log(
      `${count(n).padStart(9)} live: lock ${duration(point.lockFreshNs)} (mlock ${duration(point.rawMlockNs)}), ` +
        `release ${duration(point.releaseNs)} (munlock ${duration(point.rawMunlockNs)}), re-lock ${duration(point.relockHeldNs)}, ` +
        `locks() ${point.locksMs.toFixed(0)} ms, locksPage() ${point.locksPageMs.toFixed(1)} ms, verify() ${point.verifyMs.toFixed(0)} ms, ${point.rssPerLockBytes.toFixed(0)} B/lock`,
    );
  }
  // After every RSS reading: these tables are as large as the registry's.
  for (const p of points) p.randomReadNs = measureRandomRead(p.live);
  const batch = measureBatch(live.slice(0, held));
  const releaseAllNs = time(() => {
    for (const h of handles) h.release();
  });
  const top = points.at(-1)!;
  const relockFlat = points.filter((p) => p.live >= 10_000).map((p) => p.relockHeldNs);

  console.log();
  console.log(
    table(
      [
        'live locks',
        'lock fresh',
        'raw mlock',
        'release',
        'release random',
        'raw munlock',
        'raw random',
        're-lock held',
        'random read',
        'reach a view',
        're-lock pair',
        'two crossings',
        'locks()',
        'locksPage() 10k',
        'verify()',
        'stats()',
        'RSS/lock',
      ],
      points.map((p) => [
        count(p.live),
        duration(p.lockFreshNs),
        duration(p.rawMlockNs),
        duration(p.releaseNs),
        duration(p.releaseRandomNs),
        duration(p.rawMunlockNs),
        duration(p.rawMunlockRandomNs),
        duration(p.relockHeldNs),
        duration(p.randomReadNs),
        duration(p.viewReachNs),
        duration(p.relockPairNs),
        duration(p.crossingFloorNs),
        duration(p.locksMs * 1e6),
        duration(p.locksPageMs * 1e6),
        duration(p.verifyMs * 1e6),
        duration(p.statsUs * 1e3),
        `${p.rssPerLockBytes.toFixed(0)} B`,
      ]),
      new Array<boolean>(17).fill(true),
    ),
  );

  const goals = [
    {
      measure: `lock() of a fresh page, ${count(top.live)} live: above raw mlock`,
      value: top.lockAboveNs,
      goal: 1000,
      unit: 'ns',
    },
    { measure: 'RSS per live lock (handle + tables)', value: top.rssPerLockBytes, goal: 200, unit: 'B' },
    { measure: `re-lock, handles held, ${count(top.live)} live`, value: top.relockHeldNs, goal: 200, unit: 'ns' },
    {
      measure: 're-lock, max / min from 10k live up',
      value: Math.max(...relockFlat) / Math.min(...relockFlat),
      goal: 1.5,
      unit: 'x',
    },
    { measure: `locks(), ${count(top.live)} live`, value: top.locksMs, goal: 1000, unit: 'ms' },
    // The alternative to a 1 s locks(): a paged form and a constant-time summary (stats()).
    { measure: `locksPage() of 10k, ${count(top.live)} live`, value: top.locksPageMs, goal: 100, unit: 'ms' },
    {
      measure: 'stats(), max / min over the sizes',
      value: Math.max(...points.map((p) => p.statsUs)) / Math.min(...points.map((p) => p.statsUs)),
      goal: 3,
      unit: 'x',
    },
    { measure: `verify(), ${count(top.live)} live`, value: top.verifyMs, goal: 2000, unit: 'ms' },
    {
      measure: `release() any order, ${count(top.live)} live: above raw munlock`,
      value: Math.max(top.releaseAboveNs, top.releaseRandomAboveNs),
      goal: 1000,
      unit: 'ns',
    },
    { measure: 're-lock pair (no syscall)', value: top.relockPairNs, goal: 100, unit: 'ns' },
  ].map((g) => ({ ...g, met: g.value <= g.goal }));
  console.log();
  console.log(
    table(
      ['goal', 'measured', 'goal', 'met'],
      goals.map((g) => [
        g.measure,
        `${g.value.toFixed(g.unit === 'x' ? 2 : 0)} ${g.unit}`,
        `<= ${g.goal} ${g.unit}`,
        g.met ? 'yes' : 'NO',
      ]),
      [false, true, true, false],
    ),
  );
  console.log(
    `lockMany() of ${batch.views} held views, taken and released: ${duration(batch.lockManyNs)} per view; ` +
      `a loop of lock(): ${duration(batch.loopNs)} (${(batch.loopNs / batch.lockManyNs).toFixed(2)}x)`,
  );
  console.log(
    `re-lock, handles held, ${count(top.live)} live: ${duration(top.relockHeldNs)}, as much as ` +
      `${(top.relockHeldNs / top.randomReadNs).toFixed(1)} dependent random reads in a registry-sized table ` +
      `(${duration(top.randomReadNs)} each; ${duration(points[0]!.randomReadNs)} at ${count(points[0]!.live)})`,
  );
  console.log(`taking the live set (onFault, ascending): ${duration(lockAllNs / held)} per lock`);
  console.log(
    `\nrelease of all ${count(held)} live locks, ascending: ${duration(releaseAllNs / held)} each; views took ${((rssViews - rssBefore) / 2 ** 20).toFixed(0)} MiB`,
  );

  if (args.json !== undefined) {
    const report = {
      machine,
      build,
      config: {
        max: MAX,
        sample: SAMPLE,
        reps: REPS,
        freshReps: FRESH_REPS,
        relocks: RELOCKS,
        pairs: PAIRS,
        clock: 'process.cpuUsage',
      },
      points,
      batch,
      releaseAllNsPerLock: releaseAllNs / held,
      liveSetLockNsPerLock: lockAllNs / held,
      goals,
    };
    console.log(`wrote ${writeJson(args.json, report)}`);
  }
  if (args.svg !== undefined) console.log(`wrote ${writeOutput(args.svg, scaleFigure(points, machineLine(machine)))}`);
}

main();
