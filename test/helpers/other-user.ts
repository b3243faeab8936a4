// Children that run as another user (nobody). Such a child must be able to
// read what it loads, and the checkout may be readable by its owner alone
// (a clone in a mktemp -d directory is 0700): readableInstall() copies what
// the built package loads to a directory anyone may read. A fixture that
// gives up root itself (process.setuid) must load everything first instead.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const NOBODY = 65534;
/** A command prefix: the rest runs as nobody (uid and gid 65534, no supplementary groups). */
export const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'];

export interface ReadableInstall {
  /** The package root of the copy: lib/, package.json, the addon, node-gyp-build. */
  root: string;
  cli: string;
  /** A node nobody may run: process.execPath, or a copy of it when nobody cannot. */
  node: string;
  /** Environment for the child: MEMLOCK_NATIVE_BINDING pointed at a copy, when set. */
  env: Record<string, string>;
}

const ROOT = path.join(__dirname, '..', '..');

// What nobody needs: read every file, enter every directory.
function openUp(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const stat = lstatSync(path.join(dir, entry));
    chmodSync(path.join(dir, entry), stat.isDirectory() || stat.mode & 0o100 ? 0o755 : 0o644);
  }
}

function nobodyCanRun(node: string): boolean {
  // Without the test runner's hooks in NODE_OPTIONS, which nobody may not read either.
  return spawnSync('env', ['-u', 'NODE_OPTIONS', ...AS_NOBODY, node, '-e', ''], { stdio: 'ignore' }).status === 0;
}

/** A copy of the built package that anyone (nobody too) may read, removed at teardown. Needs `npm run build:ts`. */
export function readableInstall(t: { teardown(fn: () => void): void }): ReadableInstall {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'memlock-readable-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Dereferenced: a link into the checkout would be as unreadable as the checkout.
  const copy = (from: string, to = path.join(dir, path.relative(ROOT, from))) =>
    cpSync(from, to, { recursive: true, dereference: true });
  for (const part of [
    'package.json',
    'lib',
    'prebuilds',
    'build/Release/memlock.node',
    'node_modules/node-gyp-build',
  ]) {
    if (existsSync(path.join(ROOT, part))) copy(path.join(ROOT, part));
  }
  const env: Record<string, string> = {};
  const chosen = process.env['MEMLOCK_NATIVE_BINDING'];
  if (chosen) {
    env['MEMLOCK_NATIVE_BINDING'] = path.join(dir, 'chosen', path.basename(chosen));
    copy(chosen, env['MEMLOCK_NATIVE_BINDING']);
  }
  let node = process.execPath;
  if (!nobodyCanRun(node)) {
    node = path.join(dir, 'bin', 'node');
    copy(process.execPath, node);
  }
  openUp(dir);
  return { root: dir, cli: path.join(dir, 'lib', 'cli', 'index.js'), node, env };
}
