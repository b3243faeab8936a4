// npm run bench: every benchmark in one run, quick by default (under a
// minute on a 2-core VM), and what pinning buys on this machine.
//   latency   bench/latency/latency.ts, per-page access time, pinned against paged
//   jitter    bench/latency/jitter.ts, a cyclictest-style loop, paged against lockAll
//   overhead  bench/overhead/overhead.ts, memlock against the raw syscalls (own process)
//   pinned    bench/pinned/pinned.ts, allocPinned by page kind: access latency, cost of allocating
//
//   npm run bench -- [--full] [--json FILE] [--hgrm DIR] [--svg FILE]
//                    [--only overhead,latency,jitter,pinned] [--swapfile PATH --swap-size SIZE]
//                    [--clock auto|rdtscp|clock_gettime] [--seed N] [--hugetlb-pool]
//
// Changes no system setting unless a flag says so (--swapfile, --hugetlb-pool),
// and then says so before anything runs.
// Reports; never fails because a goal is missed. Leaves nothing behind:
// temporary files, the swapfile, a hugetlb pool and child processes are undone on exit and
// on SIGINT/SIGTERM/SIGHUP (locks end with the process anyway).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { checkInterrupted, installSignalHandlers, makeTempDir, runMain, track } from './common/cleanup';
import { benchArgs, usageError } from './common/cli';
import { outputPath, ROOT, shown, writeJson, writeOutput } from './common/files';
import { hgrm } from './common/histogram';
import { buildInfo, buildLine, describeMachine, machineLine } from './common/machine';
import { heading } from './common/report';
import { figure } from './latency/figure';
import { runJitter, type JitterReport } from './latency/jitter';
import { runLatency } from './latency/latency';
import type { LatencyReport } from './latency/latency-types';
import { parseSize } from './latency/swapfile';
import { runPinned, type PinnedBenchReport } from './pinned/pinned';

const validSize = (text: string): boolean => {
  try {
    return parseSize(text) > 0;
  } catch {
    return false;
  }
};

const USAGE = `usage: npm run bench -- [options]
  --full                 longer runs (about 2 minutes): more samples, larger buffers
  --json FILE            every figure, with the machine's description
  --hgrm DIR             HdrHistogram percentile distributions, one .hgrm file per curve (values in us)
  --svg FILE             latency CDFs, pinned against paged, log axes
                         (FILE or DIR: a bare name goes under bench/results/, a path is taken as given)
  --only LIST            some of: latency,jitter,pinned,overhead (default: all)
  --swapfile PATH        make a temporary swapfile there for the anonymous-eviction scenario (root; removed after)
  --swap-size SIZE       its size (default 256M)
  --hugetlb-pool         let the pinned benchmark raise vm.nr_hugepages when too few 2 MiB pages are free
                         (root; restored after; without it the hugetlb rows are skipped)
  --clock NAME           auto (default), rdtscp or clock_gettime: the clock timing each access
  --seed N               seed of the random page order (default 1)`;

const BENCHES = ['latency', 'jitter', 'pinned', 'overhead'] as const;
type Bench = (typeof BENCHES)[number];

function options() {
  const values = benchArgs(USAGE, {
    full: { type: 'boolean', default: false },
    json: { type: 'string' },
    hgrm: { type: 'string' },
    svg: { type: 'string' },
    only: { type: 'string' },
    swapfile: { type: 'string' },
    'swap-size': { type: 'string', default: '256M' },
    clock: { type: 'string', default: 'auto' },
    seed: { type: 'string', default: '1' },
    'hugetlb-pool': { type: 'boolean', default: false },
  });
  const only = (values.only ?? BENCHES.join(',')).split(',').map((s) => s.trim());
  const bad = only.filter((b) => !(BENCHES as readonly string[]).includes(b));
  const clock = values.clock;
  const seed = Number(values.seed);
  const problems = [
    ...(bad.length > 0 ? [`--only: unknown ${bad.join(', ')}`] : []),
    ...(clock !== 'auto' && clock !== 'rdtscp' && clock !== 'clock_gettime'
      ? ['--clock: auto, rdtscp or clock_gettime']
      : []),
    ...(!Number.isInteger(seed) ? ['--seed: an integer'] : []),
    ...(values.swapfile !== undefined && !validSize(values['swap-size'])
      ? [`--swap-size: not a size: ${values['swap-size']}`]
      : []),
  ];
  if (problems.length > 0) usageError(USAGE, problems.join('\n'));
  return { ...values, only: new Set(only as Bench[]), clock: clock as 'auto' | 'rdtscp' | 'clock_gettime', seed };
}

// overhead.ts runs as a script of its own; its --json output is read back.
function runOverhead(dir: string): Promise<unknown> {
  const file = path.join(dir, 'overhead.json');
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(__dirname, 'overhead', 'overhead.ts'), '--json', file],
      {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
        // The file is this run's scratch, removed at the end: not worth a "wrote" line.
        env: { ...process.env, MEMLOCK_BENCH_SCRATCH_JSON: '1' },
      },
    );
    track(child);
    child.on('exit', (code, signal) => {
      if (code === 0 && fs.existsSync(file)) resolve(JSON.parse(fs.readFileSync(file, 'utf8')));
      else resolve({ error: `bench/overhead/overhead.ts ended with ${signal ?? `exit ${code}`}` });
    });
  });
}

function writeHgrm(arg: string, latency: LatencyReport | null, jitter: JitterReport | null): string {
  const dir = outputPath(arg);
  fs.mkdirSync(dir, { recursive: true });
  let written = 0;
  const write = (name: string, text: string): void => {
    fs.writeFileSync(path.join(dir, `${name}.hgrm`), text);
    written++;
  };
  for (const s of latency?.scenarios ?? []) {
    for (const v of s.variants) {
      write(`latency-${s.id}-${v.id}-pinned`, hgrm(v.pinned));
      write(`latency-${s.id}-${v.id}-paged`, hgrm(v.paged));
    }
  }
  for (const run of jitter?.runs ?? []) {
    if ('error' in run) continue;
    for (const w of run.wakes) {
      const name = `jitter-${run.pressure ? 'pressure' : 'calm'}-${run.mode}-${w.wake}`;
      write(`${name}-lateness`, hgrm(w.lateness));
      write(`${name}-work`, hgrm(w.work));
    }
  }
  return `${written} .hgrm files to ${shown(dir)}`;
}

async function main(): Promise<void> {
  const opts = options();
  installSignalHandlers();
  const started = performance.now();
  const machine = describeMachine();
  const build = buildInfo();
  const dir = makeTempDir();
  // Up front: what this run may change on the machine, and that it is undone.
  const changes = [
    ...(opts.swapfile !== undefined ? [`adds a ${opts['swap-size']} swapfile at ${opts.swapfile} (swapon)`] : []),
    ...(opts['hugetlb-pool'] && opts.only.has('pinned')
      ? ['may raise vm.nr_hugepages (--hugetlb-pool) if too few 2 MiB pages are free']
      : []),
  ];
  for (const change of changes) console.error(`this run ${change}; restored when it ends, interrupted or not`);
  console.log(heading(`memlock benchmarks${opts.full ? ' (--full)' : ''}: ${machineLine(machine)}`));
  // Other work on the machine shows up as preemptions in the tails: say so.
  const busy = machine.loadAverage[0]! > machine.cpus / 2;
  console.log(
    `${buildLine(build)}; load average ` +
      `${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}${busy ? ': the machine is busy, expect noisy tails; rerun when quiet' : ''}`,
  );

  let overhead: unknown = null;
  let latency: LatencyReport | null = null;
  let jitter: JitterReport | null = null;
  let pinned: PinnedBenchReport | null = null;
  // A benchmark that cannot run here (no cmake, C compiler or node headers)
  // is reported and the others still run.
  const failed: Partial<Record<Bench, string>> = {};
  const attempt = async <T>(name: Bench, run: () => Promise<T>): Promise<T | null> => {
    try {
      return await run();
    } catch (e) {
      checkInterrupted();
      failed[name] = e instanceof Error ? e.message : String(e);
      console.error(`\n${name}: not measured: ${failed[name]}`);
      return null;
    }
  };
  if (opts.only.has('latency')) {
    latency = await attempt('latency', () =>
      runLatency({
        full: opts.full,
        dir,
        seed: opts.seed,
        clock: opts.clock,
        swapfile: opts.swapfile ?? null,
        swapSize: opts['swap-size'],
        readAheadKb: machine.tmpdir.readAheadKb,
      }),
    );
  }
  if (opts.only.has('jitter')) jitter = await attempt('jitter', () => runJitter({ full: opts.full, dir }));
  if (opts.only.has('pinned'))
    pinned = await attempt('pinned', () =>
      runPinned({ full: opts.full, seed: opts.seed, hugetlbPool: opts['hugetlb-pool'] }),
    );
  // Last: it maps, locks and frees a GiB, and this VM hands freed memory
  // back to the host for seconds after, which showed in latency tails.
  if (opts.only.has('overhead')) {
    console.log(heading('\nmemlock overhead (bench/overhead/overhead.ts)'));
    overhead = await runOverhead(dir);
    checkInterrupted();
  }

  const seconds = (performance.now() - started) / 1000;
  const loadAfter = describeMachine().loadAverage;
  console.log(`\ntotal ${seconds.toFixed(1)} s; load average now ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
  if (opts.json !== undefined) {
    const report = {
      machine,
      build,
      config: {
        full: opts.full,
        only: [...opts.only],
        seed: opts.seed,
        clock: opts.clock,
        swapfile: opts.swapfile ?? null,
        hugetlbPool: opts['hugetlb-pool'],
      },
      loadAverage: { start: machine.loadAverage, end: loadAfter },
      overhead,
      latency,
      jitter,
      pinned,
      failed,
      totalSeconds: seconds,
    };
    console.log(`wrote ${writeJson(opts.json, report)}`);
  }
  if (opts.hgrm !== undefined) console.log(`wrote ${writeHgrm(opts.hgrm, latency, jitter)}`);
  if (opts.svg !== undefined) {
    const swap = opts.swapfile !== undefined ? `; a ${opts['swap-size']} swapfile made for the run` : '';
    console.log(`wrote ${writeOutput(opts.svg, figure(latency, jitter, `${machineLine(machine)}${swap}`))}`);
  }
}

runMain(main);
