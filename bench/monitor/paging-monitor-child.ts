// One measurement of bench/paging-monitor.ts in a process of its own, timing
// the built package (lib/, what users run);
// prints one JSON object.
//   cpu <idle|imported|monitor|monitor-no-psi|busy|busy-monitor> <seconds>   CPU time of an idle (or busy) process
//   stall <rounds>                                          busy loops, and when each 'stall' event came
//   psi <rounds> <config json>                              memory pressure started, and when 'pressure' came
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

const [mode = '', a = '', b = ''] = process.argv.slice(2);

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

async function cpu(what: string, seconds: number): Promise<unknown> {
  // Every mode keeps the process alive the same way.
  const alive = setInterval(() => {}, 1000);
  if (what !== 'idle' && what !== 'busy') {
    const memlock = require('../../lib/index') as typeof import('../../lib/index');
    if (what !== 'imported') memlock.monitorPaging(what === 'monitor-no-psi' ? { pressure: false } : {});
  }
  // A service's loop iterates: a 1 ms timer doing a little work, about 1,000 iterations a second.
  let iterations = 0;
  const work = { id: 1, name: 'request', items: [1, 2, 3] };
  const busyTimer = what.startsWith('busy')
    ? setInterval(() => {
        iterations += 1;
        JSON.parse(JSON.stringify(work));
      }, 1)
    : undefined;
  await sleep(500); // past start-up
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const i0 = iterations;
  await sleep(seconds * 1000);
  const used = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  clearInterval(alive);
  clearInterval(busyTimer);
  return { mode: what, cpuUs: used.user + used.system, wallMs, iterations: iterations - i0 };
}

async function stall(rounds: number): Promise<unknown> {
  const { monitorPaging } = require('../../lib/index') as typeof import('../../lib/index');
  using monitor = monitorPaging({ pressure: false });
  const alive = setInterval(() => {}, 1000);
  const samples: { stallMs: number; afterEndMs: number; afterStartMs: number; delayMs: number; verdict: string }[] = [];
  for (let i = 0; i < rounds; i += 1) {
    await sleep(150);
    const seen = new Promise<{ delayMs: number; verdict: string }>((resolve) => monitor.once('stall', resolve));
    const start = performance.now();
    busy(100);
    const end = performance.now();
    const report = await seen;
    const at = performance.now();
    samples.push({
      stallMs: end - start,
      afterEndMs: at - end,
      afterStartMs: at - start,
      delayMs: report.delayMs,
      verdict: report.verdict,
    });
  }
  clearInterval(alive);
  return { samples };
}

interface PsiConfig {
  probe: string;
  file: string;
  bytes: number;
  limitFile: string;
  usageFile: string;
  headroomBytes: number;
}

async function psi(rounds: number, config: PsiConfig): Promise<unknown> {
  const { monitorPaging } = require('../../lib/index') as typeof import('../../lib/index');
  writeFileSync(config.limitFile, String(Number(readFileSync(config.usageFile, 'utf8')) + config.headroomBytes));
  using monitor = monitorPaging(); // the defaults: some 100 ms per 2 s
  const events: { time: number; deliveryMs: number; stallMs: number | null }[] = [];
  monitor.on('pressure', (e: { time: number; deliveryMs: number; stallMs: number | null }) => events.push(e));
  const samples: { latencyMs: number | null; deliveryMs: number | null; stallMs: number | null; calmEvents: number }[] =
    [];
  for (let i = 0; i < rounds; i += 1) {
    // Calm first: an event now would be someone else's pressure (or stale).
    await sleep(4000);
    const calmEvents = events.length;
    events.length = 0;
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const started = performance.now();
    const worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       const data = require(workerData.probe).mapFile(workerData.file, workerData.bytes, false);
       const stop = new Int32Array(workerData.stop);
       const pages = workerData.bytes / 4096;
       let x = 7, sum = 0;
       while (Atomics.load(stop, 0) === 0) {
         for (let i = 0; i < 256; i += 1) {
           x = (Math.imul(x, 1103515245) + 12345) >>> 0;
           sum += data[((x >>> 8) % pages) * 4096];
         }
       }`,
      { eval: true, workerData: { probe: config.probe, file: config.file, bytes: config.bytes, stop: stop.buffer } },
    );
    const until = started + 30_000;
    while (events.length === 0 && performance.now() < until) await sleep(10);
    const first = events[0];
    Atomics.store(stop, 0, 1);
    await new Promise((resolve) => worker.once('exit', resolve));
    samples.push({
      latencyMs: first ? first.time - started : null,
      deliveryMs: first?.deliveryMs ?? null,
      stallMs: first?.stallMs ?? null,
      calmEvents,
    });
  }
  return { source: monitor.source, trigger: monitor.trigger, samples };
}

async function main(): Promise<unknown> {
  switch (mode) {
    case 'cpu':
      return cpu(a, Number(b));
    case 'stall':
      return stall(Number(a));
    case 'psi':
      return psi(Number(a), JSON.parse(b) as PsiConfig);
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error: unknown) => {
    process.stderr.write(`${String((error as Error)?.stack ?? error)}\n`);
    process.exit(1);
  },
);
