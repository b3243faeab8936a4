// Locked is not pinned: read latencies of a locked buffer while the kernel
// compacts memory, with vm.compact_unevictable_allowed at 1 (compaction may
// move locked pages) and at 0 (it may not), side by side in one run.
//   locked   random one-byte reads, one per page, over a locked buffer
//            (default 256 MiB), each timed alone in C (latency-probe.c)
//   control  the same reads over 16 locked pages that stay in the cache,
//            interleaved with the locked reads chunk by chunk: what
//            compaction's own CPU use (and anything else on the machine)
//            does to a reader whose pages are not being moved
//   phases   quiet (no compaction) then during one forced compaction
//            (echo 1 > /proc/sys/vm/compact_memory, in a child) of a machine
//            fragmented first (a tmpfs file with every other page punched out)
// Rounds alternate the setting (1, 0, 1, 0, ...); movedPages() counts the
// locked pages that changed frame in each round.
//
// It CHANGES A SYSTEM SETTING (vm.compact_unevictable_allowed) and forces
// compaction of the whole machine: it runs only with --change-system-settings
// (root), and restores the setting on exit and on SIGINT/SIGTERM/SIGHUP.
//
//   npm run bench:compaction -- --change-system-settings [--rounds N] [--size MiB] [--fragment MiB] [--json FILE]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { binding } from '../../lib/binding';
import { lock, movedPages, pageSize } from '../../lib/index';
import { COMPACT_UNEVICTABLE, fragmentMemory } from '../../test/helpers/compaction';
import { checkInterrupted, installSignalHandlers, onCleanup, runMain, tick, track } from '../common/cleanup';
import { benchArgs, usageError } from '../common/cli';
import { writeJson } from '../common/files';
import { summaryOf, type Summary } from '../common/histogram';
import { buildInfo, describeMachine, machineLine } from '../common/machine';
import { count, duration, heading, progress, progressDone, table } from '../common/report';
import { loadProbe, type ProbeAddon } from '../latency/probe';

const MiB = 2 ** 20;
const CHUNK = 1024;
const CONTROL_PAGES = 16;
const QUIET_MS = 500;
const SLOW_NS = 100_000;

const USAGE = `usage: npm run bench:compaction -- --change-system-settings [options]
  --change-system-settings  required: this benchmark sets vm.compact_unevictable_allowed to 1 and 0
                            (restored at the end) and forces compaction of the whole machine (root)
  --rounds N                rounds per setting, alternating (default 4)
  --size MiB                the locked buffer (default 256)
  --fragment MiB            the tmpfs file fragmenting memory, half of it punched out (default 2048)
  --json FILE               every figure, with the machine's description`;

type Setting = 0 | 1;
type Reader = 'locked' | 'control';
type Phase = 'quiet' | 'compaction';

interface Cell {
  histogram: RecordableHistogram;
  slow: number;
  minorFaults: number;
  preemptions: number;
  sleeps: number;
}

interface RoundResult {
  setting: Setting;
  round: number;
  movedPages: number;
  lockedPages: number;
  controlMoved: number;
  compactionMs: number;
  compactionCpuMs: number;
  pagesMigrated: number;
}

interface Buffers {
  probe: ProbeAddon;
  locked: Buffer;
  control: Buffer;
  lockedOrder: Uint32Array;
  controlOrder: Uint32Array;
  out: Float64Array;
}

function shuffled(pages: number, seed: number): Uint32Array {
  let state = seed >>> 0 || 1;
  const random = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  const order = new Uint32Array(pages);
  for (let i = 0; i < pages; i++) order[i] = i;
  for (let i = pages - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

function newCell(): Cell {
  return { histogram: createHistogram({ figures: 3 }), slow: 0, minorFaults: 0, preemptions: 0, sleeps: 0 };
}

function summarize(h: RecordableHistogram): Summary {
  if (h.count === 0)
    return { count: 0, min: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, clamped: 0 };
  return summaryOf(h, 0);
}

/** One chunk of timed reads into `cell`, from `from` in `order`. */
function readChunk(b: Buffers, reader: Reader, from: number, cell: Cell): void {
  const buffer = reader === 'locked' ? b.locked : b.control;
  const order = reader === 'locked' ? b.lockedOrder : b.controlOrder;
  const n = Math.min(CHUNK, order.length - from);
  const usage = b.probe.probe(0, buffer, order, from, n, false, b.out);
  // The probe writes sample i of the order at out[i].
  for (let i = from; i < from + n; i++) {
    const ns = Math.max(1, Math.round(b.out[i]!));
    cell.histogram.record(ns);
    if (ns >= SLOW_NS) cell.slow += 1;
  }
  cell.minorFaults += usage.minflt;
  cell.preemptions += usage.nivcsw;
  cell.sleeps += usage.nvcsw;
}

/** A child's state letter and CPU time (ms) from /proc/<pid>/stat; undefined once reaped. */
function childStat(pid: number): { state: string; cpuMs: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) in clock ticks (USER_HZ, 100 on Linux).
    return { state: fields[0]!, cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 };
  } catch {
    return undefined;
  }
}

/** Reads both buffers, chunk by chunk interleaved, until `done()` says stop. */
function readWhile(b: Buffers, cells: Record<Reader, Cell>, done: () => boolean): void {
  let lockedAt = 0;
  let controlAt = 0;
  do {
    readChunk(b, 'locked', lockedAt, cells.locked);
    readChunk(b, 'control', controlAt, cells.control);
    lockedAt = (lockedAt + CHUNK) % b.lockedOrder.length;
    controlAt = (controlAt + CHUNK) % b.controlOrder.length;
  } while (!done());
}

/** Pages of the runs inside [start, start + bytes). */
function pagesIn(runs: { address: number; bytes: number }[], start: number, bytes: number): number {
  let pages = 0;
  for (const run of runs) {
    const from = Math.max(run.address, start);
    const to = Math.min(run.address + run.bytes, start + bytes);
    if (to > from) pages += (to - from) / pageSize;
  }
  return pages;
}

function readSetting(): string {
  return readFileSync(COMPACT_UNEVICTABLE, 'latin1').trim();
}

function pgmigrate(): number {
  return Number(/^pgmigrate_success (\d+)$/m.exec(readFileSync('/proc/vmstat', 'latin1'))?.[1] ?? 0);
}

async function round(
  probe: ProbeAddon,
  setting: Setting,
  index: number,
  sizeBytes: number,
  fragmentBytes: number,
  cells: Record<Setting, Record<Phase, Record<Reader, Cell>>>,
): Promise<RoundResult> {
  writeFileSync(COMPACT_UNEVICTABLE, String(setting));
  const locked = probe.mapAnon(sizeBytes);
  const control = probe.mapAnon(CONTROL_PAGES * pageSize);
  const lockedHeld = lock(locked);
  const controlHeld = lock(control);
  try {
    const b: Buffers = {
      probe,
      locked,
      control,
      lockedOrder: shuffled(sizeBytes / pageSize, index + 1),
      controlOrder: shuffled(CHUNK, index + 7).map((i) => i % CONTROL_PAGES),
      out: new Float64Array(sizeBytes / pageSize),
    };
    const release = fragmentMemory(fragmentBytes);
    let compactionMs = 0;
    let compactionCpuMs = 0;
    let pagesMigrated = 0;
    try {
      // An untimed pass: the host may back guest memory lazily.
      readWhile(b, { locked: newCell(), control: newCell() }, () => true);
      movedPages(); // the baseline: frames before the phases
      const quietEnd = performance.now() + QUIET_MS;
      readWhile(b, cells[setting].quiet, () => performance.now() >= quietEnd);
      const migratedBefore = pgmigrate();
      const started = performance.now();
      const child: ChildProcess = spawn('sh', ['-c', 'echo 1 > /proc/sys/vm/compact_memory'], { stdio: 'ignore' });
      track(child);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const pid = child.pid!;
      let last: { state: string; cpuMs: number } | undefined;
      // The child compacts in its write(); it is a zombie (state Z) once done.
      readWhile(b, cells[setting].compaction, () => {
        const stat = childStat(pid);
        if (stat !== undefined) last = stat;
        return stat === undefined || stat.state === 'Z';
      });
      compactionMs = performance.now() - started;
      compactionCpuMs = last?.cpuMs ?? 0;
      pagesMigrated = pgmigrate() - migratedBefore;
      await exited;
    } finally {
      release();
    }
    const report = movedPages();
    const controlMoved = pagesIn(report.moved, binding.addressOf(control), control.length);
    return {
      setting,
      round: index,
      movedPages: report.movedPages - controlMoved,
      lockedPages: report.lockedPages - CONTROL_PAGES,
      controlMoved,
      compactionMs,
      compactionCpuMs,
      pagesMigrated,
    };
  } finally {
    lockedHeld.release();
    controlHeld.release();
    probe.unmap(locked);
    probe.unmap(control);
  }
}

function positive(name: string, text: string | undefined, fallback: number): number {
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(value) || value <= 0) usageError(USAGE, `${name}: a positive integer`);
  return value;
}

export interface CompactionBenchReport {
  machine: ReturnType<typeof describeMachine>;
  build: ReturnType<typeof buildInfo>;
  originalSetting: string;
  sizeBytes: number;
  fragmentBytes: number;
  rounds: RoundResult[];
  cells: {
    setting: Setting;
    phase: Phase;
    reader: Reader;
    summary: Summary;
    slow: number;
    minorFaults: number;
    preemptions: number;
    sleeps: number;
  }[];
}

async function main(): Promise<void> {
  const values = benchArgs(USAGE, {
    'change-system-settings': { type: 'boolean', default: false },
    rounds: { type: 'string' },
    size: { type: 'string' },
    fragment: { type: 'string' },
    json: { type: 'string' },
  });
  const rounds = positive('--rounds', values.rounds, 4);
  const sizeBytes = positive('--size', values.size, 256) * MiB;
  const fragmentBytes = positive('--fragment', values.fragment, 2048) * MiB;
  if (values['change-system-settings'] !== true)
    usageError(
      USAGE,
      'this benchmark changes vm.compact_unevictable_allowed and forces compaction of the whole machine: pass --change-system-settings to let it',
    );
  const original = readSetting();
  console.log(
    heading('Locked is not pinned: reads of a locked buffer during compaction') +
      `\nCHANGING A SYSTEM SETTING: vm.compact_unevictable_allowed (now ${original}) is set to 1 and 0 in turn,` +
      ` and restored to ${original} at the end; each round forces compaction of the whole machine.`,
  );
  installSignalHandlers();
  onCleanup(`restore vm.compact_unevictable_allowed=${original}`, () => writeFileSync(COMPACT_UNEVICTABLE, original));
  const machine = describeMachine();
  console.log(machineLine(machine));
  const probe = loadProbe();
  const cells = {
    1: { quiet: { locked: newCell(), control: newCell() }, compaction: { locked: newCell(), control: newCell() } },
    0: { quiet: { locked: newCell(), control: newCell() }, compaction: { locked: newCell(), control: newCell() } },
  } satisfies Record<Setting, Record<Phase, Record<Reader, Cell>>>;
  const results: RoundResult[] = [];
  for (let i = 0; i < rounds * 2; i++) {
    const setting: Setting = i % 2 === 0 ? 1 : 0;
    progress(`round ${i + 1} of ${rounds * 2}: compact_unevictable_allowed=${setting}`);
    results.push(await round(probe, setting, i, sizeBytes, fragmentBytes, cells));
    await tick();
    checkInterrupted();
  }
  progressDone();
  writeFileSync(COMPACT_UNEVICTABLE, original);

  console.log(
    `\n${heading('Rounds')} (${count(sizeBytes / pageSize)} locked pages each; compaction CPU: the writer's system time)`,
  );
  console.log(
    table(
      ['setting', 'round', 'locked pages moved', 'control moved', 'system pages migrated', 'compaction', 'its CPU'],
      results.map((r) => [
        String(r.setting),
        String(r.round + 1),
        `${count(r.movedPages)} (${((100 * r.movedPages) / r.lockedPages).toFixed(1)}%)`,
        count(r.controlMoved),
        count(r.pagesMigrated),
        duration(r.compactionMs * 1e6),
        duration(r.compactionCpuMs * 1e6),
      ]),
      [true, true, true, true, true, true, true],
    ),
  );
  const rows: CompactionBenchReport['cells'] = [];
  for (const setting of [1, 0] as const)
    for (const phase of ['quiet', 'compaction'] as const)
      for (const reader of ['locked', 'control'] as const) {
        const c = cells[setting][phase][reader];
        rows.push({
          setting,
          phase,
          reader,
          summary: summarize(c.histogram),
          slow: c.slow,
          minorFaults: c.minorFaults,
          preemptions: c.preemptions,
          sleeps: c.sleeps,
        });
      }
  console.log(
    `\n${heading('Read latency')} (one read per page; slow: >= ${duration(SLOW_NS)}; faults and switches of the reading thread)`,
  );
  console.log(
    table(
      [
        'setting',
        'phase',
        'reader',
        'reads',
        'p50',
        'p99',
        'p99.9',
        'max',
        'slow',
        'minor faults',
        'preempted',
        'slept',
      ],
      rows.map((r) => [
        String(r.setting),
        r.phase,
        r.reader,
        count(r.summary.count),
        duration(r.summary.p50),
        duration(r.summary.p99),
        duration(r.summary.p999),
        duration(r.summary.max),
        count(r.slow),
        count(r.minorFaults),
        count(r.preemptions),
        count(r.sleeps),
      ]),
      [true, false, false, true, true, true, true, true, true, true, true, true],
    ),
  );
  console.log(`\n${heading('Separating the two effects')}`);
  for (const setting of [1, 0] as const) {
    const locked = rows.find((r) => r.setting === setting && r.phase === 'compaction' && r.reader === 'locked')!;
    const control = rows.find((r) => r.setting === setting && r.phase === 'compaction' && r.reader === 'control')!;
    const moved = results.filter((r) => r.setting === setting).reduce((s, r) => s + r.movedPages, 0);
    const slowRate = (r: typeof locked) => (r.summary.count === 0 ? 0 : r.slow / r.summary.count);
    console.log(
      `  compact_unevictable_allowed=${setting}: ${count(moved)} locked pages moved; during compaction the locked reader took ` +
        `${count(locked.minorFaults)} minor faults (waits on migrating pages) and had ${(slowRate(locked) * 1e6).toFixed(0)} slow reads per million, ` +
        `the control reader (pages not moved) ${count(control.minorFaults)} and ${(slowRate(control) * 1e6).toFixed(0)} per million (CPU contention alone)`,
    );
  }
  if (values.json !== undefined) {
    const report: CompactionBenchReport = {
      machine,
      build: buildInfo(),
      originalSetting: original,
      sizeBytes,
      fragmentBytes,
      rounds: results,
      cells: rows,
    };
    console.log(`\nwrote ${writeJson(values.json, report)}`);
  }
}

if (require.main === module) runMain(main);
