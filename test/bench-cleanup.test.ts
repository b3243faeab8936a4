// npm run bench must leave nothing behind when interrupted: no temporary
// file or directory, no child process (and so no locked page: locks end
// with their process). Runs the real benchmark, quick and without swap, in a
// TMPDIR of its own, and sends SIGINT part way.
// test-exclusive: the hugetlb pool (vm.nr_hugepages)
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { buildTarget } from '../bench/common/cmake';

const ROOT = path.join(__dirname, '..');
const RUN = path.join(ROOT, 'bench', 'run.ts');

// The latency and jitter benchmarks load the probe addon, a CMake target
// they build before they make any file. Built here first, so the waits below
// wait for the benchmark and not for a first build; without cmake or a C
// compiler the benchmark cannot run, and the tests are skipped with the reason.
let unbuildable: string | false = false;
try {
  buildTarget('latency_probe');
} catch (e) {
  unbuildable = e instanceof Error ? e.message : String(e);
}

interface Bench {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
}

function startBench(only: string, tmp: string, flags: string[] = []): Bench {
  // `env -u NODE_OPTIONS`: a plain node, without the test runner's loader (see helpers/child.ts).
  const args = ['-u', 'NODE_OPTIONS', process.execPath, '--import', 'tsx', RUN, '--only', only, ...flags];
  const child = spawn('env', args, {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, output: () => output };
}

// Polls until the probe finds something or the benchmark has exited: no
// deadline of its own, so a busy machine only makes it slower (tap's
// timeout bounds a benchmark that hangs).
async function waitFor<T>(probe: () => T | null, bench: Bench): Promise<T | null> {
  let exited = false;
  void bench.exited.then(() => (exited = true));
  for (;;) {
    const found = probe();
    if (found !== null || exited) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Files under dir, recursively, relative to it; not tsx's compile cache
// (tsx-<uid>/), which tsx keeps in TMPDIR on purpose.
function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => !/^tsx-\d+/.test(f));
}

// Pids of processes whose command line mentions `text` (the jitter child's
// does: its working-set file is in the benchmark's temporary directory).
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function tempDir(t: { teardown(fn: () => void): void }): string {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'memlock-cleanup-test-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  return tmp;
}

t.test(
  'SIGINT during the file-backed latency scenario: data files and directory removed',
  { skip: unbuildable },
  async (t) => {
    const tmp = tempDir(t);
    const bench = startBench('latency', tmp);
    const file = await waitFor(() => filesUnder(tmp).find((f) => f.endsWith('paged.dat')) ?? null, bench);
    t.ok(file, `the benchmark made its data file (${file ?? 'none'})`);
    bench.child.kill('SIGINT');
    const { code } = await bench.exited;
    t.equal(code, 130, 'exits with 128 + SIGINT');
    t.match(bench.output(), /SIGINT: stopping and cleaning up/);
    t.same(filesUnder(tmp), [], 'nothing of the benchmark left in TMPDIR');
    t.notOk(alive(bench.child.pid!), 'the benchmark process is gone');
  },
);

t.test('SIGINT while a jitter child runs: the child is stopped, files removed', { skip: unbuildable }, async (t) => {
  const tmp = tempDir(t);
  const bench = startBench('jitter', tmp);
  const pids = await waitFor(() => {
    const found = processesMentioning(tmp).filter((pid) => pid !== bench.child.pid);
    return found.length > 0 ? found : null;
  }, bench);
  t.ok(pids, 'a jitter child process started');
  bench.child.kill('SIGINT');
  const { code } = await bench.exited;
  t.equal(code, 130, 'exits with 128 + SIGINT');
  t.same(filesUnder(tmp), [], 'nothing of the benchmark left in TMPDIR');
  t.same(processesMentioning(tmp), [], 'no process left that uses the temporary directory');
  for (const pid of pids ?? []) t.notOk(alive(pid), `jitter child ${pid} is gone`);
});

t.test(
  'SIGINT while the pinned benchmark (--hugetlb-pool) holds a hugetlb pool: the pool is put back',
  {
    skip:
      unbuildable ||
      (process.getuid?.() !== 0 ? 'needs root to size the hugetlb pool' : false) ||
      (fs.existsSync('/proc/sys/vm/nr_hugepages') ? false : 'no hugetlb pool in this kernel'),
  },
  async (t) => {
    const poolSize = () => Number(fs.readFileSync('/proc/sys/vm/nr_hugepages', 'latin1').trim());
    const original = poolSize();
    const tmp = tempDir(t);
    const bench = startBench('pinned', tmp, ['--hugetlb-pool']);
    const raised = await waitFor(() => (poolSize() > original ? poolSize() : null), bench);
    t.ok(raised, `the benchmark sized the pool for its run (${raised ?? 'not seen'} pages)`);
    t.match(bench.output(), /^this run may raise vm\.nr_hugepages \(--hugetlb-pool\)/m, 'said before it ran');
    bench.child.kill('SIGINT');
    const { code } = await bench.exited;
    t.ok(code === 130 || code === 0, `exits with 128 + SIGINT, or had just finished (${code})`);
    t.equal(poolSize(), original, 'vm.nr_hugepages is as it was');
    t.same(filesUnder(tmp), [], 'nothing of the benchmark left in TMPDIR');
  },
);

t.test(
  'without --hugetlb-pool the pinned benchmark leaves vm.nr_hugepages alone and says how to allow it',
  {
    skip:
      unbuildable ||
      (process.getuid?.() !== 0 ? 'only root could change the pool' : false) ||
      (fs.existsSync('/proc/sys/vm/nr_hugepages') ? false : 'no hugetlb pool in this kernel'),
  },
  async (t) => {
    const poolSize = () => Number(fs.readFileSync('/proc/sys/vm/nr_hugepages', 'latin1').trim());
    const original = poolSize();
    const tmp = tempDir(t);
    const bench = startBench('pinned', tmp);
    const sizes = new Set<number>();
    // Watched until it ends: the pool never changes.
    await waitFor(() => {
      sizes.add(poolSize());
      return null;
    }, bench);
    const { code } = await bench.exited;
    t.equal(code, 0, bench.output());
    t.same([...sizes], [original], 'vm.nr_hugepages never changed');
    t.notMatch(bench.output(), /^this run /m, 'nothing announced: nothing changed');
    const free = Number(fs.readFileSync('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', 'latin1').trim());
    if (free < 64) t.match(bench.output(), /--hugetlb-pool lets the run raise vm\.nr_hugepages/, 'the skip says how');
  },
);
