// test-tier: quick
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

// The lock registry (which lock is held on which bytes, newest first) is
// plain C++, checked alone against a model under AddressSanitizer and UBSan.
// CMake target lock_registry_model, made with the testing build before the suite.
const binary = path.join(__dirname, '..', 'build-cmake', 'lock_registry_model');
const skip = existsSync(binary) ? false : 'needs build-cmake/lock_registry_model (npm test makes it with cmake)';

t.test('lock registry matches a model of held locks', { skip }, (t) => {
  for (const seed of [1, 2, 3]) {
    const result = execFileSync(binary, ['30000', String(seed)], { encoding: 'utf8' }).trim();
    const match = /^ok 30000 chains (\d+) grown (\d+) mappings (\d+)$/.exec(result);
    t.ok(match, `seed ${seed}: no divergence in 30,000 steps and the growth phase (${result})`);
    t.ok(Number(match?.[1]) >= 4, `seed ${seed}: locks on the same bytes chained (longest ${match?.[1]})`);
    t.ok(Number(match?.[3]) > 0, `seed ${seed}: tables grew into mappings of their own, all handed back`);
  }
  t.end();
});
