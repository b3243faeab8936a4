#!/usr/bin/env node
// npm run examples: runs every example under examples/, each from its own
// directory, and fails if one fails. An example is a directory with a
// documented entry, taken in this order:
//   package.json with scripts.start   npm start
//   index.ts / index.mts              node --import tsx <file>
//   index.js / index.mjs / index.cjs  node <file>
// A directory with none of these is an error (so an example cannot be
// skipped by mistake). Examples import the package by its name ('memlock'),
// which resolves to this checkout (package.json "exports"): npm run build first.
// Each must exit 0 on its own within MEMLOCK_EXAMPLE_TIMEOUT seconds
// (default 120); the runner sets MEMLOCK_EXAMPLE_CI=1 so that a long-running
// one (a service) can stop itself after a short run.
//   node scripts/run-examples.mjs [name ...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const examples = path.join(root, 'examples');
const timeout = Number(process.env.MEMLOCK_EXAMPLE_TIMEOUT ?? 120) * 1000;

/** The command that runs the example in `dir`, or null when it has no documented entry. */
function entryOf(dir) {
  const pkg = path.join(dir, 'package.json');
  if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).scripts?.start) {
    return ['npm', 'start', '--silent'];
  }
  for (const file of ['index.ts', 'index.mts']) {
    if (existsSync(path.join(dir, file))) return [process.execPath, '--import', 'tsx', file];
  }
  for (const file of ['index.js', 'index.mjs', 'index.cjs']) {
    if (existsSync(path.join(dir, file))) return [process.execPath, file];
  }
  return null;
}

const wanted = process.argv.slice(2);
const dirs = readdirSync(examples, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && (wanted.length === 0 || wanted.includes(entry.name)))
  .map((entry) => entry.name)
  .sort();
const missing = wanted.filter((name) => !dirs.includes(name));
const failed = missing.map((name) => `${name}: no such example`);
for (const name of dirs) {
  const dir = path.join(examples, name);
  const command = entryOf(dir);
  if (command === null) {
    failed.push(`${name}: no documented entry (package.json scripts.start, or index.ts/.mts/.js/.mjs/.cjs)`);
    continue;
  }
  console.log(`== examples/${name}: ${command.slice(command[0] === process.execPath ? 1 : 0).join(' ')}`);
  const started = Date.now();
  const { NODE_OPTIONS: _hooks, ...env } = process.env;
  const run = spawnSync(command[0], command.slice(1), {
    cwd: dir,
    stdio: 'inherit',
    timeout,
    env: { ...env, MEMLOCK_EXAMPLE_CI: '1' },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (run.status === 0) {
    console.log(`== examples/${name}: ok in ${seconds} s`);
  } else {
    const why = run.error ? run.error.message : run.signal ? `killed by ${run.signal}` : `exit ${run.status}`;
    failed.push(`${name}: ${why} after ${seconds} s`);
  }
}
if (failed.length > 0) {
  console.error(`examples failed:\n  ${failed.join('\n  ')}`);
  process.exit(1);
}
console.log(`examples: ${dirs.length} ran, all ok`);
