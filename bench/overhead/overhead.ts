// What memlock costs on top of the syscalls it makes, in one run:
//   1. lock+release of one resident page (count 0 -> 1 -> 0: one mlock, one munlock)
//   2. lock+release of 1 GiB, touched beforehand
//   3. a re-lock: lock+release of a page whose count is already > 0 (no syscall)
// against raw-mlock.c making the same calls straight from C.
//
//   npm run bench:overhead -- [--json FILE]
//
// Reports; never fails because a goal is missed. It times the built package
// (lib/, what users run): tsx's own compile of src/ turns every module
// export into a getter, which added ~50 ns to a re-lock here.
import { rawSyscalls } from '../common/testing-build';
import { execFileSync } from 'node:child_process';
import { createHistogram } from 'node:perf_hooks';
import { binding } from '../../lib/binding';
import { lock, lockCounts, pageSize, type PageLock } from '../../lib/index';
import { benchArgs } from '../common/cli';
import { buildTarget } from '../common/cmake';
import { writeJson } from '../common/files';
import { median } from '../common/histogram';
import { buildInfo, buildLine, describeMachine, machineLine } from '../common/machine';
import { fixed, table } from '../common/report';

const args = benchArgs(
  "usage: npm run bench:overhead -- [--json FILE]\n  --json FILE  every figure, with the machine's description (a bare name: under bench/results/)",
  { json: { type: 'string' } },
);

const rawHooks = rawSyscalls(binding);

const PAGE_ITERS = 10_000; // lock+release pairs per batch
const PAGE_BATCHES = 11; // median of these (was 15: fewer keep npm run bench near its minute)
// The raw one-page cost differs from process to process (about 1 C process in
// 4 pays 5-20% more, pinned or not, ASLR or not), so the C side's batches are
// spread over several processes and the median of their medians is taken.
const RAW_PAGE_PROCESSES = 5;
const GIB = 2 ** 30;
const GIB_ITERS = 4; // ~120 ms each, on both sides (was 7, for the same reason)
const SUB_BATCH = 100; // locks held at once when timing lock() alone

const GOAL_ONE_PAGE = 1.1; // memlock / raw
const GOAL_GIB = 1.02;
const GOAL_RELOCK_NS = 100;

// ---------------------------------------------------------------- raw side

interface RawPage {
  pageSize: number;
  onePage: { iters: number; batches: number; mlockMunlockNs: number; minNs: number; maxNs: number };
  relock: { iters: number; batches: number; mlockLockedNs: number; minNs: number };
}

interface RawGib {
  iters: number;
  touchMs: number;
  mlockMunlockNs: number;
  minNs: number;
  maxNs: number;
  mlockNs: number;
  munlockNs: number;
}

// raw-mlock.c, the CMake target raw_mlock: built (if stale) once, before anything is timed.
let rawBinary = '';

// raw-mlock reports a failed syscall as {"error": "..."} on stdout.
function parseRaw<T>(text: string): T {
  const parsed: unknown = JSON.parse(text);
  if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
    throw new Error(`raw-mlock: ${String(parsed.error)}`);
  }
  return parsed as T;
}

function runRaw<T>(...rawArgs: string[]): T {
  const out = execFileSync(rawBinary, rawArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return parseRaw<T>(out);
}

// PAGE_BATCHES batches in all, over RAW_PAGE_PROCESSES processes.
function runRawPages(): RawPage & { processes: RawPage[] } {
  const batches = Math.ceil(PAGE_BATCHES / RAW_PAGE_PROCESSES);
  const processes = Array.from({ length: RAW_PAGE_PROCESSES }, () =>
    runRaw<RawPage>('page', String(PAGE_ITERS), String(batches)),
  );
  return {
    pageSize: processes[0]!.pageSize,
    onePage: {
      iters: PAGE_ITERS,
      batches: batches * RAW_PAGE_PROCESSES,
      mlockMunlockNs: median(processes.map((r) => r.onePage.mlockMunlockNs)),
      minNs: Math.min(...processes.map((r) => r.onePage.minNs)),
      maxNs: Math.max(...processes.map((r) => r.onePage.maxNs)),
    },
    relock: {
      iters: PAGE_ITERS,
      batches: batches * RAW_PAGE_PROCESSES,
      mlockLockedNs: median(processes.map((r) => r.relock.mlockLockedNs)),
      minNs: Math.min(...processes.map((r) => r.relock.minNs)),
    },
    processes,
  };
}

// ------------------------------------------------------------ memlock side

interface Summary {
  /** ns per operation: median over batches, with the fastest and slowest batch. */
  medianNs: number;
  minNs: number;
  maxNs: number;
  batches: number;
  itersPerBatch: number;
}

// Batch totals go in an HDR histogram (3 significant figures, so <= 0.1% off)
// and come out divided by the batch size.
function summarize(batchTotalsNs: readonly bigint[], iters: number): Summary {
  const h = createHistogram();
  for (const t of batchTotalsNs) h.record(t > 0n ? t : 1n);
  return {
    medianNs: h.percentile(50) / iters,
    minNs: h.min / iters,
    maxNs: h.max / iters,
    batches: batchTotalsNs.length,
    itersPerBatch: iters,
  };
}

// `body(n)` runs n operations in its own loop: one call per batch keeps the
// loop monomorphic and the timer outside it. Two untimed batches let V8 tier
// the loop up before anything counts.
function timeBatches(body: (n: number) => void, iters = PAGE_ITERS, batches = PAGE_BATCHES): Summary {
  body(iters);
  body(iters);
  const totals: bigint[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = process.hrtime.bigint();
    body(iters);
    totals.push(process.hrtime.bigint() - t0);
  }
  return summarize(totals, iters);
}

// Two bodies timed in alternating batches, so drift hits both alike.
function timeInterleaved(a: (n: number) => void, b: (n: number) => void): [Summary, Summary] {
  for (const body of [a, b, a, b]) body(PAGE_ITERS);
  const totals: [bigint[], bigint[]] = [[], []];
  for (let batch = 0; batch < PAGE_BATCHES; batch++) {
    [a, b].forEach((body, which) => {
      const t0 = process.hrtime.bigint();
      body(PAGE_ITERS);
      totals[which]!.push(process.hrtime.bigint() - t0);
    });
  }
  return [summarize(totals[0], PAGE_ITERS), summarize(totals[1], PAGE_ITERS)];
}

// A page-aligned view of `bytes` inside a fresh Buffer. Buffer.alloc zero-fills
// through calloc, which may hand back untouched pages: fill() makes them resident.
function alignedView(bytes: number): { view: Buffer; touchMs: number } {
  const backing = Buffer.alloc(bytes + pageSize);
  const misalign = binding.addressOf(backing) % pageSize;
  const view = backing.subarray(misalign === 0 ? 0 : pageSize - misalign).subarray(0, bytes);
  const t0 = process.hrtime.bigint();
  view.fill(1);
  const touchMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (binding.addressOf(view) % pageSize !== 0) throw new Error('bench: view is not page-aligned');
  return { view, touchMs };
}

function expectCount(view: Buffer, count: number, when: string): void {
  const counts = lockCounts(view);
  if (counts.some((c) => c !== count)) throw new Error(`bench: expected lock count ${count} ${when}, got ${counts[0]}`);
}

// 1. and 3.: one resident page, without and with a lock already held on it.
function measurePage() {
  const { view: page } = alignedView(pageSize);
  expectCount(page, 0, 'before the one-page case');

  // 0 -> 1 -> 0: one mlock + one munlock per pair, with batches interleaved
  // with the same two syscalls made bare from this process (two N-API calls,
  // no table): the kernel's cost of mlock grows with the address space, and
  // Node's is larger than the C program's, so this isolates memlock's own part.
  const [onePage, onePageRawHere] = timeInterleaved(
    (n) => {
      for (let i = 0; i < n; i++) lock(page).release();
    },
    (n) => {
      for (let i = 0; i < n; i++) {
        rawHooks.rawMlock(page);
        rawHooks.rawMunlock(page);
      }
    },
  );
  // Same through the internal binding, skipping the TypeScript wrapper
  // (validation, retaining the view, PageLock). Safe here: this function keeps
  // `page` reachable itself. Tag 0: only releaseLatest() reads it back.
  const onePageNative = timeBatches((n) => {
    for (let i = 0; i < n; i++) binding.release(binding.lock(page, false, 0, false));
  });
  expectCount(page, 0, 'after the one-page case');

  // Re-lock: one lock held throughout, so the second never reaches the kernel.
  const holder = lock(page);
  const relockPair = timeBatches((n) => {
    for (let i = 0; i < n; i++) lock(page).release();
  });
  const relockNative = timeBatches((n) => {
    for (let i = 0; i < n; i++) binding.release(binding.lock(page, false, 0, false));
  });
  // lock() and release() apart: take SUB_BATCH locks, then release them newest
  // first. Small sub-batches keep the lock table as small as in the pair loop
  // (10,000 held locks made lock() slower); the 3 clock reads per sub-batch add
  // about 1 ns per operation.
  const handles: PageLock[] = [];
  const lockTotals: bigint[] = [];
  const releaseTotals: bigint[] = [];
  // b = -2 and -1 warm up and are not recorded.
  for (let b = -2; b < PAGE_BATCHES; b++) {
    let lockNs = 0n;
    let releaseNs = 0n;
    for (let r = 0; r < PAGE_ITERS / SUB_BATCH; r++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < SUB_BATCH; i++) handles[i] = lock(page);
      const t1 = process.hrtime.bigint();
      for (let i = SUB_BATCH - 1; i >= 0; i--) handles[i]!.release();
      const t2 = process.hrtime.bigint();
      lockNs += t1 - t0;
      releaseNs += t2 - t1;
    }
    if (b >= 0) {
      lockTotals.push(lockNs);
      releaseTotals.push(releaseNs);
    }
  }
  expectCount(page, 1, 'after the re-lock case');
  holder.release();

  return {
    onePage,
    onePageRawHere,
    onePageNative,
    relockPair,
    relockNative,
    relockLock: summarize(lockTotals, PAGE_ITERS),
    relockRelease: summarize(releaseTotals, PAGE_ITERS),
  };
}

// 2. 1 GiB, every page touched first. Run right after the C side's, which has
// exited by then: both fault their GiB in with no other GiB held (see
// raw-mlock.c for why that matters).
function measureGib() {
  const { view: gib, touchMs } = alignedView(GIB);
  lock(gib).release(); // warm up: the first mlock of a range is not typical
  const pair: bigint[] = [];
  const lockNs: bigint[] = [];
  const releaseNs: bigint[] = [];
  for (let i = 0; i < GIB_ITERS; i++) {
    const t0 = process.hrtime.bigint();
    const handle = lock(gib);
    const t1 = process.hrtime.bigint();
    handle.release();
    const t2 = process.hrtime.bigint();
    pair.push(t2 - t0);
    lockNs.push(t1 - t0);
    releaseNs.push(t2 - t1);
  }
  expectCount(gib.subarray(0, pageSize), 0, 'after the 1 GiB case');
  return { touchMs, pair: summarize(pair, 1), lock: summarize(lockNs, 1), release: summarize(releaseNs, 1) };
}

// ------------------------------------------------------------------ report

interface Row {
  name: string;
  memlockNs: number;
  rawNs: number;
  goal: string;
  met: boolean;
  /** How far the median sits above the fastest batch, the worse of the two sides. */
  noise: number;
}

// Over a few percent, the machine was busy while that row was measured.
const noiseOf = (memlock: Summary, rawMedianNs: number, rawMinNs: number): number =>
  Math.max(memlock.medianNs / memlock.minNs, rawMedianNs / rawMinNs) - 1;

const ns = (v: number): string => fixed(v, 1);

function main(): void {
  try {
    rawBinary = buildTarget('raw_mlock');
  } catch (e) {
    console.error(`overhead: not measured: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
  // Each C case right next to memlock's, so the two are timed close together
  // (the machine drifts).
  const page = measurePage();
  const rawPage = runRawPages();
  const rawGib = runRaw<RawGib>('gib', String(GIB_ITERS));
  const gib = measureGib();

  // A ratio goal (memlock / raw) or an absolute one (memlock ns below a bound).
  type Goal = { ratio: number } | { belowNs: number };
  const row = (name: string, memlock: Summary, raw: { medianNs: number; minNs: number }, goal: Goal): Row => ({
    name,
    memlockNs: memlock.medianNs,
    rawNs: raw.medianNs,
    goal: 'ratio' in goal ? `<= ${goal.ratio.toFixed(2)}x` : `< ${goal.belowNs} ns`,
    met: 'ratio' in goal ? memlock.medianNs / raw.medianNs <= goal.ratio : memlock.medianNs < goal.belowNs,
    noise: noiseOf(memlock, raw.medianNs, raw.minNs),
  });
  const rawOnePage = { medianNs: rawPage.onePage.mlockMunlockNs, minNs: rawPage.onePage.minNs };
  const rawRelock = { medianNs: rawPage.relock.mlockLockedNs, minNs: rawPage.relock.minNs };
  const rows: Row[] = [
    row('one page lock+release (count 0->1->0)', page.onePage, rawOnePage, { ratio: GOAL_ONE_PAGE }),
    row('one page, raw = same syscalls from this node', page.onePage, page.onePageRawHere, { ratio: GOAL_ONE_PAGE }),
    row('1 GiB lock+release', gib.pair, { medianNs: rawGib.mlockMunlockNs, minNs: rawGib.minNs }, { ratio: GOAL_GIB }),
    row('re-lock lock()+release() (count > 0)', page.relockPair, rawRelock, { belowNs: GOAL_RELOCK_NS }),
    row('re-lock lock() alone', page.relockLock, rawRelock, { belowNs: GOAL_RELOCK_NS }),
  ];

  // Where memlock's time goes; no goals.
  const breakdown: { name: string; ns: number; rawNs?: number }[] = [
    { name: 'one page: binding.lock+release, no TS wrapper', ns: page.onePageNative.medianNs },
    { name: 're-lock: binding.lock+release, no TS wrapper', ns: page.relockNative.medianNs },
    { name: 're-lock: release() alone', ns: page.relockRelease.medianNs },
    { name: '1 GiB: lock() (raw: mlock)', ns: gib.lock.medianNs, rawNs: rawGib.mlockNs },
    { name: '1 GiB: release() (raw: munlock)', ns: gib.release.medianNs, rawNs: rawGib.munlockNs },
  ];

  const build = buildInfo();
  const machine = describeMachine();

  console.log(`memlock overhead: ${machineLine(machine)}`);
  console.log(buildLine(build));
  console.log(
    `one page / re-lock: median of ${PAGE_BATCHES} batches of ${PAGE_ITERS.toLocaleString('en-US')} ` +
      `(C: median of ${RAW_PAGE_PROCESSES} processes' medians); ` +
      `1 GiB: median of ${GIB_ITERS} (touch took ${gib.touchMs.toFixed(0)} ms here, ${rawGib.touchMs.toFixed(0)} ms in C)\n`,
  );
  console.log(
    table(
      ['case', 'memlock ns/op', 'raw ns/op', 'ratio', 'goal', 'met', 'noise'],
      rows.map((r) => [
        r.name,
        ns(r.memlockNs),
        ns(r.rawNs),
        `${(r.memlockNs / r.rawNs).toFixed(3)}x`,
        r.goal,
        r.met ? 'yes' : 'NO',
        `${(r.noise * 100).toFixed(1)}%`,
      ]),
      [false, true, true, true, false, false, true],
    ),
  );
  console.log(
    '\nraw: bench/overhead/raw-mlock.c, except "from this node": rawMlock+rawMunlock through N-API in this process.\n' +
      're-lock raw: mlock() of an already-locked page, the syscall a re-lock skips.\n' +
      'noise: how far the median sits above the fastest batch (worse side); over ~3% the machine was busy: rerun.\n' +
      `lock() alone: up to ${SUB_BATCH} locks held at once, handles kept; in the pair loop V8 can drop the handle, ` +
      'so lock() + release() alone add up to more than the pair.',
  );
  console.log();
  console.log(
    table(
      ['breakdown', 'memlock ns/op', 'raw ns/op'],
      breakdown.map((b) => [b.name, ns(b.ns), b.rawNs === undefined ? '' : ns(b.rawNs)]),
      [false, true, true],
    ),
  );

  if (args.json !== undefined) {
    const report = {
      machine,
      build,
      config: {
        pageIters: PAGE_ITERS,
        pageBatches: PAGE_BATCHES,
        rawPageProcesses: RAW_PAGE_PROCESSES,
        subBatch: SUB_BATCH,
        gibIters: GIB_ITERS,
      },
      goals: { onePageRatio: GOAL_ONE_PAGE, gibRatio: GOAL_GIB, relockNs: GOAL_RELOCK_NS },
      rows: rows.map((r) => ({ ...r, ratio: r.memlockNs / r.rawNs })),
      memlock: { ...page, oneGiB: gib },
      raw: { ...rawPage, oneGiB: rawGib },
    };
    const wrote = writeJson(args.json, report);
    if (process.env['MEMLOCK_BENCH_SCRATCH_JSON'] !== '1') console.log(`\nwrote ${wrote}`);
  }
}

main();
