// A paging-jitter benchmark of your own workload: how much slower its slow
// iterations are when its memory may be paged than when memlock locks it,
// with the event-loop stalls the paging monitor attributes (paging, gc, cpu).
// Replace `setup` and `iteration` with your service's hot path.
//   npm run build && npx tsx examples/paging-jitter/index.ts [iterations]
// On a machine under memory pressure (or in a memory cgroup near its limit)
// the unlocked run takes major faults and its tail grows; the locked one does not.
import { randomInt } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { lock, monitorPaging, pageSize, type StallReport } from 'memlock';

const ITERATIONS = Number(process.argv[2] ?? 2000);
const TABLE_BYTES = 32 * 1024 * 1024;

// Your workload's data, allocated once.
function setup(): Uint8Array {
  const table = new Uint8Array(TABLE_BYTES);
  for (let i = 0; i < table.length; i += pageSize) table[i] = i & 0xff;
  return table;
}

// One unit of your workload: here, reads of random pages of the table.
function iteration(table: Uint8Array): number {
  let sum = 0;
  for (let k = 0; k < 64; k += 1) sum += table[randomInt(table.length / pageSize) * pageSize]!;
  return sum;
}

interface Run {
  name: string;
  p50Us: number;
  p99Us: number;
  maxUs: number;
  majorFaults: number;
  stalls: StallReport[];
}

async function measure(name: string, table: Uint8Array): Promise<Run> {
  const monitor = monitorPaging({ pressure: false, stallThresholdMs: 20 });
  const stalls: StallReport[] = [];
  monitor.on('stall', (report) => stalls.push(report));
  const faultsBefore = process.resourceUsage().majorPageFault;
  const times: number[] = [];
  for (let i = 0; i < ITERATIONS; i += 1) {
    const start = process.hrtime.bigint();
    iteration(table);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
    // Let the loop turn now and then, as a service's would, so stalls are seen.
    if (i % 100 === 99) await yieldToLoop();
  }
  monitor.close();
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return {
    name,
    p50Us: at(0.5),
    p99Us: at(0.99),
    maxUs: times.at(-1)!,
    majorFaults: process.resourceUsage().majorPageFault - faultsBefore,
    stalls,
  };
}

async function main(): Promise<void> {
  const table = setup();
  const runs = [await measure('unlocked', table)];
  {
    using held = lock(table); // released at the end of this block
    void held;
    runs.push(await measure('locked (memlock)', table));
  }

  console.log(`${ITERATIONS} iterations of the workload, ${TABLE_BYTES / 1024 / 1024} MiB of data`);
  for (const run of runs) {
    const causes = run.stalls.map((s) => s.verdict).join(', ') || 'none';
    console.log(
      `${run.name.padEnd(18)} p50 ${run.p50Us.toFixed(1)} us  p99 ${run.p99Us.toFixed(1)} us  ` +
        `max ${run.maxUs.toFixed(1)} us  major faults ${run.majorFaults}  stalls: ${causes}`,
    );
  }
  const [unlocked, locked] = runs as [Run, Run];
  console.log(
    `p99 unlocked / locked: ${(unlocked.p99Us / locked.p99Us).toFixed(2)}x (one run: repeat it, and compare under load)`,
  );
}

void main();
