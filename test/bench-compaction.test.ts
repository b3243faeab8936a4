// npm run bench:compaction changes vm.compact_unevictable_allowed: it must
// refuse to run without --change-system-settings, and put the setting back
// (and remove its fragmenting tmpfs file) when interrupted part way.
// test-exclusive: system settings (vm.compact_unevictable_allowed)
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { buildTarget } from '../bench/common/cmake';
import { cannotCompact, cannotFragment, changeCompactUnevictable, COMPACT_UNEVICTABLE } from './helpers/compaction';

const ROOT = path.join(__dirname, '..');
const BENCH = path.join(ROOT, 'bench', 'pinned', 'compaction.ts');
const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;
const setting = () => readFileSync(COMPACT_UNEVICTABLE, 'latin1').trim();
const fragments = () => readdirSync('/dev/shm').filter((f) => f.startsWith('memlock-fragment-'));

let unbuildable: string | false = false;
try {
  buildTarget('latency_probe');
} catch (e) {
  unbuildable = e instanceof Error ? e.message : String(e);
}

const skip = cannotCompact() ?? unbuildable;

t.test('without --change-system-settings it refuses (exit 2) and changes nothing', { skip }, (t) => {
  const before = setting();
  const run = spawnSync(process.execPath, ['--import', 'tsx', BENCH], { cwd: ROOT, env, encoding: 'utf8' });
  t.equal(run.status, 2, run.stderr);
  t.equal(setting(), before, 'setting unchanged');
  t.end();
});

t.test(
  'interrupted in a round at setting 1, it restores the setting found (0) and removes its tmpfs file',
  { skip: skip || (cannotFragment(1024 * 1024 * 1024) ?? false) },
  async (t) => {
    changeCompactUnevictable(t, 0);
    const before = fragments();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', BENCH, '--change-system-settings', '--size', '64', '--fragment', '512'],
      { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The first round sets 1; its fragmenting file appears once it runs.
    for (;;) {
      if (setting() === '1' && fragments().length > before.length) break;
      if (child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    t.equal(child.exitCode, null, `still running when interrupted: ${output}`);
    child.kill('SIGINT');
    await exited;
    t.equal(setting(), '0', 'the setting found at start is back');
    t.same(fragments(), before, 'no fragmenting file left in /dev/shm');
  },
);
