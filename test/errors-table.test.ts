// One closed set of library error codes (DESIGN.md, Errors): the
// MemlockErrorCode union in src/errors.ts, docs/errors.md's table of MemlockError
// codes, and the codes src/ throws must agree.
// test-tier: quick
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

const root = path.join(__dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const LIBRARY_CODE = /'(ERR_MEMLOCK_[A-Z_]+)'/g;

t.test('the MemlockLibraryCode union, docs/errors.md and src/ name the same library codes', (t) => {
  const union = /export type MemlockLibraryCode =([^;]*);/.exec(read('src/errors.ts'))?.[1] ?? '';
  const typed = new Set([...union.matchAll(LIBRARY_CODE)].map((m) => m[1]!));
  t.ok(typed.size > 0, 'the union lists codes');

  const doc = read('docs/errors.md');
  const start = doc.indexOf('Everything else is a `MemlockError`:');
  t.not(start, -1, 'docs/errors.md has the MemlockError table');
  const rows = doc.slice(start).split('\n\n')[1]!.split('\n');
  const documented = new Set(
    rows.map((row) => /^\| `(ERR_[A-Z_]+)` \|/.exec(row)?.[1]).filter((code) => code !== undefined),
  );
  t.same([...typed].sort(), [...documented].sort(), "the union's codes are the table's");

  const thrown = new Set<string>();
  for (const file of readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })) {
    if (!/\.m?ts$/.test(file)) continue;
    for (const m of read(path.join('src', file)).matchAll(LIBRARY_CODE)) thrown.add(m[1]!);
  }
  const missing = [...thrown].filter((code) => !typed.has(code));
  t.same(missing, [], 'every library code src/ names is in the union');
  t.end();
});
