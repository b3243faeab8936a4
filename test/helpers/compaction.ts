// What the compaction tests need from the machine: the setting that lets
// compaction move locked pages, fragmented memory, a forced compaction, and
// the kernel's own record of a page's frame (/proc/self/pagemap), read here
// without memlock's code so that the two can be compared.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { hasCommand } from './child';

export const COMPACT_UNEVICTABLE = '/proc/sys/vm/compact_unevictable_allowed';
const COMPACT_MEMORY = '/proc/sys/vm/compact_memory';
// getconf, not the addon: the benchmark (bench/pinned/compaction.ts) runs on lib/.
const PAGE = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'latin1' }).trim());
const MiB = 1024 * 1024;

interface Teardown {
  teardown(fn: () => void): void;
}

/**
 * Sets vm.compact_unevictable_allowed and restores the value found when the
 * test ends (t.teardown), and also when the process exits without reaching
 * it (a crash in a subtest).
 */
export function changeCompactUnevictable(t: Teardown, value: 0 | 1): void {
  const original = readFileSync(COMPACT_UNEVICTABLE, 'latin1').trim();
  const restore = () => writeFileSync(COMPACT_UNEVICTABLE, original);
  process.once('exit', restore);
  t.teardown(() => {
    restore();
    process.removeListener('exit', restore);
  });
  writeFileSync(COMPACT_UNEVICTABLE, String(value));
}

/** Why this machine cannot run the compaction tests, or undefined. */
export function cannotCompact(): string | undefined {
  if (process.platform !== 'linux') return 'Linux only';
  if (!existsSync(COMPACT_UNEVICTABLE) || !existsSync(COMPACT_MEMORY))
    return 'the kernel has no compaction (CONFIG_COMPACTION)';
  try {
    writeFileSync(COMPACT_UNEVICTABLE, readFileSync(COMPACT_UNEVICTABLE, 'latin1').trim());
  } catch {
    return `${COMPACT_UNEVICTABLE} is not writable here (needs root outside a read-only /proc/sys)`;
  }
  return undefined;
}

/** Why memory cannot be fragmented here, or undefined. */
export function cannotFragment(bytes: number): string | undefined {
  if (!existsSync('/dev/shm')) return 'no /dev/shm (tmpfs) to fragment memory with';
  if (!hasCommand('fallocate')) return 'needs fallocate (util-linux) to punch holes';
  const available =
    Number(/^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'latin1'))?.[1] ?? 0) * 1024;
  if (available < bytes * 2)
    return `only ${Math.round(available / MiB)} MiB available: fragmenting needs ${Math.round((bytes * 2) / MiB)} MiB`;
  return undefined;
}

/**
 * Fragments physical memory: a tmpfs file of `bytes` whose every other page
 * is then punched out, leaving free single pages between used ones. Returns
 * the function that frees the rest.
 */
export function fragmentMemory(bytes: number): () => void {
  const dir = mkdtempSync('/dev/shm/memlock-fragment-');
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  const file = path.join(dir, 'pages');
  try {
    const chunk = Buffer.alloc(16 * MiB);
    for (let p = 0; p < chunk.length; p += 2 * PAGE) chunk.fill(0xa5, p, p + PAGE);
    const fd = openSync(file, 'w');
    try {
      for (let offset = 0; offset < bytes; offset += chunk.length) writeSync(fd, chunk, 0, chunk.length, offset);
    } finally {
      closeSync(fd);
    }
    // Punches out every all-zero page: the other half.
    execFileSync('fallocate', ['--dig-holes', file]);
  } catch (error) {
    remove();
    throw error;
  }
  return () => {
    remove();
    process.removeListener('exit', remove);
  };
}

export function compactMemory(): void {
  writeFileSync(COMPACT_MEMORY, '1');
}

/**
 * The frame of each page from `address` for `pages` pages, straight from
 * /proc/self/pagemap (bit 63 present, bits 0-54 the PFN); null where the page
 * is not present.
 */
export function pagemapFrames(address: number, pages: number): (bigint | null)[] {
  const entries = Buffer.alloc(pages * 8);
  const fd = openSync('/proc/self/pagemap', 'r');
  try {
    readSync(fd, entries, 0, entries.length, Math.floor(address / PAGE) * 8);
  } finally {
    closeSync(fd);
  }
  const frames: (bigint | null)[] = [];
  for (let i = 0; i < pages; i += 1) {
    const entry = entries.readBigUInt64LE(i * 8);
    frames.push(entry >> 63n === 1n ? entry & ((1n << 55n) - 1n) : null);
  }
  return frames;
}
