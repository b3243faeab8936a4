// Whole-process locking in Node, measured: plain mlockall (no protection)
// against memlock's lockAll, for each flag set, on the same GC-heavy
// workload (about 264 MB of objects built and dropped, a worker, exit), each
// in its own child process. Reports how many runs V8 aborted, and what each
// flag set costs in RSS and VmLck.
//
//   npm run bench:lockall -- [--runs N] [--json FILE]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { benchArgs, usageError } from '../common/cli';
import { ROOT, writeJson } from '../common/files';
import { buildInfo, buildLine, describeMachine, machineLine } from '../common/machine';
import { table } from '../common/report';

const USAGE =
  'usage: npm run bench:lockall -- [--runs N] [--json FILE]\n' +
  '  --runs N     child processes per flag set and mode (default 5)\n' +
  "  --json FILE  every figure, with the machine's description (a bare name: under bench/results/)";
const args = benchArgs(USAGE, { runs: { type: 'string', default: '5' }, json: { type: 'string' } });
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) usageError(USAGE, '--runs takes a whole number >= 1');

const CHILD = path.join(__dirname, 'lock-all-child.ts');
const FLAG_SETS = [
  { name: 'current', flags: '100' },
  { name: 'current+future', flags: '110' },
  { name: 'current+future+onFault', flags: '111' },
  { name: 'future+onFault', flags: '011' },
];

interface ChildReport {
  rssBefore: number;
  rssAfter: number;
  vmLckAfter: number;
}

function runChild(mode: 'plain' | 'memlock', flags: string): { aborted: boolean; report?: ChildReport } {
  const { NODE_OPTIONS: _hooks, ...env } = process.env;
  const result = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, mode, flags], {
    cwd: ROOT,
    encoding: 'utf8',
    env,
    timeout: 120_000,
  });
  const aborted = result.status !== 0 || /Fatal|Check failed/.test(result.stderr);
  const line = result.stdout.trim().split('\n').pop();
  return { aborted, ...(aborted || !line ? {} : { report: JSON.parse(line) as ChildReport }) };
}

// Before the runs: the load average they start with.
const machine = describeMachine();
const build = buildInfo();
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const rows: { flags: string; plainAborted: number; memlockAborted: number; runs: number; report?: ChildReport }[] = [];
for (const { name, flags } of FLAG_SETS) {
  let plainAborted = 0;
  let memlockAborted = 0;
  let report: ChildReport | undefined;
  for (let i = 0; i < RUNS; i += 1) {
    if (runChild('plain', flags).aborted) plainAborted += 1;
    const run = runChild('memlock', flags);
    if (run.aborted) memlockAborted += 1;
    report = run.report ?? report;
  }
  rows.push({ flags: name, plainAborted, memlockAborted, runs: RUNS, ...(report ? { report } : {}) });
  process.stderr.write('.');
}
process.stderr.write('\n');

console.log(`whole-process locking, ${RUNS} runs per flag set: ${machineLine(machine)}`);
console.log(buildLine(build));
console.log(
  table(
    ['flags', 'plain mlockall aborted', 'memlock lockAll aborted', 'RSS before', 'RSS after', 'VmLck after'],
    rows.map((r) => [
      r.flags,
      `${r.plainAborted} of ${r.runs}`,
      `${r.memlockAborted} of ${r.runs}`,
      r.report ? mib(r.report.rssBefore) : '-',
      r.report ? mib(r.report.rssAfter) : '-',
      r.report ? mib(r.report.vmLckAfter) : '-',
    ]),
    [false, true, true, true, true, true],
  ),
);
console.log('RSS and VmLck: memlock lockAll, after the workload and the GC (a plain mlockall run aborts before then).');
if (args.json !== undefined)
  console.log(`wrote ${writeJson(args.json, { machine, build, config: { runs: RUNS }, rows })}`);
