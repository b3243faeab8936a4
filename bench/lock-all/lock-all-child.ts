// One run for lock-all.ts: argv[2] 'plain' (bare mlockall, from the
// testing build) or 'memlock' (lockAll), argv[3] the flags as
// "current future onFault" digits. Prints JSON on a normal exit.
import { rawSyscalls } from '../common/testing-build';
import { Worker } from 'node:worker_threads';
import { binding } from '../../lib/binding';
import { lockAll, stats } from '../../lib/index';

declare const gc: () => void;
const [mode, digits = '100'] = process.argv.slice(2);
const [current, future, onFault] = digits.split('').map((c) => c === '1') as [boolean, boolean, boolean];
const rssBefore = process.memoryUsage().rss;
if (mode === 'plain') rawSyscalls(binding).rawLockAll((current ? 1 : 0) | (future ? 2 : 0) | (onFault ? 4 : 0));
else lockAll({ current, future, onFault });

for (let round = 0; round < 8; round += 1) {
  let objects: { i: number; s: string }[] | null = [];
  for (let i = 0; i < 150_000; i += 1) objects.push({ i, s: `${'x'.repeat(150)}${i}` });
  objects = null;
  gc();
}
const worker = new Worker("require('node:worker_threads').parentPort.postMessage(1)", { eval: true });
worker.once('message', async () => {
  await worker.terminate();
  gc();
  console.log(JSON.stringify({ rssBefore, rssAfter: process.memoryUsage().rss, vmLckAfter: stats().vmLckBytes }));
});
