// test-tier: quick
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
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

t.test('MEMLOCK_NATIVE_BINDING loads only a .node file no other user could have written', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'memlock-binding-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const built = require.resolve(path.join(root, 'build', 'Release', 'memlock.node'));
  const writable = path.join(dir, 'writable.node');
  copyFileSync(built, writable);
  chmodSync(writable, 0o666);
  const good = path.join(dir, 'good.node');
  copyFileSync(built, good);
  chmodSync(good, 0o644);
  mkdirSync(path.join(dir, 'directory.node'));
  const load = (chosen: string) => {
    const { NODE_OPTIONS: _runnerHooks, ...env } = process.env;
    const script = `try { require(${JSON.stringify(path.join(root, 'lib', 'index.js'))}); console.log('loaded'); } catch (e) { console.log(e.code); }`;
    return spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...env, MEMLOCK_NATIVE_BINDING: chosen },
    }).stdout.trim();
  };
  t.equal(load('build/Release/memlock.node'), 'ERR_MEMLOCK_NATIVE_BINDING', 'a relative path');
  t.equal(load(path.join(dir, 'missing.node')), 'ERR_MEMLOCK_NATIVE_BINDING', 'a file that is not there');
  t.equal(load(path.join(dir, 'directory.node')), 'ERR_MEMLOCK_NATIVE_BINDING', 'a directory');
  t.equal(load(writable), 'ERR_MEMLOCK_NATIVE_BINDING', 'a file others may write to');
  t.equal(load(good), 'loaded', 'a file of this user, writable by it alone');
  t.end();
});
