import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { lock, lockCounts, pageSize } from '../src/index';
import { hasCommand } from './helpers/child';
import { alignedPages } from './helpers/kernel';

// Nothing may assume 4 KiB pages: arm64 kernels run with 4, 16 or 64 KiB
// pages, and memlock takes the size from sysconf(_SC_PAGESIZE). The models
// run at the other sizes here, on any machine: the page table's, and the
// fuzzer's (the real Locker over a fake kernel).
const root = path.join(__dirname, '..');
const SIZES = [16384, 65536];
const MODEL = path.join(root, 'build-cmake', 'page_table_model');
const NO_MODEL = existsSync(MODEL) ? false : 'needs build-cmake/page_table_model (npm test makes it with cmake)';
const NO_FUZZER = hasCommand('clang++') && hasCommand('cmake') ? false : 'needs clang++ (libFuzzer) and cmake';

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'memlock-page-size-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('pageSize is the kernel page size, and views cover pages of that size', (t) => {
  const smaps = readFileSync('/proc/self/smaps', 'latin1');
  const kernel = /^KernelPageSize:\s+(\d+) kB$/m.exec(smaps);
  t.ok(kernel, 'smaps names the page size');
  t.equal(pageSize, Number(kernel![1]) * 1024, `pageSize ${pageSize} is smaps' KernelPageSize`);
  t.equal(pageSize & (pageSize - 1), 0, 'a power of two');
  const pages = alignedPages(3);
  const spanning = pages.subarray(pageSize - 1, pageSize + 1);
  const held = lock(spanning);
  t.equal(held.pages, 2, 'two bytes across a page boundary cover two pages');
  t.same([...lockCounts(pages)], [1, 1, 0]);
  held.release();
  t.end();
});

t.test('the page-table model at 16 KiB and 64 KiB pages', { skip: NO_MODEL }, (t) => {
  for (const size of SIZES) {
    const result = execFileSync(MODEL, ['100000', '1', String(size)], { encoding: 'utf8' }).trim();
    t.match(
      result,
      /^ok 100000 sticky [1-9]\d*$/,
      `${size / 1024} KiB pages: no divergence in 100,000 steps, pages saturated on the way`,
    );
  }
  t.end();
});

// libFuzzer comes with clang: without it this is skipped (.ci/run installs it).
t.test("the fuzzer's model of the Locker at 16 KiB and 64 KiB pages", { skip: NO_FUZZER }, (t) => {
  const dir = tempDir(t);
  // The fuzzer's own build (CMakeLists.txt, build-fuzz/), as npm run fuzz makes it.
  const build = path.join(root, 'build-fuzz');
  execFileSync(
    'cmake',
    ['-S', root, '-B', build, '-DCMAKE_CXX_COMPILER=clang++', '-DCMAKE_BUILD_TYPE=RelWithDebInfo'],
    { stdio: 'pipe' },
  );
  execFileSync('cmake', ['--build', build, '--target', 'locker_fuzz', '-j2'], { stdio: 'pipe' });
  const binary = path.join(build, 'locker_fuzz');
  // The fuzzer carries clang's ASan runtime: not the gcc one the sanitizer
  // run preloads into node (npm run test:asan).
  const { LD_PRELOAD: _preload, ...env } = process.env;
  const fuzzerEnv = (pageSize: string) => ({ ...env, MEMLOCK_FAKE_PAGE_SIZE: pageSize });
  for (const size of SIZES) {
    mkdirSync(path.join(dir, `new-${size}`));
    // The committed corpus, then 20,000 inputs mutated from it. New inputs go
    // to a scratch directory (the first one named), never to fuzz/corpus.
    const result = spawnSync(
      binary,
      [
        '-runs=20000',
        '-seed=1',
        '-max_len=128',
        `-artifact_prefix=${dir}/`,
        path.join(dir, `new-${size}`),
        path.join(root, 'fuzz', 'corpus'),
      ],
      { encoding: 'utf8', timeout: 240_000, env: fuzzerEnv(String(size)) },
    );
    const output = `${result.stdout}${result.stderr}`;
    t.equal(
      result.status,
      0,
      `${size / 1024} KiB pages: no divergence${result.status === 0 ? '' : `\n${output.slice(-2000)}`}`,
    );
    t.match(output, /Done 20000 runs/, `${size / 1024} KiB pages: 20,000 runs`);
  }
  mkdirSync(path.join(dir, 'empty'));
  const refused = spawnSync(binary, ['-runs=1', `-artifact_prefix=${dir}/`, path.join(dir, 'empty')], {
    encoding: 'utf8',
    env: fuzzerEnv('1000'),
  });
  t.not(refused.status, 0, 'a page size of 1000 is refused: the fake kernel reads the setting');
  t.end();
});
