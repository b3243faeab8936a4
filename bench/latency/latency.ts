// Per-page access latency of memory pinned with memlock's lock() against the
// same memory left to the kernel, in three scenarios, each run when the
// machine allows it and skipped with the reason when not:
//   first touch   fresh anonymous memory: a minor fault and a zeroed page per
//                 page, against pages lock() faulted in beforehand
//   file-backed   a MAP_SHARED file mapping pushed out with MADV_PAGEOUT
//                 (no swap needed): a major fault per page, against pages
//                 lock() holds (the kernel refuses to page them out)
//   anonymous     the same for private memory, which needs swap
// Each access is timed alone in C (bench/latency/latency-probe.c); see chooseClock()
// for which clock and what it costs. Run by bench/run.ts.
import fs from 'node:fs';
import path from 'node:path';
import { lock, pageSize, residency, type PageLock } from '../../lib/index';
import { checkInterrupted, onCleanup, tick } from '../common/cleanup';
import { record, type Summary } from '../common/histogram';
import { evictionNote, goals, printLatency } from './latency-report';
import {
  METRICS,
  type ClockReport,
  type LatencyConfig,
  type LatencyReport,
  type Metric,
  type ScenarioResult,
  type SideResult,
  type VariantResult,
  type VariantSpec,
} from './latency-types';
import { loadProbe, type ClockId, type ProbeAddon, type ProbeUsage } from './probe';
import { count, progress, progressDone } from '../common/report';
import { swapState } from '../common/machine';
import { createSwapfile, parseSize } from './swapfile';
import { makeEvictableFile } from './evictable-file';

const MIB = 2 ** 20;

// ------------------------------------------------------------ helpers

let probe: ProbeAddon;
let clockId: ClockId = 0;

// mulberry32: a seeded shuffle, so a run can be repeated exactly.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function pageOrder(kind: 'random' | 'sequential', pages: number, random: () => number): Uint32Array {
  const order = new Uint32Array(pages);
  for (let i = 0; i < pages; i++) order[i] = i;
  if (kind === 'random') {
    for (let i = pages - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
  }
  return order;
}

/** Samples and counters of one side (pinned or paged) of a variant. */
class Side {
  readonly samples: Float64Array;
  filled = 0;
  usage: ProbeUsage = { minflt: 0, majflt: 0, nvcsw: 0, nivcsw: 0, migrations: 0 };
  residentBefore = 0;
  pages = 0;

  constructor(total: number) {
    this.samples = new Float64Array(total);
  }

  add(out: Float64Array, from: number, n: number, u: ProbeUsage): void {
    this.samples.set(out.subarray(from, from + n), this.filled);
    this.filled += n;
    this.usage.minflt += u.minflt;
    this.usage.majflt += u.majflt;
    this.usage.nvcsw += u.nvcsw;
    this.usage.nivcsw += u.nivcsw;
    this.usage.migrations += u.migrations;
  }

  result(): SideResult {
    const { summary, distribution } = record(this.samples.subarray(0, this.filled));
    return {
      accesses: this.filled,
      summary,
      distribution,
      majorFaults: this.usage.majflt,
      minorFaults: this.usage.minflt,
      voluntarySwitches: this.usage.nvcsw,
      involuntarySwitches: this.usage.nivcsw,
      migrations: this.usage.migrations,
      residentBefore: this.residentBefore,
      pages: this.pages,
    };
  }
}

// A secondary variant is printed in full when it tells something the first
// does not: p50 or p99 off by more than 25%, or twice the major faults.
function differs(a: VariantResult, b: VariantResult): boolean {
  const off = (x: number, y: number): boolean => Math.max(x, y) > 1.25 * Math.min(x, y);
  return (['pinned', 'paged'] as const).some((side) => {
    const [x, y] = [a[side], b[side]];
    const faults =
      Math.max(x.majorFaults, y.majorFaults) > Math.max(2 * Math.min(x.majorFaults, y.majorFaults), 0.01 * x.accesses);
    return off(x.summary.p50, y.summary.p50) || off(x.summary.p99, y.summary.p99) || faults;
  });
}

function variantResult(
  spec: VariantSpec,
  pinned: Side,
  paged: Side,
  eviction: VariantResult['eviction'],
): VariantResult {
  const p = pinned.result();
  const q = paged.result();
  const r = {} as Record<Metric, number>;
  for (const m of METRICS) r[m] = p.summary[m] / q.summary[m];
  return {
    id: spec.id,
    label: spec.label,
    order: spec.order,
    advice: spec.advice,
    regionBytes: spec.regionBytes,
    rounds: spec.rounds,
    pinned: p,
    paged: q,
    ratio: r,
    differs: false,
    eviction,
  };
}

const adviceOf = (a: 'random' | 'normal'): number => (a === 'random' ? probe.MADV_RANDOM : probe.MADV_NORMAL);

/** Maps through the probe addon; unmapped at cleanup if not before. */
function mapped(buffer: Buffer): { buffer: Buffer; unmap: () => void } {
  return { buffer, unmap: onCleanup('unmap', () => probe.unmap(buffer)) };
}

function locked(buffer: Buffer): () => void {
  const held: PageLock = lock(buffer);
  return onCleanup('release lock', () => held.release());
}

// Reads a byte of every page: maps every page into the page table, so
// MADV_PAGEOUT (which walks the page table) sees all of them.
function touchAll(buffer: Buffer): number {
  let sum = 0;
  for (let i = 0; i < buffer.length; i += pageSize) sum += buffer[i]!;
  return sum;
}

// MADV_PAGEOUT until mincore shows (almost) nothing resident. Anonymous
// memory needs two passes here: the first writes pages to swap but leaves
// them in the swap cache (mincore counts those); touching maps them again,
// and a second pageout drops them. A few stragglers (pages busy at that
// moment) get another pass without a touch, which would fault everything
// back in.
function evict(buffer: Buffer): { passes: number; resident: number; errno: number } {
  const pages = buffer.length / pageSize;
  let resident = 0;
  let errno = 0;
  let passes = 0;
  for (;;) {
    passes++;
    errno = -probe.advise(buffer, probe.MADV_PAGEOUT);
    resident = residency(buffer).residentPages;
    if (resident <= pages / 1000 || errno !== 0 || passes === 4) break;
    if (resident > pages / 10) touchAll(buffer);
  }
  return { passes, resident, errno };
}

// ------------------------------------------------------------ clock

function chooseClock(want: LatencyConfig['clock']): ClockReport {
  const tscPerNs = probe.calibrate(50);
  const n = 200_000;
  const samples = new Float64Array(n);
  probe.floor(0, samples);
  const clockGettime = record(samples).summary;
  let rdtscp: Summary | null = null;
  if (tscPerNs > 0) {
    probe.floor(1, samples);
    rdtscp = record(samples).summary;
  }
  if (want === 'rdtscp' && rdtscp === null) throw new Error('--clock rdtscp: this CPU has no rdtscp');
  // Equal floors go to rdtscp: it also names the CPU of each read, so a sample
  // that straddles a migration can be counted.
  const name = want !== 'auto' ? want : rdtscp !== null && rdtscp.p50 <= clockGettime.p50 ? 'rdtscp' : 'clock_gettime';
  clockId = name === 'rdtscp' ? 1 : 0;
  return {
    name,
    tscGhz: tscPerNs > 0 ? tscPerNs : null,
    tscStepNs: tscPerNs > 0 ? probe.tscStep() : null,
    floor: { rdtscp, clockGettime },
  };
}

// ------------------------------------------------------------ scenarios

// First touch: each round maps a fresh region; pinned rounds lock() it first
// (faulting in and zeroing every page), paged ones touch it bare. Rounds
// alternate which side goes first, so drift hits both alike.
async function firstTouch(spec: VariantSpec, random: () => number): Promise<VariantResult> {
  const pages = spec.regionBytes / pageSize;
  const order = pageOrder(spec.order, pages, random);
  const sides = { pinned: new Side(pages * spec.rounds), paged: new Side(pages * spec.rounds) };
  const out = new Float64Array(pages);
  for (let round = 0; round < spec.rounds; round++) {
    for (const name of round % 2 === 0 ? (['pinned', 'paged'] as const) : (['paged', 'pinned'] as const)) {
      const side = sides[name];
      const region = mapped(probe.mapAnon(spec.regionBytes));
      const release = name === 'pinned' ? locked(region.buffer) : null;
      side.residentBefore += residency(region.buffer).residentPages;
      side.pages += pages;
      side.add(out, 0, pages, probe.probe(clockId, region.buffer, order, 0, pages, true, out));
      release?.();
      region.unmap();
    }
    if (round % 8 === 7 || round === spec.rounds - 1) {
      progress(`latency: first touch, ${spec.label}: round ${round + 1}/${spec.rounds}`);
      await tick();
      checkInterrupted();
    }
  }
  return variantResult(spec, sides.pinned, sides.paged, null);
}

// Times the pinned mapping, then the paged one, each in chunks so an
// interrupt never waits long. Not chunk by chunk in turn: the paged side's
// faults run the kernel for milliseconds, and the pinned side would then be
// timed with its page-table entries evicted from the caches every 512 pages.
async function timeEvicted(
  spec: VariantSpec,
  title: string,
  paged: Buffer,
  pinned: Buffer,
  random: () => number,
): Promise<{ paged: Side; pinned: Side }> {
  const pages = paged.length / pageSize;
  const order = pageOrder(spec.order, pages, random);
  const sides = { paged: new Side(pages), pinned: new Side(pages) };
  const out = new Float64Array(pages);
  const CHUNK = 512;
  for (const [name, buffer] of [
    ['pinned', pinned],
    ['paged', paged],
  ] as const) {
    for (let from = 0; from < pages; from += CHUNK) {
      const n = Math.min(CHUNK, pages - from);
      sides[name].add(out, from, n, probe.probe(clockId, buffer, order, from, n, false, out));
      progress(`latency: ${title}, ${spec.label}, ${name}: ${count(from + n)}/${count(pages)} pages`);
      await tick();
      checkInterrupted();
    }
  }
  sides.paged.pages = sides.pinned.pages = pages;
  return sides;
}

// One evicted scenario over two mappings of `bytes`: the paged one is evicted
// before each variant, the pinned one held by lock() throughout.
async function evicted(
  title: string,
  specs: VariantSpec[],
  paged: Buffer,
  pinned: Buffer,
  random: () => number,
): Promise<VariantResult[]> {
  const release = locked(pinned);
  const results: VariantResult[] = [];
  try {
    for (const spec of specs) {
      touchAll(paged);
      const ev = evict(paged);
      const pinnedErrno = -probe.advise(pinned, probe.MADV_PAGEOUT);
      const pinnedResident = residency(pinned).residentPages;
      probe.advise(paged, adviceOf(spec.advice));
      probe.advise(pinned, adviceOf(spec.advice));
      const sides = await timeEvicted(spec, title, paged, pinned, random);
      probe.advise(paged, probe.MADV_NORMAL);
      probe.advise(pinned, probe.MADV_NORMAL);
      sides.paged.residentBefore = ev.resident;
      sides.pinned.residentBefore = pinnedResident;
      results.push(
        variantResult(spec, sides.pinned, sides.paged, {
          passes: ev.passes,
          pagedResident: ev.resident,
          pinnedPageoutErrno: pinnedErrno,
          pinnedResident,
        }),
      );
    }
  } finally {
    release();
  }
  return results;
}

async function fileBacked(cfg: LatencyConfig, bytes: number, specs: VariantSpec[], random: () => number) {
  const files = ['paged.dat', 'pinned.dat'].map((name) => path.join(cfg.dir, name));
  const removeFiles = onCleanup('remove data files', () => files.forEach((f) => fs.rmSync(f, { force: true })));
  for (const f of files) makeEvictableFile(f, bytes);
  const paged = mapped(probe.mapFile(files[0]!, bytes));
  const pinned = mapped(probe.mapFile(files[1]!, bytes));
  try {
    return await evicted('file-backed', specs, paged.buffer, pinned.buffer, random);
  } finally {
    pinned.unmap();
    paged.unmap();
    removeFiles();
  }
}

async function anonymous(bytes: number, specs: VariantSpec[], random: () => number) {
  const paged = mapped(probe.mapAnon(bytes));
  const pinned = mapped(probe.mapAnon(bytes));
  try {
    // Not zeros: untouched or zero pages are not swapped, they are dropped.
    paged.buffer.fill(0x5a);
    pinned.buffer.fill(0x5a);
    return await evicted('anonymous', specs, paged.buffer, pinned.buffer, random);
  } finally {
    // Unmapped before any swapoff, which would otherwise read them all back.
    pinned.unmap();
    paged.unmap();
  }
}

// ------------------------------------------------------------ run

export async function runLatency(cfg: LatencyConfig): Promise<LatencyReport> {
  const started = performance.now();
  probe = loadProbe();
  const random = rng(cfg.seed);
  const clock = chooseClock(cfg.clock);
  const scenarios: ScenarioResult[] = [];

  // Memory the VM has never used costs ~10x a minor fault the first time
  // (the host backs it then). Touching and freeing a region first means the
  // first-touch scenario gets pages that are fresh to this process only.
  {
    const warm = mapped(probe.mapAnon(256 * MIB));
    warm.buffer.fill(1);
    warm.unmap();
  }

  const region = 4 * MIB;
  const touchSpecs: VariantSpec[] = [
    {
      id: 'random',
      label: 'random order',
      order: 'random',
      advice: 'normal',
      regionBytes: region,
      rounds: cfg.full ? 512 : 64,
    },
    {
      id: 'sequential',
      label: 'sequential',
      order: 'sequential',
      advice: 'normal',
      regionBytes: region,
      rounds: cfg.full ? 512 : 64,
    },
    {
      id: 'random-64mib',
      label: 'random, 64 MiB regions',
      order: 'random',
      advice: 'normal',
      regionBytes: 64 * MIB,
      rounds: cfg.full ? 8 : 1,
    },
  ];
  const touch: ScenarioResult = {
    id: 'first-touch',
    title: `First touch: fresh anonymous memory, one write per page, ${region / MIB} MiB regions mapped anew each round`,
    access: 'write',
    status: 'measured',
    reason: null,
    variants: [],
    notes: [
      'paged: a minor fault per page (allocate + zero 4 KiB); pinned: lock() faulted the region in beforehand,',
      '  so a write costs a cache and TLB miss at most: more when the region outgrows the caches (64 MiB row).',
    ],
  };
  for (const spec of touchSpecs) touch.variants.push(await firstTouch(spec, random));
  scenarios.push(touch);

  const evictedBytes = (cfg.full ? 256 : 64) * MIB;
  const fileSpecs: VariantSpec[] = [
    {
      id: 'random',
      label: 'random order, MADV_RANDOM',
      order: 'random',
      advice: 'random',
      regionBytes: evictedBytes,
      rounds: 1,
    },
    {
      id: 'random-readaround',
      label: 'random order, default advice',
      order: 'random',
      advice: 'normal',
      regionBytes: evictedBytes,
      rounds: 1,
    },
    {
      id: 'sequential',
      label: 'sequential, default advice',
      order: 'sequential',
      advice: 'normal',
      regionBytes: evictedBytes,
      rounds: 1,
    },
  ];
  const readAhead =
    cfg.readAheadKb === null
      ? ''
      : ` (${cfg.readAheadKb} KiB here: ${count((cfg.readAheadKb * 1024) / pageSize)} pages)`;
  scenarios.push({
    id: 'file',
    title: `Evicted, file-backed: a ${evictedBytes / MIB} MiB MAP_SHARED file mapping after MADV_PAGEOUT, one read per page`,
    access: 'read',
    status: 'measured',
    reason: null,
    variants: await fileBacked(cfg, evictedBytes, fileSpecs, random),
    notes: [
      `Readahead: a fault reads up to read_ahead_kb around it${readAhead}, so sequential or merely clustered`,
      '  access finds most pages already read. MADV_RANDOM turns that off: one page per fault.',
    ],
  });

  scenarios.push(await anonScenario(cfg, evictedBytes, random));

  for (const s of scenarios) {
    const main = s.variants[0];
    for (const v of s.variants) v.differs = v !== main && main !== undefined && differs(main, v);
    if (s.id !== 'first-touch') s.notes.push(...s.variants.map(evictionNote));
  }
  progressDone();
  const report: LatencyReport = {
    clock,
    config: { full: cfg.full, seed: cfg.seed },
    scenarios,
    goals: goals(scenarios),
    seconds: (performance.now() - started) / 1000,
  };
  printLatency(report);
  return report;
}

async function anonScenario(cfg: LatencyConfig, wanted: number, random: () => number): Promise<ScenarioResult> {
  const scenario = (
    bytes: number,
    rest: Pick<ScenarioResult, 'status' | 'reason' | 'variants' | 'notes'>,
  ): ScenarioResult => ({
    id: 'anon',
    title: `Evicted, anonymous: ${bytes / MIB} MiB of private memory after MADV_PAGEOUT to swap, one read per page`,
    access: 'read',
    ...rest,
  });
  const skipped = (reason: string): ScenarioResult =>
    scenario(wanted, { status: 'skipped', reason, variants: [], notes: [] });
  let removeSwap: (() => void) | null = null;
  if (cfg.swapfile !== null) {
    try {
      removeSwap = createSwapfile(cfg.swapfile, parseSize(cfg.swapSize));
    } catch (e) {
      return skipped(`could not make the swapfile: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  try {
    const swap = swapState();
    if (swap.totalBytes === 0) {
      return skipped(
        'no swap (/proc/swaps lists none): anonymous pages cannot be evicted. To measure it, as root: ' +
          'npm run bench -- --swapfile /var/tmp/memlock.swap --swap-size 256M (made for the run, removed after)',
      );
    }
    // What free swap allows, with a quarter spare, up to the size asked for.
    const bytes = Math.min(wanted, Math.floor((swap.freeBytes * 0.8) / MIB) * MIB);
    if (bytes < 16 * MIB)
      return skipped(`swap has ${(swap.freeBytes / MIB).toFixed(0)} MiB free; this scenario needs 20 MiB or more`);
    const specs: VariantSpec[] = [
      {
        id: 'random',
        label: 'random order, MADV_RANDOM',
        order: 'random',
        advice: 'random',
        regionBytes: bytes,
        rounds: 1,
      },
      {
        id: 'sequential',
        label: 'sequential, default advice',
        order: 'sequential',
        advice: 'normal',
        regionBytes: bytes,
        rounds: 1,
      },
    ];
    return scenario(bytes, {
      status: 'measured',
      reason: null,
      variants: await anonymous(bytes, specs, random),
      notes: [
        `swap: ${swap.devices.map((d) => `${d.name} (${d.type}, ${(d.sizeBytes / MIB).toFixed(0)} MiB)`).join(', ')}` +
          `${cfg.swapfile !== null ? ', made for this run' : ''}; swap readahead (vm.page-cluster) is off under MADV_RANDOM`,
      ],
    });
  } finally {
    removeSwap?.();
  }
}
