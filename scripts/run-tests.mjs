#!/usr/bin/env node
// The test tiers (CONTRIBUTING.md):
//   node scripts/run-tests.mjs          every test file (npm test): files in
//                                        parallel (two jobs), then alone
//                                        those that take a shared resource
//   node scripts/run-tests.mjs --quick   the unit and model tests (npm run test:quick)
// A test file says what it is in a comment line near its top:
//   // test-tier: quick          a unit or model test, in the quick tier too
//   // test-exclusive: <what>    takes a resource others would see (a cgroup,
//                                the hugetlb pool, a vm.* setting, the
//                                machine's memory): it runs alone
// Test files named (test/x.test.ts) narrow the set; other arguments go to
// tap. Exits non-zero if any file fails.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const named = args.filter((arg) => arg.endsWith('.test.ts')).map((arg) => path.relative(root, path.resolve(arg)));
const tapArgs = args.filter((arg) => arg !== '--quick' && !arg.endsWith('.test.ts'));

const files = readdirSync(path.join(root, 'test'))
  .filter((name) => name.endsWith('.test.ts'))
  .sort()
  .filter((name) => named.length === 0 || named.includes(`test/${name}`))
  .map((name) => {
    const head = readFileSync(path.join(root, 'test', name), 'utf8')
      .split('\n')
      .slice(0, 30)
      .join('\n');
    return {
      file: `test/${name}`,
      quick: /^\/\/ test-tier: quick\b/m.test(head),
      exclusive: /^\/\/ test-exclusive: (.+)$/m.exec(head)?.[1],
    };
  });

const tap = path.join(root, 'node_modules', '.bin', 'tap');
function run(label, list, jobs) {
  if (list.length === 0) return true;
  console.log(`\n# memlock tests: ${label}: ${list.length} file(s), ${jobs} at a time`);
  const started = Date.now();
  const result = spawnSync(tap, ['--jobs', String(jobs), ...tapArgs, ...list.map((f) => f.file)], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log(
    `# memlock tests: ${label}: ${result.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  return result.status === 0;
}

const started = Date.now();
let ok;
if (quick) {
  ok = run(
    'quick tier',
    files.filter((f) => f.quick && f.exclusive === undefined),
    2,
  );
} else {
  const shared = run(
    'in parallel',
    files.filter((f) => f.exclusive === undefined),
    2,
  );
  const alone = run(
    `alone (${[...new Set(files.map((f) => f.exclusive).filter(Boolean))].join(', ')})`,
    files.filter((f) => f.exclusive !== undefined),
    1,
  );
  ok = shared && alone;
}
console.log(`# memlock tests: ${ok ? 'all passed' : 'some FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(ok ? 0 : 1);
