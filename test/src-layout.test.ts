// src/'s structure, checked: features in folders with index.ts as the table
// of contents, no import cycle among modules (type-only imports aside), and
// one decoder of native results (src/native-failure.ts).
// test-tier: quick
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';

const src = path.join(__dirname, '..', 'src');
const modules = readdirSync(src, { recursive: true, encoding: 'utf8' })
  .filter((file) => /\.m?ts$/.test(file) && !file.endsWith('.d.ts'))
  .sort();
const read = (file: string) => readFileSync(path.join(src, file), 'utf8');

// Value imports (not `import type`, not `export type ... from`) of other src/ modules, as module paths.
function valueImports(file: string): string[] {
  const text = read(file);
  const specs = [
    ...[...text.matchAll(/^import\s+(?!type\b)[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/^export\s+(?!type\b)[^'"]*?from\s+'(\.[^']+)'/gm)].map((m) => m[1]!),
  ];
  return specs.map((spec) => {
    // './x.js' is x.ts, './x.mjs' is x.mts, './x' is x.ts (Node16 resolution as tsc emits it).
    const resolved = path.normalize(path.join(path.dirname(file), spec));
    const candidate = resolved.endsWith('.mjs')
      ? resolved.replace(/\.mjs$/, '.mts')
      : `${resolved.replace(/\.js$/, '')}.ts`;
    return modules.includes(candidate) ? candidate : `${candidate} (missing)`;
  });
}

t.test('no import cycle in src/ (type-only imports aside)', (t) => {
  const graph = new Map(modules.map((m) => [m, valueImports(m)]));
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (m: string, trail: string[]): void => {
    if (state.get(m) === 'done') return;
    if (state.get(m) === 'visiting') {
      cycles.push([...trail.slice(trail.indexOf(m)), m].join(' -> '));
      return;
    }
    state.set(m, 'visiting');
    for (const next of graph.get(m) ?? []) visit(next, [...trail, m]);
    state.set(m, 'done');
  };
  for (const m of modules) visit(m, []);
  t.same(cycles, []);
  t.same(
    [...graph.values()].flat().filter((m) => m.endsWith('(missing)')),
    [],
    'every import resolves',
  );
  t.end();
});

t.test('one decoder of native results', (t) => {
  const decoding = modules.filter(
    (m) => m !== 'native-failure.ts' && m !== 'binding.ts' && /\b(LIMIT_EXCEEDED|getSystemErrorName)\b/.test(read(m)),
  );
  t.same(decoding, [], 'only native-failure.ts turns a native result into an error');
  t.end();
});

t.test("one reader of the kernel's files", (t) => {
  // readFileSync reads a pseudo file (size 0) in fresh 64 KiB buffers: see src/kernel-file.ts.
  const reading = modules.filter((m) => m !== 'kernel-file.ts' && /\breadFileSync\b/.test(read(m)));
  t.same(reading, [], 'every /proc, /sys and cgroupfs read goes through readKernelFile');
  t.end();
});

t.test('features in folders; the top level holds what every feature shares', (t) => {
  const top = modules.filter((m) => !m.includes('/')).sort();
  t.same(top, [
    'binding.ts',
    'capabilities.ts',
    'channels.ts',
    'errors.ts',
    'index.mts',
    'index.ts',
    'kernel-file.ts',
    'native-failure.ts',
    'proc.ts',
  ]);
  t.end();
});
