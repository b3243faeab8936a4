// test-tier: quick
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

// The page table is plain C++ so it can be checked alone: against a model
// with one counter per page, under AddressSanitizer and UBSan. CMake target
// page_table_model, made with the testing build before the suite.
const binary = path.join(__dirname, '..', 'build-cmake', 'page_table_model');
const skip = existsSync(binary) ? false : 'needs build-cmake/page_table_model (npm test makes it with cmake)';

t.test('page table matches a per-page model', { skip }, (t) => {
  for (const seed of [1, 2, 3]) {
    const result = execFileSync(binary, ['100000', String(seed)], { encoding: 'utf8' }).trim();
    t.match(result, /^ok 100000 sticky \d+$/, `seed ${seed}: no divergence in 100,000 steps`);
    t.ok(Number(result.split(' ')[3]) > 0, `seed ${seed}: pages saturated on the way (${result})`);
  }
  t.end();
});
