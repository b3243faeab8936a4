// npm run bench:monitor: what monitorPaging() costs and how fast it tells.
//   cpu     CPU time of an idle process: nothing, memlock imported, the
//           monitor at its defaults, the monitor without PSI (rounds interleaved)
//   stall   from the end of a 100 ms busy loop to its 'stall' event
//   psi     from the start of real memory pressure (a worker paging a 256 MiB
//           file in a memory cgroup capped at baseline + 64 MiB) to the
//           'pressure' event of the default trigger; root and a memory cgroup only
//
//   npm run bench:monitor -- [--seconds N] [--rounds N] [--stall-rounds N] [--psi-rounds N] [--only cpu,stall,psi] [--json FILE]
//
// Reports; never fails because a goal is missed. Removes its files, children
// and cgroups on the way out and on SIGINT/SIGTERM/SIGHUP.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { intoCgroups, makeTestCgroup, planCgroups } from '../../test/helpers/cgroup';
import { makeDataFile } from '../../test/helpers/file-map';
import { checkInterrupted, installSignalHandlers, makeTempDir, runMain, track } from '../common/cleanup';
import { ROOT } from '../common/files';
import { buildInfo, describeMachine, machineLine } from '../common/machine';
import { heading, progress, progressDone, table } from '../common/report';

const MiB = 2 ** 20;
const CHILD = path.join(__dirname, 'paging-monitor-child.ts');
// The testing build (CMakeLists.txt, memlock_testing) has the mapFile hook
// the pressure worker maps its file with. Only that worker loads it: the
// monitor under test runs on the shipped addon (lib/).
const TESTING_BUILD = path.join(ROOT, 'build-cmake', 'memlock_testing.node');

function testingBuild(): string | { skipped: string } {
  if (!fs.existsSync(TESTING_BUILD))
    execFileSync('sh', [path.join(ROOT, 'scripts', 'build-testing.sh')], { stdio: 'inherit' });
  return fs.existsSync(TESTING_BUILD)
    ? TESTING_BUILD
    : { skipped: 'needs the testing build (cmake) for its file mappings' };
}

function runChild(args: string[], prefix: string[] = []): Promise<unknown> {
  const command = [...prefix, process.execPath, '--import', 'tsx', CHILD, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, MEMORY_PRESSURE_WATCH: '' },
    });
    track(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`${args[0]} child ended with ${signal ?? `exit ${code}`}`));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const quantile = (xs: number[], q: number): number =>
  [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const ms = (n: number): string => (n >= 100 ? `${Math.round(n)} ms` : `${n.toPrecision(3)} ms`);

interface CpuSample {
  mode: string;
  cpuUs: number;
  wallMs: number;
  iterations: number;
}

const LABELS: Record<string, string> = {
  idle: 'idle (no memlock)',
  imported: 'idle, memlock imported, nothing started',
  monitor: 'idle, monitorPaging() defaults',
  'monitor-no-psi': 'idle, monitorPaging({ pressure: false })',
  busy: 'busy loop (1 ms timer with work), no monitor',
  'busy-monitor': 'busy loop, monitorPaging() defaults',
};

async function measureCpu(seconds: number, rounds: number) {
  const modes = Object.keys(LABELS);
  const samples: CpuSample[] = [];
  for (let r = 0; r < rounds; r += 1) {
    for (const mode of modes) {
      checkInterrupted();
      progress(`cpu: round ${r + 1}/${rounds}, ${mode}`);
      samples.push((await runChild(['cpu', mode, String(seconds)])) as CpuSample);
    }
  }
  progressDone();
  const percent = (s: CpuSample): number => (s.cpuUs / 1000 / s.wallMs) * 100;
  const rows = modes.map((mode) => {
    const of = samples.filter((s) => s.mode === mode);
    return {
      mode,
      percent: median(of.map(percent)),
      min: Math.min(...of.map(percent)),
      max: Math.max(...of.map(percent)),
      iterationsPerSecond: median(of.map((s) => (s.iterations / s.wallMs) * 1000)),
    };
  });
  const row = (mode: string) => rows.find((r) => r.mode === mode)!;
  const busyCost = row('busy-monitor').percent - row('busy').percent;
  return {
    seconds,
    rounds,
    rows,
    idleCostPercent: row('monitor').percent - row('idle').percent,
    busyCostPercent: busyCost,
    perIterationUs: ((busyCost / 100) * 1e6) / row('busy').iterationsPerSecond,
    samples,
  };
}

async function measureStall(rounds: number) {
  const result = (await runChild(['stall', String(rounds)])) as {
    samples: { afterEndMs: number; afterStartMs: number; delayMs: number; verdict: string }[];
  };
  const after = result.samples.map((s) => s.afterEndMs);
  return {
    rounds,
    afterEnd: { p50: median(after), p95: quantile(after, 0.95), max: Math.max(...after) },
    samples: result.samples,
  };
}

async function measurePsi(rounds: number, dir: string) {
  const plan = planCgroups();
  if ('reason' in plan) return { skipped: plan.reason };
  // The testing build's mapFile drops the file's pages from the page cache
  // first, so the child's reads are charged to its own cgroup.
  const probe = testingBuild();
  if (typeof probe !== 'string') return probe;
  const file = path.join(dir, 'pressure.dat');
  makeDataFile(file, 256 * MiB);
  const group = makeTestCgroup(plan, 'bench');
  try {
    const config = {
      probe,
      file,
      bytes: 256 * MiB,
      limitFile: group.memory.limitFile,
      usageFile: group.memory.usageFile,
      headroomBytes: 64 * MiB,
    };
    progress(`psi: ${rounds} rounds of 4 s calm, then pressure until the trigger fires...`);
    const result = (await runChild(['psi', String(rounds), JSON.stringify(config)], intoCgroups(group))) as {
      source: string;
      trigger: { text: string };
      samples: { latencyMs: number | null; deliveryMs: number | null; stallMs: number | null; calmEvents: number }[];
    };
    progressDone();
    const fired = result.samples.filter((s) => s.latencyMs !== null);
    const latency = fired.map((s) => s.latencyMs!);
    const delivery = fired.map((s) => s.deliveryMs!);
    return {
      source: result.source,
      trigger: result.trigger.text,
      fired: fired.length,
      rounds,
      latency: latency.length ? { p50: median(latency), min: Math.min(...latency), max: Math.max(...latency) } : null,
      delivery: delivery.length ? { p50: median(delivery), max: Math.max(...delivery) } : null,
      calmEvents: result.samples.reduce((n, s) => n + s.calmEvents, 0),
      samples: result.samples,
    };
  } finally {
    const left = group.remove();
    if (left.length > 0) process.stderr.write(`bench: could not remove ${left.join(', ')}\n`);
  }
}

/** One paging sample as the loop watch takes it between PSI reads, in us: the median of 7 batches of 2,000. */
function sampleCost(): number {
  const { binding } = require('../../lib/binding') as typeof import('../../lib/binding');
  const out = new Float64Array(binding.numbers.paging.slots.count);
  const sched = fs.openSync('/proc/thread-self/schedstat', 'r');
  const batches: number[] = [];
  for (let b = 0; b < 7; b += 1) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 2000; i += 1) binding.pagingSample(out, sched, -1);
    batches.push(Number(process.hrtime.bigint() - t0) / 2000 / 1000);
  }
  fs.closeSync(sched);
  return median(batches);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      'stall-rounds': { type: 'string', default: '20' },
      'psi-rounds': { type: 'string', default: '3' },
      only: { type: 'string', default: 'cpu,stall,psi' },
      json: { type: 'string' },
    },
  });
  const only = new Set(values.only.split(','));
  installSignalHandlers();
  const machine = describeMachine();
  const dir = makeTempDir();
  console.log(heading(`memlock paging monitor: ${machineLine(machine)}`));
  console.log(
    `build: ${buildInfo().commit ?? 'unknown'}; load average ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
  );

  const sample = sampleCost();
  console.log(
    `\none paging sample (getrusage x2 and schedstat; the PSI totals at most every 500 ms) costs ${sample.toFixed(1)} us here; ` +
      `at most one per resolution (10 ms) while the loop iterates: at most ${((sample * 100) / 1e4).toFixed(3)}% of one core, plus two clock reads per iteration`,
  );
  const cpu = only.has('cpu') ? await measureCpu(Number(values.seconds), Number(values.rounds)) : null;
  if (cpu)
    console.log(
      `\nCPU time of a process, % of one core (median of ${cpu.rounds} interleaved rounds of ${cpu.seconds} s):\n`,
    );
  if (cpu)
    console.log(
      table(
        ['process', 'CPU', 'min', 'max', 'loop iterations/s'],
        cpu.rows.map((r) => [
          LABELS[r.mode]!,
          `${r.percent.toFixed(3)}%`,
          `${r.min.toFixed(3)}%`,
          `${r.max.toFixed(3)}%`,
          r.iterationsPerSecond.toFixed(0),
        ]),
        [false, true, true, true, true],
      ),
    );
  if (cpu)
    console.log(
      `\nthe monitor at its defaults costs ${cpu.idleCostPercent.toFixed(3)}% of one core on an idle loop and ` +
        `${cpu.busyCostPercent.toFixed(3)}% on the busy one (goal < 1%): about ${cpu.perIterationUs.toFixed(2)} us per loop iteration`,
    );

  const stall = only.has('stall') ? await measureStall(Number(values['stall-rounds'])) : null;
  if (stall)
    console.log(
      `\nstall detection: a 100 ms busy loop, from its end to the 'stall' event (${stall.rounds} rounds): ` +
        `p50 ${ms(stall.afterEnd.p50)}, p95 ${ms(stall.afterEnd.p95)}, max ${ms(stall.afterEnd.max)}; ` +
        `verdicts ${[...new Set(stall.samples.map((s) => s.verdict))].join(', ')}`,
    );

  let psi: unknown = { skipped: 'not asked for (--only)' };
  try {
    if (only.has('psi')) psi = await measurePsi(Number(values['psi-rounds']), dir);
  } catch (e) {
    checkInterrupted();
    psi = { error: e instanceof Error ? e.message : String(e) };
  }
  const p = psi as Awaited<ReturnType<typeof measurePsi>> & { error?: string };
  if ('skipped' in p) console.log(`\npsi detection: not measured: ${p.skipped}`);
  else if (p.error) console.log(`\npsi detection: not measured: ${p.error}`);
  else {
    console.log(
      `\npsi detection: from the start of paging (a worker reading a 256 MiB file in a cgroup capped at baseline + 64 MiB) ` +
        `to the 'pressure' event, trigger "${p.trigger}" on the ${p.source}: fired in ${p.fired} of ${p.rounds} rounds` +
        (p.latency
          ? `; p50 ${ms(p.latency.p50)} (${ms(p.latency.min)} to ${ms(p.latency.max)}); ` +
            `kernel wake to JavaScript p50 ${ms(p.delivery!.p50)}, max ${ms(p.delivery!.max)}`
          : '') +
        `; events in the 4 s after each pressure stopped (the kernel's deferred events): ${p.calmEvents}`,
    );
  }
  const loadAfter = describeMachine().loadAverage;
  console.log(`\nload average now ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
  if (values.json !== undefined) {
    fs.writeFileSync(
      values.json,
      `${JSON.stringify({ machine, build: buildInfo(), loadAverage: { start: machine.loadAverage, end: loadAfter }, sampleUs: sample, cpu, stall, psi }, null, 2)}\n`,
    );
    console.log(`wrote ${values.json}`);
  }
}

runMain(main);
