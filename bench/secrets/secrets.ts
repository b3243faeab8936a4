// Secret memory: memlock's allocSecret() against sodium-native's sodium_malloc,
// 32-byte secrets, in one run:
//   1. allocate+free throughput: memlock pooled (the default placement),
//      memlock guarded, sodium_malloc/sodium_free; in batches (allocate N, then
//      free N) and one at a time (allocate, free, repeat)
//   2. mappings (lines of /proc/self/maps) used while N secrets are held
//   3. the million test: 1,000,000 secrets kept, each allocator in a child
//      process of its own (secrets-child.ts), since running out of
//      mappings may kill the process (sodium-native aborts)
//
//   npm run bench:secrets -- [--quick] [--json FILE]
//
// Reports; never fails because a goal is missed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sodium_free, sodium_malloc } from 'sodium-native';
import { binding } from '../../lib/binding';
import { allocSecret, secretStats, type SecretBuffer } from '../../lib/index';
import { benchArgs } from '../common/cli';
import { buildTarget } from '../common/cmake';
import { ROOT, writeJson } from '../common/files';
import { median } from '../common/histogram';
import { buildInfo, buildLine, describeMachine, machineLine, maxMapCount } from '../common/machine';
import { fixed as fmt, table } from '../common/report';
import { ALLOCATORS, LABELS, SECRET_SIZE, countMappings, type AllocatorName, type ChildResult } from './secrets-lib';

const args = benchArgs(
  'usage: npm run bench:secrets -- [--quick] [--json FILE]\n' +
    '  --quick      5 throughput batches per case instead of 15\n' +
    "  --json FILE  every figure, with the machine's description (a bare name: under bench/results/)",
  { quick: { type: 'boolean' }, json: { type: 'string' } },
);

const N = 10_000; // secrets per batch, and held at once for the mapping count
const BATCHES = args.quick ? 5 : 15; // timed, per case; median taken
const WARMUP_BATCHES = 2; // untimed, per case: JIT, and first use of the memory
const MILLION = 1_000_000;
const CHILD_TIMEOUT_MS = 120_000;
const GOAL_RATIO = 10; // pooled throughput / sodium_malloc's

const CHILD = path.join(__dirname, 'secrets-child.ts');

// sodium_free only detaches the Buffer; libsodium's sodium_free (munmap) runs
// from a Node immediate. memlock unmaps an emptied slab from an immediate too,
// and both addons' external Buffers end with a native immediate each. So every
// batch ends with a turn of the event loop, timed: that deferred work is part
// of what a free costs.

// ------------------------------------------------------------ the bodies

type Pattern = 'batch' | 'single';
type CaseName = AllocatorName | 'pooled-binding' | 'napi-floor' | 'buffer';

interface Bodies {
  /** Allocates n secrets into this case's held array, writing a byte in each. */
  fill(n: number): void;
  /** Frees the n held. */
  release(n: number): void;
  /** n times: allocate, write a byte, free. */
  single(n: number): void;
}

const CASE_LABELS: Record<CaseName, string> = {
  ...LABELS,
  'pooled-binding': 'pooled, binding (no TS wrapper)',
  'napi-floor': 'N-API external Buffer alone',
  buffer: 'Buffer.alloc(32), GC frees',
};

// ------------------------------------------------------------ the N-API floor

interface FloorAddon {
  make(index: number): Buffer;
  detach(buffer: Buffer): void;
}

// napi-floor.c, the CMake target napi_floor: null (and why) when it can't be built.
function loadFloor(): { addon: FloorAddon | null; why: string | null } {
  try {
    return { addon: require(buildTarget('napi_floor')) as FloorAddon, why: null };
  } catch (e) {
    return { addon: null, why: e instanceof Error ? e.message.split('\n')[0]! : String(e) };
  }
}

const floor = loadFloor();

function failed(result: number): never {
  throw new Error(`bench: binding.allocSecret failed with ${result}`);
}

// binding.allocSecret's result: a Buffer, or a failure.
function asBuffer(result: Buffer | number): Buffer {
  if (typeof result === 'number') failed(result);
  return result;
}

// Each body is its own function literal, so each loop's call sites see one
// allocator only (shared closures would make them polymorphic).
const pooledHeld = new Array<SecretBuffer | null>(N).fill(null);
const guardedHeld = new Array<SecretBuffer | null>(N).fill(null);
const sodiumHeld = new Array<Buffer | null>(N).fill(null);
const directHeld = new Array<Buffer | null>(N).fill(null);
const bufferHeld = new Array<Buffer | null>(N).fill(null);
const floorHeld = new Array<Buffer | null>(N).fill(null);
const GUARDED = { placement: 'guarded' } as const;
// Flags for binding.allocSecret: 2 = lock required (what allocSecret passes by default).
const REQUIRE_LOCK = 2;

const BODIES: Record<CaseName, Bodies> = {
  pooled: {
    fill: (n) => {
      for (let i = 0; i < n; i++) {
        const s = allocSecret(SECRET_SIZE);
        s.buffer[0] = 1;
        pooledHeld[i] = s;
      }
    },
    release: (n) => {
      for (let i = 0; i < n; i++) {
        pooledHeld[i]!.free();
        pooledHeld[i] = null;
      }
    },
    single: (n) => {
      for (let i = 0; i < n; i++) {
        const s = allocSecret(SECRET_SIZE);
        s.buffer[0] = 1;
        s.free();
      }
    },
  },
  guarded: {
    fill: (n) => {
      for (let i = 0; i < n; i++) {
        const s = allocSecret(SECRET_SIZE, GUARDED);
        s.buffer[0] = 1;
        guardedHeld[i] = s;
      }
    },
    release: (n) => {
      for (let i = 0; i < n; i++) {
        guardedHeld[i]!.free();
        guardedHeld[i] = null;
      }
    },
    single: (n) => {
      for (let i = 0; i < n; i++) {
        const s = allocSecret(SECRET_SIZE, GUARDED);
        s.buffer[0] = 1;
        s.free();
      }
    },
  },
  sodium: {
    fill: (n) => {
      for (let i = 0; i < n; i++) {
        const b = sodium_malloc(SECRET_SIZE);
        b[0] = 1;
        sodiumHeld[i] = b;
      }
    },
    release: (n) => {
      for (let i = 0; i < n; i++) {
        sodium_free(sodiumHeld[i]!);
        sodiumHeld[i] = null;
      }
    },
    single: (n) => {
      for (let i = 0; i < n; i++) {
        const b = sodium_malloc(SECRET_SIZE);
        b[0] = 1;
        sodium_free(b);
      }
    },
  },
  // Where pooled's time goes: the same native calls without allocSecret's
  // validation and SecretBuffer. An emptied slab is trimmed at once here,
  // where allocSecret defers it to an immediate.
  'pooled-binding': {
    fill: (n) => {
      for (let i = 0; i < n; i++) {
        const b = asBuffer(binding.allocSecret(SECRET_SIZE, REQUIRE_LOCK));
        b[0] = 1;
        directHeld[i] = b;
      }
    },
    release: (n) => {
      let trim = false;
      for (let i = 0; i < n; i++) {
        if (binding.freeSecret(directHeld[i]!) === 2) trim = true;
        directHeld[i] = null;
      }
      if (trim) binding.trimSecrets();
    },
    single: (n) => {
      let trim = false;
      for (let i = 0; i < n; i++) {
        const b = asBuffer(binding.allocSecret(SECRET_SIZE, REQUIRE_LOCK));
        b[0] = 1;
        if (binding.freeSecret(b) === 2) trim = true;
      }
      if (trim) binding.trimSecrets();
    },
  },
  // The N-API part of pooled: external Buffers over static memory, detached
  // to free them. Only run when napi-floor.c could be built.
  'napi-floor': {
    fill: (n) => {
      const addon = floor.addon!;
      for (let i = 0; i < n; i++) {
        const b = addon.make(i);
        b[0] = 1;
        floorHeld[i] = b;
      }
    },
    release: (n) => {
      const addon = floor.addon!;
      for (let i = 0; i < n; i++) {
        addon.detach(floorHeld[i]!);
        floorHeld[i] = null;
      }
    },
    single: (n) => {
      const addon = floor.addon!;
      for (let i = 0; i < n; i++) {
        const b = addon.make(i);
        b[0] = 1;
        addon.detach(b);
      }
    },
  },
  // A plain 32-byte Buffer (not locked, not secret), dropped for the GC.
  buffer: {
    fill: (n) => {
      for (let i = 0; i < n; i++) {
        const b = Buffer.alloc(SECRET_SIZE);
        b[0] = 1;
        bufferHeld[i] = b;
      }
    },
    release: (n) => {
      for (let i = 0; i < n; i++) bufferHeld[i] = null;
    },
    single: (n) => {
      for (let i = 0; i < n; i++) {
        const b = Buffer.alloc(SECRET_SIZE);
        b[0] = 1;
      }
    },
  },
};

// ------------------------------------------------------------ 1. throughput

interface Phases {
  alloc: bigint; // batch only: the N allocations
  free: bigint; // batch only: the N frees
  deferred: bigint; // the turn of the event loop after the batch
  total: bigint;
}

interface Throughput {
  case: CaseName;
  pattern: Pattern;
  /** Medians over batches, ns per secret (allocate + free). */
  nsPerOp: number;
  opsPerSec: number;
  allocNs: number | null;
  freeNs: number | null;
  deferredNs: number;
  /** How far the median batch sits above the fastest. */
  noise: number;
  batches: number;
  /** Most mappings a batch added that were still there after its turn (frees not yet done, or V8 heap growth). */
  leftoverMappings: number;
  /** Every timed batch, ns per secret, in order. */
  batchNs: number[];
}

const CASE_NAMES: readonly CaseName[] = ['pooled', 'guarded', 'sodium', 'pooled-binding', 'napi-floor', 'buffer'];
const CASES: { name: CaseName; pattern: Pattern }[] = (['batch', 'single'] as const).flatMap((pattern) =>
  CASE_NAMES.filter((name) => name !== 'napi-floor' || floor.addon !== null).map((name) => ({ name, pattern })),
);

async function runBatch(name: CaseName, pattern: Pattern): Promise<Phases> {
  const body = BODIES[name];
  const t0 = process.hrtime.bigint();
  let t1 = t0;
  let t2 = t0;
  if (pattern === 'batch') {
    body.fill(N);
    t1 = process.hrtime.bigint();
    body.release(N);
    t2 = process.hrtime.bigint();
  } else {
    body.single(N);
    t1 = t2 = process.hrtime.bigint();
  }
  await nextTurn();
  const t3 = process.hrtime.bigint();
  return { alloc: t1 - t0, free: t2 - t1, deferred: t3 - t2, total: t3 - t0 };
}

// Cases run in turns, one batch each per round, the starting case rotating,
// so the machine's drift and GC timing hit every case alike.
async function measureThroughput(): Promise<Throughput[]> {
  const phases = CASES.map(() => [] as Phases[]);
  const leftover = CASES.map(() => 0);
  for (let round = -WARMUP_BATCHES; round < BATCHES; round++) {
    for (let k = 0; k < CASES.length; k++) {
      const index = (k + Math.max(round, 0)) % CASES.length;
      const { name, pattern } = CASES[index]!;
      const before = countMappings();
      const p = await runBatch(name, pattern);
      leftover[index] = Math.max(leftover[index]!, countMappings() - before);
      if (secretStats().live !== 0) throw new Error(`bench: ${name} left secrets live after a batch`);
      if (round >= 0) phases[index]!.push(p);
    }
  }
  return CASES.map(({ name, pattern }, i) => {
    const ps = phases[i]!;
    const perOp = (pick: (p: Phases) => bigint): number => median(ps.map((p) => Number(pick(p)) / N));
    const totals = ps.map((p) => Number(p.total) / N);
    const nsPerOp = median(totals);
    return {
      case: name,
      pattern,
      nsPerOp,
      opsPerSec: 1e9 / nsPerOp,
      allocNs: pattern === 'batch' ? perOp((p) => p.alloc) : null,
      freeNs: pattern === 'batch' ? perOp((p) => p.free) : null,
      deferredNs: perOp((p) => p.deferred),
      noise: nsPerOp / Math.min(...totals) - 1,
      batches: ps.length,
      leftoverMappings: leftover[i]!,
      batchNs: totals,
    };
  });
}

// ------------------------------------------------------------ 2. mappings

interface Mappings {
  case: CaseName;
  before: number;
  holding: number;
  perSecret: number;
  after: number;
  /** memlock's own figures while holding. */
  slabs: number | null;
  dedicated: number | null;
}

async function measureMappings(): Promise<Mappings[]> {
  const rows: Mappings[] = [];
  for (const name of [...ALLOCATORS, 'buffer'] as const) {
    await nextTurn();
    const before = countMappings();
    BODIES[name].fill(N);
    const holding = countMappings();
    const stats = secretStats();
    BODIES[name].release(N);
    await nextTurn();
    await nextTurn();
    const memlock = name === 'pooled' || name === 'guarded';
    rows.push({
      case: name,
      before,
      holding,
      perSecret: (holding - before) / N,
      after: countMappings(),
      slabs: memlock ? stats.slabs : null,
      dedicated: memlock ? stats.dedicated : null,
    });
  }
  return rows;
}

// ------------------------------------------------------------ 3. the million

interface Million {
  allocator: AllocatorName;
  outcome: 'ok' | 'error' | 'stopped' | 'crashed' | 'timeout';
  succeeded: number;
  /** The child's own report; null when it died first. */
  report: ChildResult | null;
  /** With no report: the last progress line's figures. */
  lastProgressMs: number | null;
  lastSampledMappings: number | null;
  /** Secrets held when the mapping count first reached vm.max_map_count. */
  atCap: number | null;
  error: string | null;
  exit: string;
  wallMs: number;
  /** The end of the child's stderr, when it died without a report. */
  stderrTail: string | null;
}

// The line of a crash that says what happened: Node's assertion, V8's fatal
// error, or an uncaught exception's message.
function crashLine(stderr: string): string | null {
  const lines = stderr.split('\n').map((l) => l.replace(/^\s*#\s*/, '').trim());
  return (
    lines.find((l) => /Assertion failed|FATAL ERROR|Fatal|out of memory/i.test(l)) ??
    lines.find((l) => /^[A-Za-z]*Error\b/.test(l)) ??
    lines.find((l) => l !== '') ??
    null
  );
}

function runChild(allocator: AllocatorName): Million {
  const t0 = process.hrtime.bigint();
  // cwd = the repo, so `--import tsx` resolves from its node_modules.
  const child = spawnSync(process.execPath, ['--import', 'tsx', CHILD, allocator, String(MILLION)], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: CHILD_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 256 * 2 ** 20,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  let report: ChildResult | null = null;
  let progress = 0;
  let lastProgressMs: number | null = null;
  let lastSampledMappings: number | null = null;
  let atCap: number | null = null;
  const cap = maxMapCount();
  for (const line of (child.stdout ?? '').split('\n')) {
    if (line.startsWith('R ')) report = JSON.parse(line.slice(2)) as ChildResult;
    else if (line.startsWith('P ')) {
      const [n, ms, mappings] = line.slice(2).split(' ');
      progress = Number(n);
      lastProgressMs = Number(ms);
      if (mappings !== undefined) {
        lastSampledMappings = Number(mappings);
        if (atCap === null && cap !== null && lastSampledMappings >= cap) atCap = progress;
      }
    }
  }
  const exit = child.signal !== null ? `signal ${child.signal}` : `exit ${child.status}`;
  const timedOut = (child.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  if (report !== null) {
    const outcome = report.error !== null ? 'error' : report.stopped !== null ? 'stopped' : 'ok';
    return {
      allocator,
      outcome,
      succeeded: report.succeeded,
      report,
      lastProgressMs,
      lastSampledMappings,
      atCap: report.atCap,
      error: report.error ?? report.stopped,
      exit,
      wallMs,
      stderrTail: null,
    };
  }
  return {
    allocator,
    outcome: timedOut ? 'timeout' : 'crashed',
    succeeded: progress,
    report: null,
    lastProgressMs,
    lastSampledMappings,
    atCap,
    error: timedOut ? `no report within ${CHILD_TIMEOUT_MS / 1000} s` : crashLine(child.stderr ?? ''),
    exit,
    wallMs,
    stderrTail: (child.stderr ?? '').slice(-4000),
  };
}

// ------------------------------------------------------------ report

function sodiumVersion(): string {
  const file = path.join(path.dirname(require.resolve('sodium-native')), 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const throughput = await measureThroughput();
  const mappings = await measureMappings();
  const million = ALLOCATORS.map(runChild);
  const totalS = Number(process.hrtime.bigint() - started) / 1e9;

  const build = buildInfo();
  const machine = { ...describeMachine(), sodiumNative: sodiumVersion() };

  console.log(
    `memlock secrets: ${machineLine(machine)}, vm.max_map_count ${machine.maxMapCount ?? 'unknown'}, ` +
      `sodium-native ${machine.sodiumNative}`,
  );
  console.log(buildLine(build));
  console.log(
    `${SECRET_SIZE}-byte secrets, a byte written in each. Throughput: median of ${BATCHES} batches of ` +
      `${fmt(N)} per case (after ${WARMUP_BATCHES} untimed), cases interleaved; each batch includes the ` +
      `event-loop turn after it, where deferred frees run.\n`,
  );

  const byCase = (name: CaseName, pattern: Pattern): Throughput =>
    throughput.find((t) => t.case === name && t.pattern === pattern)!;
  const opt = (v: number | null): string => (v === null ? '' : fmt(v, 1));
  console.log(
    table(
      ['pattern', 'allocator', 'ops/s', 'ns/op', 'alloc ns', 'free ns', 'deferred ns', 'noise', 'maps +'],
      throughput.map((t) => [
        t.pattern === 'batch' ? `batch (${fmt(N)} then free)` : 'one at a time',
        CASE_LABELS[t.case],
        fmt(t.opsPerSec),
        fmt(t.nsPerOp, 1),
        opt(t.allocNs),
        opt(t.freeNs),
        fmt(t.deferredNs, 1),
        `${(t.noise * 100).toFixed(1)}%`,
        fmt(t.leftoverMappings),
      ]),
      [false, false, true, true, true, true, true, true, true],
    ),
  );
  console.log(
    '\nns/op: one allocate + free, all phases; deferred: the event-loop turn after the batch, per secret.\n' +
      'noise: median batch over the fastest; over a few % the machine was busy.\n' +
      "maps +: most mappings a batch added that were still there after its turn: frees not done yet, or V8's heap growing.\n" +
      'pooled, binding: the same native calls without allocSecret() and SecretBuffer.\n' +
      'N-API external Buffer alone: napi_create_external_buffer over static memory, napi_detach_arraybuffer to\n' +
      'free (bench/secrets/napi-floor.c): what pooled pays Node whatever its pool does. Buffer.alloc: a plain Buffer.',
  );
  if (floor.addon === null) console.log(`N-API floor not measured: ${floor.why ?? 'unknown'}`);

  const ratios = (['batch', 'single'] as const).map((pattern) => {
    const pooled = byCase('pooled', pattern);
    const sodium = byCase('sodium', pattern);
    const guarded = byCase('guarded', pattern);
    const ratio = pooled.opsPerSec / sodium.opsPerSec;
    return { pattern, ratio, guardedRatio: guarded.opsPerSec / sodium.opsPerSec, met: ratio >= GOAL_RATIO };
  });
  console.log();
  if (floor.addon !== null) {
    const share = (pattern: Pattern): string =>
      `${((byCase('napi-floor', pattern).nsPerOp / byCase('pooled', pattern).nsPerOp) * 100).toFixed(0)}%`;
    console.log(
      `The N-API external Buffer alone is ${share('batch')} of pooled's time in batches, ${share('single')} one at a time.`,
    );
  }
  for (const r of ratios) {
    console.log(
      `${r.pattern === 'batch' ? 'batch        ' : 'one at a time'}: pooled / sodium_malloc = ${r.ratio.toFixed(1)}x ` +
        `(goal >= ${GOAL_RATIO}x: ${r.met ? 'met' : 'NOT met'}); guarded / sodium_malloc = ${r.guardedRatio.toFixed(2)}x`,
    );
  }

  console.log(`\nMappings (lines of /proc/self/maps) while ${fmt(N)} secrets are held:\n`);
  console.log(
    table(
      ['allocator', 'before', 'holding', 'per secret', 'after free', 'memlock slabs', 'dedicated'],
      mappings.map((m) => [
        CASE_LABELS[m.case],
        fmt(m.before),
        fmt(m.holding),
        fmt(m.perSecret, 4),
        fmt(m.after),
        m.slabs === null ? '' : fmt(m.slabs),
        m.dedicated === null ? '' : fmt(m.dedicated),
      ]),
      [false, true, true, true, true, true, true],
    ),
  );
  console.log('Buffer.alloc: the control, what V8 heap growth alone adds.');

  console.log(
    `\nThe million: ${fmt(MILLION)} secrets kept, one child process per allocator (timeout ${CHILD_TIMEOUT_MS / 1000} s):\n`,
  );
  console.log(
    table(
      [
        'allocator',
        'succeeded',
        'outcome',
        'mappings at peak',
        'at the cap',
        'after it',
        'alloc time',
        'us/secret',
        'RSS',
      ],
      million.map((m) => {
        const ms = m.report?.allocMs ?? m.lastProgressMs;
        const peak = m.report
          ? `${fmt(m.report.peakMappings)} (from ${fmt(m.report.baselineMappings)})`
          : m.lastSampledMappings !== null
            ? `${fmt(m.lastSampledMappings)} (last sample)`
            : '';
        return [
          LABELS[m.allocator],
          fmt(m.succeeded),
          `${m.outcome}${m.outcome === 'crashed' ? ` (${m.exit})` : ''}`,
          peak,
          m.atCap === null ? 'never' : fmt(m.atCap),
          m.atCap === null ? '' : fmt(m.succeeded - m.atCap),
          ms === null ? '' : `${fmt(ms / 1000, 2)} s`,
          ms === null || m.succeeded === 0 ? '' : fmt((ms * 1000) / m.succeeded, 2),
          m.report ? `${fmt(m.report.rssBytes / 2 ** 20)} MiB` : '',
        ];
      }),
      [false, true, false, true, true, true, true, true, true],
    ),
  );
  for (const m of million) {
    if (m.error !== null) console.log(`${LABELS[m.allocator]}: ${m.error}`);
  }
  console.log(
    '\nat the cap: secrets held when /proc/self/maps first had vm.max_map_count lines; after it: secrets made\n' +
      'since, which cannot have mappings of their own: no guard pages, and not locked or kept out of core\n' +
      'dumps either (mlock and madvise of part of a mapping need a split, refused at the cap).\n' +
      'alloc time: the allocation loop, progress output and mapping sampling subtracted; for a crashed child,\n' +
      'up to its last progress line.',
  );
  const pooledPool = million.find((m) => m.allocator === 'pooled')?.report?.pool;
  if (pooledPool) {
    console.log(
      `memlock pooled at the peak: ${fmt(pooledPool.slabs)} slabs, ${fmt(pooledPool.mappedBytes / 2 ** 20, 1)} MiB mapped; ` +
        "the rest of its mapping growth is V8's heap.",
    );
  }
  const sodiumCrash = million.find((m) => m.allocator === 'sodium' && m.outcome === 'crashed');
  if (sodiumCrash?.error?.includes('data == nullptr')) {
    console.log(
      'sodium_malloc: libsodium returned NULL (its mmap refused) and sodium-native 5 hands that to\n' +
        'napi_create_external_arraybuffer unchecked: Node asserts and aborts the process, nothing to catch.',
    );
  }

  const pooledMillion = million.find((m) => m.allocator === 'pooled')!;
  const sodiumMillion = million.find((m) => m.allocator === 'sodium')!;
  const millionMet =
    pooledMillion.succeeded === MILLION && pooledMillion.outcome === 'ok' && sodiumMillion.succeeded < MILLION;
  console.log('\nGoals:');
  for (const r of ratios) {
    console.log(
      `  pooled >= ${GOAL_RATIO}x sodium_malloc throughput (${r.pattern === 'batch' ? 'batch' : 'one at a time'}): ` +
        `${r.met ? 'met' : 'NOT met'} (${r.ratio.toFixed(1)}x)`,
    );
  }
  console.log(
    `  a million secrets where sodium_malloc fails: ${millionMet ? 'met' : 'NOT met'} ` +
      `(pooled ${fmt(pooledMillion.succeeded)} ${pooledMillion.outcome}, sodium_malloc ${fmt(sodiumMillion.succeeded)} ${sodiumMillion.outcome})`,
  );
  console.log(`\ntotal ${totalS.toFixed(1)} s`);

  if (args.json !== undefined) {
    const report = {
      machine,
      build,
      config: { secretSize: SECRET_SIZE, n: N, batches: BATCHES, warmupBatches: WARMUP_BATCHES, million: MILLION },
      goals: { pooledOverSodium: GOAL_RATIO, million: MILLION },
      throughput,
      ratios,
      mappings,
      million,
      goalsMet: { throughput: ratios.every((r) => r.met), million: millionMet },
      totalSeconds: totalS,
    };
    console.log(`wrote ${writeJson(args.json, report)}`);
  }
}

void main();
