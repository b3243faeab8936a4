// One load of bench/monitor/host-verdict.ts in a process of its own: a paging
// monitor (stall threshold 30 ms) over `rounds` stalls made by the load, on
// the built package (lib/); prints the verdicts as JSON.
//   cpu <rounds>   each round a 120 ms busy loop (the parent keeps spinners running beside it)
//   gc <rounds>    each round a full GC of a heap of 1.5 million live objects (--expose-gc)
import { setTimeout as sleep } from 'node:timers/promises';

const [load = 'cpu', roundsText = '20'] = process.argv.slice(2);
const rounds = Number(roundsText);

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

async function main(): Promise<void> {
  const memlock = require('../../lib/index') as typeof import('../../lib/index');
  using monitor = memlock.monitorPaging({ stallThresholdMs: 30, pressure: false, cgroupEvents: false });
  const verdicts: string[] = [];
  const reasons: string[] = [];
  monitor.on('stall', (report: import('../../lib/index').StallReport) => {
    verdicts.push(report.verdict);
    if (report.verdict === 'host') reasons.push(report.reason);
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  const live: object[] = [];
  if (load === 'gc') for (let i = 0; i < 1_500_000; i += 1) live.push({ i, next: live[i - 1] });
  for (let round = 0; round < rounds; round += 1) {
    if (load === 'gc') gc!();
    else busy(120);
    await sleep(50);
  }
  await sleep(100);
  process.stdout.write(JSON.stringify({ load, verdicts, reasons, keep: live.length }));
}

void main();
