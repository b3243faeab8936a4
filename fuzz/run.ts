// npm run fuzz -- [--seconds N]: builds the libFuzzer target with clang
// (CMakeLists.txt, build-fuzz/) and runs it, seeded by fuzz/corpus. New
// inputs go to a temporary directory, so the committed corpus stays small;
// a crash (a divergence from the model) is saved under fuzz/crashes/ and the
// run fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' } }, strict: true });
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 1) {
  console.error('memlock fuzz: --seconds takes a whole number >= 1');
  process.exit(2);
}

const root = path.join(__dirname, '..');
const build = path.join(root, 'build-fuzz');
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: root, stdio: 'inherit' });
run('cmake', ['-S', '.', '-B', build, '-DCMAKE_CXX_COMPILER=clang++', '-DCMAKE_BUILD_TYPE=RelWithDebInfo']);
run('cmake', ['--build', build, '--target', 'locker_fuzz', '-j2']);

const fresh = mkdtempSync(path.join(tmpdir(), 'memlock-fuzz-'));
const crashes = path.join(root, 'fuzz', 'crashes');
mkdirSync(crashes, { recursive: true });
try {
  // Inputs of up to 128 bytes are about 20 operations: long enough for every
  // path (coverage stops growing past it) and short enough for ~17k runs/s.
  const result = spawnSync(
    path.join(build, 'locker_fuzz'),
    [`-max_total_time=${seconds}`, '-max_len=128', '-print_final_stats=1', `-artifact_prefix=${crashes}/`, fresh, path.join(root, 'fuzz', 'corpus')],
    { cwd: root, encoding: 'utf8' },
  );
  const output = `${result.stdout}${result.stderr}`;
  const executed = /stat::number_of_executed_units:\s*(\d+)/.exec(output)?.[1];
  const done = output.split('\n').filter((line) => /DONE|divergence|ERROR|SUMMARY/.test(line));
  console.log(done.join('\n'));
  console.log(`memlock fuzz: ${Number(executed ?? 0).toLocaleString('en-US')} executions in ${seconds} s`);
  if (result.status !== 0) {
    console.error(`memlock fuzz: the fuzzer found a divergence or a sanitizer report (exit ${result.status}); the input is in fuzz/crashes/`);
    process.exit(1);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
