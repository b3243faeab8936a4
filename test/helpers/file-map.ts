// Builds test/native/file_map.c (a file mapping as a Buffer) with cc
// against the running node's headers, into a directory the caller removes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { hasCommand } from './child';

const SOURCE = path.join(__dirname, '..', 'native', 'file_map.c');

export interface FileMapAddon {
  mapFile(file: string, bytes: number, random: boolean): Buffer;
}

/** Why the addon cannot be built here, or undefined. */
export function cannotBuildFileMap(): string | undefined {
  if (!hasCommand('cc')) return 'needs a C compiler (cc) for the test addon test/native/file_map.c';
  const include = path.join(path.dirname(process.execPath), '..', 'include', 'node');
  if (!fs.existsSync(path.join(include, 'node_api.h'))) return `needs node's headers (no node_api.h in ${include})`;
  return undefined;
}

/** Compiles the addon into dir and returns its path. */
export function buildFileMap(dir: string): string {
  const include = path.join(path.dirname(process.execPath), '..', 'include', 'node');
  const binary = path.join(dir, 'file_map.node');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-I', include, '-o', binary, SOURCE], { stdio: 'pipe' });
  return binary;
}

/** A file of `bytes` that is not all zeros, written back (its pages clean, so reclaim can drop them). */
export function makeDataFile(file: string, bytes: number): void {
  const fd = fs.openSync(file, 'wx', 0o600);
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let at = 0; at < bytes; at += chunk.length) {
      chunk.fill(0x5a);
      chunk.writeUInt32LE(at, 0);
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - at));
    }
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
