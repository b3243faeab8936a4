// Swap for the anonymous-eviction scenario, when the machine has none
// (swapState() in ../common/machine.ts says what it has): a temporary
// swapfile made only when asked (--swapfile PATH --swap-size SIZE), only as
// root, never over an existing file, and removed (swapoff, then unlink) at
// cleanup, interrupted or not.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { onCleanup } from '../common/cleanup';

/** "256M", "1G", "512MiB", "4096" (bytes) -> bytes; binary units. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!match) throw new RangeError(`not a size: ${JSON.stringify(text)} (try 256M or 1G)`);
  const power = ' kmgt'.indexOf(match[2]!.toLowerCase() || ' ');
  return Math.round(Number(match[1]) * 1024 ** power);
}

/** Creates, formats and enables a swapfile; it is removed at cleanup. Returns the remover. */
export function createSwapfile(file: string, bytes: number): () => void {
  if (process.getuid?.() !== 0) throw new Error('--swapfile needs root (swapon/swapoff)');
  if (fs.existsSync(file))
    throw new Error(`--swapfile ${file} already exists: refusing to touch a file this run did not make`);
  let created = false;
  let enabled = false;
  // Registered before anything exists, so a failure or an interrupt part way
  // undoes exactly what was done.
  const remove = onCleanup(`swapfile ${file}`, () => {
    if (enabled) execFileSync('swapoff', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
    enabled = false;
    if (created) fs.rmSync(file, { force: true });
    created = false;
  });
  const fd = fs.openSync(file, 'wx', 0o600);
  created = true;
  try {
    // Written, not fallocated: swapon refuses files with holes or unwritten
    // extents on some filesystems.
    const chunk = Buffer.alloc(2 ** 20);
    for (let left = bytes; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  execFileSync('mkswap', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('swapon', [file], { stdio: ['ignore', 'ignore', 'pipe'] });
  enabled = true;
  return remove;
}
