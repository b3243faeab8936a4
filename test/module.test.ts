// test-tier: quick
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { NATIVE_FUNCTIONS } from '../src/binding';

const root = path.join(__dirname, '..');

function runConsumer(file: string) {
  const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;
  const result = spawnSync(process.execPath, [path.join(__dirname, 'fixtures', file)], {
    cwd: root,
    encoding: 'utf8',
    env,
  });
  return result;
}

t.test('the built package has declarations', (t) => {
  t.ok(existsSync(path.join(root, 'lib', 'index.js')), 'lib/index.js (npm install builds it)');
  t.ok(existsSync(path.join(root, 'lib', 'index.d.ts')), 'lib/index.d.ts');
  t.end();
});

for (const file of ['consumer.mjs', 'consumer.cjs']) {
  t.test(`${file}: the package loads by name and locks`, (t) => {
    const result = runConsumer(file);
    t.equal(result.status, 0, result.stderr);
    const r = JSON.parse(result.stdout);
    t.ok(r.counted, 'lock counted its pages');
    t.equal(r.lockedAfter, 0, 'and release undid it');
    t.ok(r.errorClass, 'MemlockError is exported');
    if (file.endsWith('.mjs')) {
      t.same(r.namespace, r.commonjs, 'the ES module namespace holds exactly the named exports');
      t.notOk(r.namespace.includes('default') || r.namespace.includes('__esModule'), 'no default, no __esModule');
    }
    t.end();
  });
}

t.test('the shipped addon exports what the API needs and no test hook', (t) => {
  // The build npm install made (or the prebuild), as node-gyp-build finds it.
  const shipped = require('node-gyp-build')(root) as Record<string, unknown>;
  const functions = Object.keys(shipped)
    .filter((name) => typeof shipped[name] === 'function')
    .sort();
  t.same(functions, [...NATIVE_FUNCTIONS].sort(), 'its functions are exactly the ones src/binding.ts declares');
  for (const name of ['pagingSample', 'pagingWatch', 'pagingUnwatch'])
    t.ok(functions.includes(name), `the paging monitor's ${name}`);
  t.notOk(functions.includes('mapFile'), "the paging tests' file mappings are the testing build's");
  t.type(
    (shipped['numbers'] as { paging?: unknown }).paging,
    'object',
    "the paging monitor's layouts come with the shared numbers",
  );
  const values = Object.keys(shipped)
    .filter((name) => typeof shipped[name] !== 'function')
    .sort();
  t.same(values, ['numbers', 'pageSize', 'physicalPages', 'platform', 'scratch']);
  t.end();
});
