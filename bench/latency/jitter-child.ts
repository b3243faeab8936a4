// One run of the jitter loop (jitter.ts), in a process of its own so that
// paged and pinned runs start alike and whole-process locking ends with the
// process. Modes: paged; code (lockCode() for the process's code and lock() on
// the working set: what a service with a finite RLIMIT_MEMLOCK can do);
// pinned (lockAll current + future). Prints `R <json>` (a JitterRun) as its last line.
//
//   node --import tsx bench/latency/jitter-child.ts '<ChildConfig as JSON>'
import fs from 'node:fs';
import { lock, lockAll, lockCode, pageSize, stats, unlockAll, type CodeLock, type PageLock } from '../../lib/index';
import { record, type Recorded } from '../common/histogram';
import { loadBuiltProbe, type PressureReport } from './probe';

export type JitterMode = 'paged' | 'code' | 'pinned';

export interface ChildConfig {
  mode: JitterMode;
  pressure: boolean;
  intervalUs: number;
  /** Per wake method. */
  seconds: number;
  warmupSeconds: number;
  wsFile: string;
  wsBytes: number;
  pressurePeriodMs: number;
}

export type Wake = 'setTimeout' | 'busy-wait';

export interface WakeResult {
  wake: Wake;
  cycles: number;
  /** Wake time minus the time asked for, ns. */
  lateness: Recorded;
  /** Touching the working set once, ns. */
  work: Recorded;
  /** Periods skipped because a wake came more than one interval late (cyclictest skips them too). */
  missed: number;
  /** setTimeout only: wakes before the time asked for, recorded as 0 (then 1 ns). */
  early: number;
  majorFaults: number;
  minorFaults: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
}

export interface JitterRun {
  mode: JitterMode;
  pressure: boolean;
  /** lockAll({ current: true, future: true }) took this long; null when paged. */
  lockAllMs: number | null;
  /** code: lockCode() took this long, and the bytes it locked; null otherwise. */
  lockCodeMs: number | null;
  codeBytes: number;
  /** VmLck while running, bytes. */
  vmLckBytes: number;
  /** File-backed mappings the pressure thread pages out. */
  evictable: { mappings: number; bytes: number };
  pressureReport: PressureReport | null;
  wakes: WakeResult[];
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const probe = loadBuiltProbe();
const now = (): number => performance.now() * 1e6; // ns; no BigInt to allocate per read

// Every file-backed mapping of this process (node's text, libraries, addons,
// the working set): what can be evicted without swap.
function fileMappings(): number[] {
  const ranges: number[] = [];
  for (const line of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const [span, , , , inode, file] = line.trim().split(/\s+/);
    if (!span || !file?.startsWith('/') || inode === '0') continue;
    const [start, end] = span.split('-').map((h) => parseInt(h, 16));
    ranges.push(start!, end! - start!);
  }
  return ranges;
}

const ws = probe.mapFile(cfg.wsFile, cfg.wsBytes);

// The work of a cycle: read a byte of every page of the working set.
function touch(): number {
  let sum = 0;
  for (let i = 0; i < ws.length; i += pageSize) sum += ws[i]!;
  return sum;
}

interface Loop {
  seconds: number;
  intervalNs: number;
  lateness: Float64Array;
  work: Float64Array;
  cycles: number;
  missed: number;
  early: number;
}

// Sample arrays are written through before the loop starts, so their own
// first-touch faults are not counted as the loop's.
function newLoop(seconds: number): Loop {
  const intervalNs = cfg.intervalUs * 1000;
  const n = Math.ceil((seconds * 1e9) / intervalNs);
  const lateness = new Float64Array(n).fill(1);
  const work = new Float64Array(n).fill(1);
  return { seconds, intervalNs, lateness, work, cycles: 0, missed: 0, early: 0 };
}

// The wake after one at `woke`, as cyclictest does it: one interval on,
// skipping periods already past when it woke. A cycle whose work runs past
// the next wake makes that wake late (by the overrun), once; it is not
// skipped.
function advance(loop: Loop, target: number, woke: number): number {
  let next = target + loop.intervalNs;
  while (next <= woke) {
    next += loop.intervalNs;
    loop.missed++;
  }
  return next;
}

function busyWait(loop: Loop): void {
  const end = now() + loop.seconds * 1e9;
  let target = now() + loop.intervalNs;
  while (target < end && loop.cycles < loop.lateness.length) {
    let t = now();
    while (t < target) t = now();
    touch();
    const done = now();
    loop.lateness[loop.cycles] = t - target;
    loop.work[loop.cycles] = done - t;
    loop.cycles++;
    target = advance(loop, target, t);
  }
}

function timers(loop: Loop): Promise<void> {
  const end = now() + loop.seconds * 1e9;
  let target = now() + loop.intervalNs;
  return new Promise((resolve) => {
    // setTimeout takes whole ms: ask for the remaining time rounded up.
    const arm = (): void => void setTimeout(fire, Math.max(0, Math.ceil((target - now()) / 1e6)));
    const fire = (): void => {
      const t = now();
      touch();
      const done = now();
      if (t < target) loop.early++;
      loop.lateness[loop.cycles] = Math.max(0, t - target);
      loop.work[loop.cycles] = done - t;
      loop.cycles++;
      target = advance(loop, target, t);
      if (target < end && loop.cycles < loop.lateness.length) arm();
      else resolve();
    };
    arm();
  });
}

async function measure(wake: Wake, seconds: number): Promise<WakeResult> {
  const loop = newLoop(seconds);
  const before = process.resourceUsage();
  if (wake === 'busy-wait') busyWait(loop);
  else await timers(loop);
  const after = process.resourceUsage();
  return {
    wake,
    cycles: loop.cycles,
    lateness: record(loop.lateness.subarray(0, loop.cycles)),
    work: record(loop.work.subarray(0, loop.cycles)),
    missed: loop.missed,
    early: loop.early,
    majorFaults: after.majorPageFault - before.majorPageFault,
    minorFaults: after.minorPageFault - before.minorPageFault,
    voluntarySwitches: after.voluntaryContextSwitches - before.voluntaryContextSwitches,
    involuntarySwitches: after.involuntaryContextSwitches - before.involuntaryContextSwitches,
  };
}

async function main(): Promise<void> {
  let lockAllMs: number | null = null;
  let lockCodeMs: number | null = null;
  let code: CodeLock | null = null;
  let working: PageLock | null = null;
  if (cfg.mode === 'code') {
    const t0 = performance.now();
    code = lockCode();
    lockCodeMs = performance.now() - t0;
    working = lock(ws);
  }
  if (cfg.mode === 'pinned') {
    // current: everything mapped now, text and working set included, is
    // faulted in and locked; future: so is whatever is mapped later.
    const t0 = performance.now();
    lockAll({ current: true, future: true });
    lockAllMs = performance.now() - t0;
  }
  const ranges = fileMappings();
  const evictable = {
    mappings: ranges.length / 2,
    bytes: ranges.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0),
  };
  if (cfg.pressure) probe.pressureStart(Float64Array.from(ranges), cfg.pressurePeriodMs * 1000);
  const wakes: Wake[] = ['setTimeout', 'busy-wait'];
  for (const wake of wakes) await measure(wake, cfg.warmupSeconds); // JIT, and a first pass over everything
  const results: WakeResult[] = [];
  for (const wake of wakes) results.push(await measure(wake, cfg.seconds));
  const pressureReport = cfg.pressure ? probe.pressureStop() : null;
  const vmLckBytes = stats().vmLckBytes ?? 0; // Linux only, like the jitter benchmark
  if (cfg.mode === 'pinned') unlockAll();
  working?.release();
  code?.release();
  probe.unmap(ws);
  const run: JitterRun = {
    mode: cfg.mode,
    pressure: cfg.pressure,
    lockAllMs,
    lockCodeMs,
    codeBytes: code?.bytes ?? 0,
    vmLckBytes,
    evictable,
    pressureReport,
    wakes: results,
  };
  process.stdout.write(`R ${JSON.stringify(run)}\n`);
}

void main();
