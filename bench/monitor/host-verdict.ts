// The 'host' stall verdict's false positives: stalls whose cause is known
// (CPU, GC, guest paging) must not be called 'host'. Each load runs in a
// child with a paging monitor; the rate is the share of its stalls called
// 'host'.
//   cpu     120 ms busy loops while two spinning processes compete for the 2 CPUs
//   gc      full GCs of a 1.5-million-object heap, with the same spinners
//   paging  test/fixtures/paging-pressure.ts unpinned: random reads of a file
//           mapping in a memory cgroup capped at baseline + 64 MiB (root, a
//           memory cgroup and the testing build)
// Run: node --import tsx bench/monitor/host-verdict.ts [--rounds 30]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { intoCgroups, makeTestCgroup, planCgroups } from '../../test/helpers/cgroup';
import { makeDataFile } from '../../test/helpers/file-map';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '30' } } });
const rounds = Number(values.rounds);
const MiB = 1 << 20;
const ROOT = path.join(__dirname, '..', '..');

function tally(verdicts: string[]): string {
  const counts = new Map<string, number>();
  for (const v of verdicts) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([v, n]) => `${v} ${n}`).join(', ');
}

function report(load: string, verdicts: string[], reasons: string[] = []): void {
  const host = verdicts.filter((v) => v === 'host').length;
  const rate = verdicts.length === 0 ? 'n/a' : `${((100 * host) / verdicts.length).toFixed(1)}%`;
  console.log(
    `${load.padEnd(7)} stalls ${String(verdicts.length).padStart(3)}  host ${host} (${rate})  [${tally(verdicts)}]`,
  );
  for (const r of reasons) console.log(`        host: ${r}`);
}

function withSpinners<T>(run: () => T): T {
  const spinners: ChildProcess[] = [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
  try {
    return run();
  } finally {
    for (const s of spinners) s.kill('SIGKILL');
  }
}

function child(load: string, node: string[] = []): { verdicts: string[]; reasons: string[] } {
  const r = spawnSync(
    process.execPath,
    [...node, '--import', 'tsx', path.join(__dirname, 'host-verdict-child.ts'), load, String(rounds)],
    { encoding: 'utf8', cwd: ROOT },
  );
  if (r.status !== 0) throw new Error(`${load} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { verdicts: string[]; reasons: string[] };
}

function paging(): void {
  const plan = planCgroups();
  if ('reason' in plan) return console.log(`paging  not run: ${plan.reason}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'memlock-host-verdict-'));
  const group = makeTestCgroup(plan, 'host-verdict');
  try {
    makeDataFile(path.join(dir, 'hot'), 32 * MiB);
    makeDataFile(path.join(dir, 'background'), 256 * MiB);
    const config = {
      hot: path.join(dir, 'hot'),
      hotBytes: 32 * MiB,
      hotRandom: true,
      background: path.join(dir, 'background'),
      backgroundBytes: 256 * MiB,
      pin: false,
      limitFile: group.memory.limitFile,
      usageFile: group.memory.usageFile,
      headroomBytes: 64 * MiB,
      minSeconds: 20,
      maxSeconds: 40,
      triggerMs: 20,
      readsPerBlock: 2000,
      gcObjects: 0,
    };
    const r = spawnSync(
      'env',
      [
        '-u',
        'NODE_OPTIONS',
        ...intoCgroups(group),
        process.execPath,
        '--import',
        'tsx',
        path.join(ROOT, 'test/fixtures/paging-pressure.ts'),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, MEMLOCK_PRESSURE_FIXTURE: JSON.stringify(config), MEMORY_PRESSURE_WATCH: '' },
      },
    );
    if (r.status !== 0) throw new Error(`paging child failed: ${r.stderr}`);
    const stalls = (JSON.parse(r.stdout) as { stalls: { verdict: string; reason: string }[] }).stalls;
    report(
      'paging',
      stalls.map((s) => s.verdict),
      stalls.filter((s) => s.verdict === 'host').map((s) => s.reason),
    );
  } finally {
    group.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`host verdict false positives, ${rounds} rounds per load (${process.version})`);
const cpu = withSpinners(() => child('cpu'));
report('cpu', cpu.verdicts, cpu.reasons);
const gc = withSpinners(() => child('gc', ['--expose-gc']));
report('gc', gc.verdicts, gc.reasons);
paging();
