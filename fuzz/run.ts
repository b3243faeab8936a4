// npm run fuzz -- [--seconds N]: builds the libFuzzer target with clang
// (CMakeLists.txt, build-fuzz/) and runs it, seeded by fuzz/corpus. New
// inputs go to a temporary directory, so the committed corpus stays small;
// a crash (a divergence from the model) is saved under fuzz/crashes/ and the
// run fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' } }, strict: true });
const seconds = Number(values.seconds);
if (!Number.isInteger(seconds) || seconds < 1) {
  console.error('memlock fuzz: --seconds takes a whole number >= 1');
  process.exit(2);
}

// libFuzzer ships with clang; say what to install rather than fail in cmake.
const missing = ['clang++', 'cmake'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
if (missing.length > 0) {
  console.error(
    `memlock fuzz: needs ${missing.join(' and ')} (libFuzzer comes with clang). ` +
      'On Debian or Ubuntu: apt-get install clang cmake',
  );
  process.exit(2);
}

const root = path.join(__dirname, '..');
const build = path.join(root, 'build-fuzz');
const run = (command: string, args: string[]) => execFileSync(command, args, { cwd: root, stdio: 'inherit' });
run('cmake', ['--preset', 'fuzz']);
run('cmake', ['--build', '--preset', 'fuzz']);

const fresh = mkdtempSync(path.join(tmpdir(), 'memlock-fuzz-'));
const crashes = path.join(root, 'fuzz', 'crashes');
mkdirSync(crashes, { recursive: true });
try {
  // Inputs of up to 128 bytes are about 20 operations: long enough for every
  // path (coverage stops growing past it). One fuzzing process per core
  // (libFuzzer's fork mode): ~17k runs/s each here.
  const result = spawnSync(
    path.join(build, 'locker_fuzz'),
    [
      `-fork=${availableParallelism()}`,
      `-max_total_time=${seconds}`,
      '-max_len=128',
      `-artifact_prefix=${crashes}/`,
      fresh,
      path.join(root, 'fuzz', 'corpus'),
    ],
    { cwd: root, encoding: 'utf8' },
  );
  const output = `${result.stdout}${result.stderr}`;
  // Fork mode reports progress as "#<executions>: cov: ... crash: a/b/c".
  const progress = output.split('\n').filter((line) => /^#\d+: cov:/.test(line));
  const executed = /^#(\d+):/.exec(progress[progress.length - 1] ?? '')?.[1];
  const notable = output.split('\n').filter((line) => /divergence|ERROR|SUMMARY|deadly/.test(line));
  console.log([progress[progress.length - 1] ?? '', ...notable].join('\n'));
  console.log(`memlock fuzz: ${Number(executed ?? 0).toLocaleString('en-US')} executions in ${seconds} s`);
  if (result.status !== 0) {
    console.error(
      `memlock fuzz: the fuzzer found a divergence or a sanitizer report (exit ${result.status}); the input is in fuzz/crashes/`,
    );
    process.exit(1);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
