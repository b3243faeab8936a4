// test-tier: quick
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

// The Windows backend's working-set growth (native/core/working_set.h: VirtualLock,
// and on ERROR_WORKING_SET_QUOTA grow the working set and retry) is plain C++
// behind a seam, so it runs here against a fake Windows: Wine implements
// VirtualLock with mlock and never says the quota is spent. CMake target
// working_set_test, made with the testing build before the suite.
const binary = path.join(__dirname, '..', 'build-cmake', 'working_set_test');
const skip = existsSync(binary) ? false : 'needs build-cmake/working_set_test (npm test makes it with cmake)';

t.test('working-set growth: grows by what the lock needs, retries, passes other errors through', { skip }, (t) => {
  const run = spawnSync(binary, { encoding: 'utf8' });
  t.equal(run.status, 0, run.stdout + run.stderr);
  t.match(run.stdout.trim(), /^ok \d+$/, `every check passed (${run.stdout.trim()})`);
  t.end();
});
