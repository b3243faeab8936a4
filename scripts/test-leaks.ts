// npm run test:leaks: the stress test under LeakSanitizer, with the ASan
// build of the addon. node itself keeps memory until exit and LSan reports
// it; only leaks with a frame in memlock's own code (native/) count.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..');
const build = path.join(root, 'build-cmake');
execFileSync('cmake', ['-S', root, '-B', build, '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], { stdio: 'ignore' });
execFileSync('cmake', ['--build', build, '--target', 'memlock_asan', '-j2'], { stdio: 'inherit' });

const logs = mkdtempSync(path.join(tmpdir(), 'memlock-lsan-'));
try {
  const libasan = execFileSync('c++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  const child = spawnSync(
    'env',
    ['-u', 'NODE_OPTIONS', process.execPath, '--import', 'tsx', path.join(root, 'test/fixtures/stress.ts')],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        LD_PRELOAD: libasan,
        MEMLOCK_NATIVE_BINDING: path.join(build, 'memlock_asan.node'),
        MEMLOCK_ASAN: '1',
        ASAN_OPTIONS: `detect_leaks=1:verify_asan_link_order=0:log_path=${logs}/lsan`,
      },
      timeout: 300_000,
    },
  );
  const state = JSON.parse(child.stdout) as {
    stats: { lockedPages: number; heldLocks: number };
    secrets: { live: number };
    vmLck: number;
  };
  const reports = readdirSync(logs)
    .map((f) => readFileSync(path.join(logs, f), 'utf8'))
    .join('\n');
  // One block per leak: "Direct leak of N byte(s) in M object(s) allocated from:" and its frames.
  const blocks = reports.split(/\n(?=(?:Direct|Indirect) leak of)/).filter((b) => /^(Direct|Indirect) leak of/.test(b));
  const ours = blocks.filter((b) => /\/native\/[a-z_]+\.(cc|h)|memlock_asan\.node/.test(b));
  console.log(
    `stress under LeakSanitizer: ${blocks.length} leak reports in all, ${ours.length} with a frame in memlock's code`,
  );
  console.log(
    `end state: ${state.stats.lockedPages} pages and ${state.stats.heldLocks} locks held, ${state.secrets.live} secrets live, VmLck ${state.vmLck}`,
  );
  for (const block of ours) console.log(block);
  const clean =
    ours.length === 0 &&
    state.stats.lockedPages === 0 &&
    state.stats.heldLocks === 0 &&
    state.secrets.live === 0 &&
    state.vmLck === 0;
  process.exit(clean ? 0 : 1);
} finally {
  rmSync(logs, { recursive: true, force: true });
}
