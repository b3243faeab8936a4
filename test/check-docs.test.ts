// npm run check:docs (scripts/check-docs.ts): a fixture page where every
// check passes, and for each check a page broken the way docs rot, which
// that check (and only it) must report, at the right line.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import t from 'tap';
import { checkDocs, type CheckName, type Options } from '../scripts/check-docs';

const root = path.join(__dirname, '..');
const fixtures = path.join(__dirname, 'fixtures', 'docs');
const fixture = (name: string): string => path.join(fixtures, name);
const documented = fixture('src-documented');

function check(files: string[], only?: CheckName[], src = documented) {
  const options: Options = { files: files.map(fixture), src, ...(only ? { only } : {}) };
  return checkDocs(options).map((p) => ({ ...p, file: path.relative(fixtures, p.file) }));
}

t.test('a good page passes every check (its examples compile, and the runnable one runs)', (t) => {
  t.same(check(['good.md', 'other.md']), []);
  t.end();
});

t.test('table: a row with the wrong number of cells, and rows outside a table', (t) => {
  const problems = check(['broken-table.md'], ['table']);
  t.same(
    problems.map((p) => [p.check, p.line]),
    [
      ['table', 6],
      ['table', 9],
    ],
    JSON.stringify(problems),
  );
  t.match(problems[0]!.message, /2 cell\(s\) where the header has 3/);
  t.end();
});

t.test('link: a missing file, a missing anchor in another page and in the same page', (t) => {
  const problems = check(['broken-link.md'], ['link']);
  t.same(
    problems.map((p) => p.message),
    [
      'no-such-file.md: no such file',
      'other.md#no-such-heading: no heading #no-such-heading there',
      '#nowhere: no heading #nowhere there',
    ],
  );
  t.ok(problems.every((p) => p.line === 3));
  t.end();
});

t.test('command: a memlock command the CLI does not have', (t) => {
  const problems = check(['broken-command.md'], ['command']);
  t.equal(problems.length, 1, JSON.stringify(problems));
  t.match(problems[0], { check: 'command', line: 3, message: /^memlock pressure: no such command/ });
  t.end();
});

t.test('script: an npm script package.json does not have', (t) => {
  const problems = check(['broken-script.md'], ['script']);
  t.equal(problems.length, 1, JSON.stringify(problems));
  t.match(problems[0], { check: 'script', line: 3, message: /npm run bench:everything: no such script/ });
  t.end();
});

t.test('error: a code the docs name and a code the source throws, neither in the errors table', (t) => {
  const named = check(['broken-error.md'], ['error']);
  t.same(
    named.map((p) => [p.file, p.line, p.message]),
    [['broken-error.md', 3, 'ERR_MEMLOCK_NOPE is not in the errors table']],
  );
  const thrown = check(['good.md'], ['error'], fixture('src-undocumented'));
  t.equal(thrown.length, 1, JSON.stringify(thrown));
  t.match(thrown[0], { file: path.join('src-undocumented', 'thrower.ts'), line: 2 });
  t.match(thrown[0]!.message, /ERR_MEMLOCK_UNDOCUMENTED is thrown or printed here but not in the docs' errors table/);
  t.same(
    check(['broken-table.md'], ['error']).map((p) => p.message),
    ['no errors table (| code | ... |) found'],
  );
  t.end();
});

t.test('example: one that does not compile, and one that compiles but fails when run', (t) => {
  const broken = check(['broken-example.md'], ['example']);
  t.ok(broken.length >= 2, JSON.stringify(broken));
  t.ok(
    broken.every((p) => p.check === 'example' && /does not compile: TS\d+/.test(p.message)),
    'reported as not compiling',
  );
  t.same(
    broken.map((p) => p.line),
    [6, 7],
    'at the lines of the doc: the bad argument, the misspelt method',
  );
  const failing = check(['failing-example.md'], ['example']);
  t.equal(failing.length, 1, JSON.stringify(failing));
  t.match(failing[0], { check: 'example', line: 3, message: /^runs but fails \(exit 1\): .*ERR_MEMLOCK_NOT_LOCKED/ });
  t.end();
});

t.test('the command line: exit 1 and one line per problem; exit 0 on a good page', (t) => {
  const { NODE_OPTIONS: _hooks, ...env } = process.env;
  const run = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'scripts', 'check-docs.ts'), ...args], {
      cwd: root,
      encoding: 'utf8',
      env,
    });
  const bad = run(['--only', 'table,command', fixture('broken-table.md'), fixture('broken-command.md')]);
  t.equal(bad.status, 1, bad.stderr);
  t.match(bad.stdout, /broken-table\.md:6: \[table\] 2 cell\(s\) where the header has 3/);
  t.match(bad.stdout, /broken-command\.md:3: \[command\] memlock pressure: no such command/);
  t.match(bad.stdout, /check-docs: 3 problem\(s\)\n$/);
  const good = run(['--only', 'table,link,command,script', fixture('good.md')]);
  t.equal(good.status, 0, good.stdout);
  const unknown = run(['--only', 'tables']);
  t.equal(unknown.status, 2, 'an unknown check is a usage error');
  t.end();
});
