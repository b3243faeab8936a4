#!/usr/bin/env node
// npm pack's prepack hook: what the tarball needs that a clone does not have.
//   1. The devDependencies (tsc, prebuildify), installed with `npm ci
//      --ignore-scripts` when missing, so `npm pack` works in a fresh clone.
//   2. lib/ (tsc -p tsconfig.build.json).
//   3. The prebuild for this machine, prebuilds/<platform>-<arch>/memlock.node
//      (prebuildify --napi --strip; on Linux checked by
//      scripts/check-prebuilds.sh: glibc 2.28, no libstdc++), so the tarball
//      installs without a compiler here. Prebuilds for other platforms already
//      in prebuilds/ (`npm run prebuilds`: linux-arm64 and win32-x64 with
//      Debian's cross toolchains) are packed too.
// MEMLOCK_PACK_SKIP_NATIVE=1 skips step 3 (a tarball of sources only).
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.env.npm_execpath;
const run = (file, args, env = process.env) => {
  console.error(`prepack: ${[file, ...args].join(' ')}`);
  // Their output goes to stderr: npm pack's stdout stays the tarball's name alone.
  execFileSync(file, args, { cwd: root, stdio: ['ignore', process.stderr, 'inherit'], env });
};
const runNpm = (args) => (npm ? run(process.execPath, [npm, ...args]) : run('npm', args));

if (!existsSync(join(root, 'node_modules', 'typescript')) || !existsSync(join(root, 'node_modules', 'prebuildify'))) {
  runNpm(['ci', '--ignore-scripts', '--no-audit', '--no-fund']);
}

runNpm(['run', 'build:ts']);

if (process.env.MEMLOCK_PACK_SKIP_NATIVE !== '1') {
  const bin = (name) => join(root, 'node_modules', '.bin', name);
  // node-gyp takes the headers of the node that runs it from beside it (the
  // official layout: bin/node, include/node), so nothing is downloaded.
  const env = { ...process.env };
  const nodedir = join(dirname(process.execPath), '..');
  if (!env.npm_config_nodedir && existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) {
    env.npm_config_nodedir = nodedir;
  }
  // prebuildify rebuilds in build/ and moves the addon out of it: the
  // checkout's own build (which tests and node-gyp-build load) is set aside
  // and put back, so packing leaves the working tree as it was.
  const build = join(root, 'build');
  const saved = join(root, `.build-prepack-${process.pid}`);
  if (existsSync(build)) renameSync(build, saved);
  try {
    run(bin('prebuildify'), ['--napi', '--strip'], env);
  } finally {
    if (existsSync(saved)) {
      rmSync(build, { recursive: true, force: true });
      renameSync(saved, build);
    }
  }
  const prebuild = join('prebuilds', `${process.platform}-${process.arch}`, 'memlock.node');
  if (!existsSync(join(root, prebuild))) throw new Error(`prepack: prebuildify made no ${prebuild}`);
  if (process.platform === 'linux') run('bash', ['scripts/check-prebuilds.sh', prebuild]);
}
