import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { hasCommand } from './helpers/child';

const root = path.join(__dirname, '..');
const compiler = ['c++', 'g++', 'clang++'].find(hasCommand);

// The page table is plain C++ so it can be checked alone: against a model
// with one counter per page, under AddressSanitizer and UBSan where the
// compiler has them (node-gyp needs a C++ compiler anyway).
t.test('page table matches a per-page model', { skip: compiler ? false : 'no C++ compiler' }, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'memlock-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const binary = path.join(dir, 'page_table_model');
  const sources = [path.join(root, 'test/native/page_table_model.cc'), path.join(root, 'native/page_table.cc')];
  const flags = ['-O1', '-g', '-std=c++17', '-Wall', '-Wextra', '-Werror'];
  try {
    execFileSync(compiler!, [...flags, '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-o', binary, ...sources], { stdio: 'pipe' });
  } catch {
    execFileSync(compiler!, [...flags, '-o', binary, ...sources], { stdio: 'pipe' });
  }
  for (const seed of [1, 2, 3]) {
    const result = execFileSync(binary, ['100000', String(seed)], { encoding: 'utf8' }).trim();
    t.match(result, /^ok 100000 sticky \d+$/, `seed ${seed}: no divergence in 100,000 steps`);
    t.ok(Number(result.split(' ')[3]) > 0, `seed ${seed}: pages saturated on the way (${result})`);
  }
  t.end();
});
