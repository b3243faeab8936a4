// test-tier: quick
// Benchmarks write terminal control codes (\r, ESC[...) only through
// bench/common/report.ts's progress(), which writes nothing unless stderr is
// a terminal: their output in a pipe or a CI log is plain lines.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { progress, progressDone } from '../bench/common/report';

const bench = path.join(__dirname, '..', 'bench');
const CONTROL = /\\r|\\x1b|\\u001b|\\033|\\e\[/;

t.test('no benchmark writes control codes but through progress()', (t) => {
  const files = readdirSync(bench, { recursive: true, encoding: 'utf8' }).filter((f) => /\.[cm]?ts$/.test(f));
  t.ok(files.length > 10, `${files.length} benchmark sources`);
  for (const file of files) {
    if (file === path.join('common', 'report.ts')) continue;
    readFileSync(path.join(bench, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (CONTROL.test(line)) t.fail(`bench/${file}:${i + 1}: ${line.trim()}`);
      });
  }
  t.end();
});

t.test('progress() writes nothing when stderr is not a terminal', (t) => {
  t.notOk(process.stderr.isTTY, 'stderr is not a terminal here');
  const written: unknown[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (chunk: unknown) => written.push(chunk) > 0;
  try {
    progress('working');
    progressDone();
  } finally {
    process.stderr.write = write;
  }
  t.same(written, []);
  t.end();
});
