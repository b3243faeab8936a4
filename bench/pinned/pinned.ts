// Pinned buffers (allocPinned): what huge pages and prefault buy here.
//   access   random one-byte reads, one per 4 KiB page in random order over
//            the buffer, each timed alone in C (bench/latency/latency-probe.c):
//            pinned on 4 KiB pages, on transparent huge pages, on hugetlb
//            pages (a pool the run reserves as root and gives back), and an
//            unpinned Buffer touched beforehand
//   allocate allocPinned with prefault (4 KiB, THP, hugetlb) against
//            allocPinned onFault + touching every page from JavaScript, and
//            against Buffer.allocUnsafeSlow + touching every page (unlocked)
// Run by bench/run.ts (--only pinned), or: npm run bench:pinned
import { allocPinned, hugePageSupport, pageSize, type PinnedBuffer, type PinnedOptions } from '../../lib/index';
import { checkInterrupted, onCleanup, tick } from '../common/cleanup';
import { record, type Summary } from '../common/histogram';
import { count, duration, heading, progress, progressDone, ratio, table } from '../common/report';
import { loadProbe, type ProbeAddon } from '../latency/probe';
import { reserveHugetlb } from './hugetlb-pool';

const MIB = 2 ** 20;

export interface PinnedBenchConfig {
  full: boolean;
  seed: number;
  /** --hugetlb-pool: the run may raise vm.nr_hugepages (restored after). */
  hugetlbPool: boolean;
}

export interface AccessRow {
  name: string;
  /** What the kernel gave (PinnedBuffer.hugePages), or 'unpinned'. */
  kind: string;
  hugePageBytes: number;
  summary: Summary;
  minorFaults: number;
  majorFaults: number;
}

export interface AllocRow {
  name: string;
  /** Median of the rounds, ms, and every round. */
  medianMs: number;
  roundsMs: number[];
}

export interface PinnedBenchReport {
  bytes: number;
  accesses: number;
  clockFloor: Summary;
  hugetlb: { freeBefore: number; setTo: number | null; reason: string | null };
  transparent: string;
  access: (AccessRow | { name: string; skipped: string })[];
  allocate: (AllocRow | { name: string; skipped: string })[];
  seconds: number;
}

function shuffled(pages: number, seed: number): Uint32Array {
  let a = seed >>> 0;
  const random = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const order = new Uint32Array(pages);
  for (let i = 0; i < pages; i++) order[i] = i;
  for (let i = pages - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function touchEveryPage(buffer: Buffer): void {
  for (let i = 0; i < buffer.length; i += pageSize) buffer[i] = 1;
}

// Timed reads over a buffer already resident: `passes` passes in random
// page order, after one untimed pass (the host backs guest memory lazily).
async function timeAccess(probe: ProbeAddon, buffer: Buffer, order: Uint32Array, passes: number) {
  const out = new Float64Array(order.length);
  const all = new Float64Array(order.length * passes);
  probe.probe(0, buffer, order, 0, order.length, false, out);
  let minorFaults = 0;
  let majorFaults = 0;
  for (let pass = 0; pass < passes; pass++) {
    const usage = probe.probe(0, buffer, order, 0, order.length, false, out);
    all.set(out, pass * order.length);
    minorFaults += usage.minflt;
    majorFaults += usage.majflt;
    await tick();
    checkInterrupted();
  }
  return { summary: record(all).summary, minorFaults, majorFaults };
}

const THP: PinnedOptions = { hugePages: 'require', hugePageSource: 'transparent' };
const HUGETLB: PinnedOptions = { hugePages: 'require', hugePageSource: 'hugetlb', hugePageSize: 2 * MIB };

const KINDS: { name: string; options: PinnedOptions | null }[] = [
  { name: 'pinned, 4 KiB pages', options: {} },
  { name: 'pinned, transparent huge pages', options: THP },
  { name: 'pinned, hugetlb 2 MiB pages', options: HUGETLB },
  { name: 'unpinned Buffer, touched first', options: null },
];

async function accessRows(probe: ProbeAddon, bytes: number, passes: number, seed: number, hugetlb: string | null) {
  const order = shuffled(bytes / pageSize, seed);
  const rows: PinnedBenchReport['access'] = [];
  for (const { name, options } of KINDS) {
    progress(`pinned: access, ${name}`);
    if (options === HUGETLB && hugetlb !== null) {
      rows.push({ name, skipped: hugetlb });
      continue;
    }
    let pinned: PinnedBuffer | null = null;
    let buffer: Buffer;
    try {
      if (options === null) {
        buffer = Buffer.allocUnsafeSlow(bytes);
        touchEveryPage(buffer);
      } else {
        pinned = allocPinned(bytes, options);
        buffer = pinned.buffer;
      }
    } catch (e) {
      rows.push({ name, skipped: e instanceof Error ? e.message.split('. ')[0]! : String(e) });
      continue;
    }
    const free = onCleanup('free pinned buffer', () => pinned?.free());
    const measured = await timeAccess(probe, buffer, order, passes);
    rows.push({
      name,
      kind: pinned?.hugePages ?? 'unpinned',
      hugePageBytes: pinned?.hugePageBytes ?? 0,
      ...measured,
    });
    free();
  }
  return rows;
}

function timeMs(run: () => void): number {
  const t0 = performance.now();
  run();
  return performance.now() - t0;
}

async function allocRows(bytes: number, rounds: number, hugetlb: string | null) {
  const cases: { name: string; run: () => () => void; skip?: string }[] = [
    { name: 'allocPinned (4 KiB, prefault)', run: () => freer(allocPinned(bytes)) },
    { name: 'allocPinned (THP, prefault)', run: () => freer(allocPinned(bytes, THP)) },
    {
      name: 'allocPinned (hugetlb 2 MiB, prefault)',
      run: () => freer(allocPinned(bytes, HUGETLB)),
      ...(hugetlb === null ? {} : { skip: hugetlb }),
    },
    {
      name: 'allocPinned onFault + touch from JS',
      run: () => {
        const pinned = allocPinned(bytes, { onFault: true });
        touchEveryPage(pinned.buffer);
        return () => pinned.free();
      },
    },
    {
      name: 'Buffer.allocUnsafeSlow + touch from JS (unlocked)',
      run: () => {
        const buffer = Buffer.allocUnsafeSlow(bytes);
        touchEveryPage(buffer);
        return () => undefined; // collected; its pages were never locked
      },
    },
  ];
  const rows: PinnedBenchReport['allocate'] = [];
  for (const c of cases) {
    if (c.skip !== undefined) {
      rows.push({ name: c.name, skipped: c.skip });
      continue;
    }
    progress(`pinned: allocate, ${c.name}`);
    const roundsMs: number[] = [];
    try {
      // One untimed round: the host hands the guest its memory the first time.
      let undo = c.run();
      undo();
      for (let i = 0; i < rounds; i++) {
        let ms = 0;
        ms = timeMs(() => (undo = c.run()));
        undo();
        roundsMs.push(ms);
        await tick();
        checkInterrupted();
      }
    } catch (e) {
      rows.push({ name: c.name, skipped: e instanceof Error ? e.message.split('. ')[0]! : String(e) });
      continue;
    }
    const sorted = [...roundsMs].sort((a, b) => a - b);
    rows.push({ name: c.name, medianMs: sorted[Math.floor(sorted.length / 2)]!, roundsMs });
  }
  return rows;
}

function freer(pinned: PinnedBuffer): () => void {
  return () => pinned.free();
}

export async function runPinned(cfg: PinnedBenchConfig): Promise<PinnedBenchReport> {
  const started = performance.now();
  const probe = loadProbe();
  const bytes = (cfg.full ? 256 : 128) * MIB;
  const passes = cfg.full ? 8 : 3;
  const floor = new Float64Array(100_000);
  probe.floor(0, floor);
  const transparent = hugePageSupport().transparent.mode;
  const hugetlb = reserveHugetlb(bytes / (2 * MIB), cfg.hugetlbPool);
  const access = await accessRows(probe, bytes, passes, cfg.seed, hugetlb.reason);
  const allocate = await allocRows(bytes, cfg.full ? 7 : 3, hugetlb.reason);
  progressDone();
  const report: PinnedBenchReport = {
    bytes,
    accesses: (bytes / pageSize) * passes,
    clockFloor: record(floor).summary,
    hugetlb,
    transparent,
    access,
    allocate,
    seconds: (performance.now() - started) / 1000,
  };
  printPinned(report);
  return report;
}

function printPinned(r: PinnedBenchReport): void {
  console.log(heading('\nmemlock pinned buffers: access latency and the cost of allocating, by page kind'));
  console.log(
    `${r.bytes / MIB} MiB per buffer; ${count(r.accesses)} timed reads per row, one byte per 4 KiB page in random order ` +
      `(after an untimed pass); clock_gettime floor p50 ${duration(r.clockFloor.p50)} (included). THP mode: ${r.transparent}; ` +
      `hugetlb: ${r.hugetlb.setTo === null ? `${r.hugetlb.freeBefore} free 2 MiB pages, pool left alone` : `pool set to ${r.hugetlb.setTo} for the run, restored after`}.`,
  );
  const base = r.access.find((row): row is AccessRow => 'summary' in row && row.kind === 'none');
  console.log(
    table(
      ['buffer', 'got', 'p50', 'p99', 'p99.9', 'max', 'p50 vs 4 KiB', 'minor', 'major'],
      r.access.map((row) =>
        'skipped' in row
          ? [row.name, 'skipped', row.skipped]
          : [
              row.name,
              row.kind === 'transparent' ? `THP ${(row.hugePageBytes / MIB).toFixed(0)} MiB` : row.kind,
              duration(row.summary.p50),
              duration(row.summary.p99),
              duration(row.summary.p999),
              duration(row.summary.max),
              base ? ratio(row.summary.p50 / base.summary.p50) : '-',
              count(row.minorFaults),
              count(row.majorFaults),
            ],
      ),
      [false, false, true, true, true, true, true, true, true],
    ),
  );
  const js = r.allocate.find((row): row is AllocRow => 'medianMs' in row && row.name.startsWith('allocPinned onFault'));
  console.log(
    table(
      ['allocate and fault in', 'median', 'rounds', 'vs onFault + JS touch'],
      r.allocate.map((row) =>
        'skipped' in row
          ? [row.name, 'skipped', row.skipped]
          : [
              row.name,
              `${row.medianMs.toFixed(1)} ms`,
              row.roundsMs.map((ms) => ms.toFixed(1)).join(' '),
              js ? ratio(row.medianMs / js.medianMs) : '-',
            ],
      ),
      [false, true, false, true],
    ),
  );
}
