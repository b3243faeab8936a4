// Helpers shared by secrets.ts and its child, secrets-child.ts.
import fs from 'node:fs';

/** The size of every secret the benchmark allocates. */
export const SECRET_SIZE = 32;

export const ALLOCATORS = ['pooled', 'guarded', 'sodium'] as const;
export type AllocatorName = (typeof ALLOCATORS)[number];

export const LABELS: Record<AllocatorName, string> = {
  pooled: 'memlock pooled',
  guarded: 'memlock guarded',
  sodium: 'sodium_malloc',
};

// Allocated once: near vm.max_map_count a fresh allocation may itself need a
// new mapping, and reading 65k lines of maps as one string takes ~5 MB.
const chunk = Buffer.alloc(64 * 1024);

/** Lines of /proc/self/maps (one per mapping), counted in place. */
export function countMappings(): number {
  const fd = fs.openSync('/proc/self/maps', 'r');
  try {
    let lines = 0;
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) return lines;
      for (let i = 0; i < n; i++) if (chunk[i] === 0x0a) lines++;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** MemAvailable from /proc/meminfo, in bytes, or null. */
export function memAvailableBytes(): number | null {
  const match = /^MemAvailable:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return match ? Number(match[1]) * 1024 : null;
}

/** What secrets-child.ts prints last, as `R <json>`. */
export interface ChildResult {
  allocator: AllocatorName;
  requested: number;
  succeeded: number;
  /** The allocation that failed, as `code: message`; null if none did. */
  error: string | null;
  /** Why the child stopped early of its own accord (machine protection). */
  stopped: string | null;
  baselineMappings: number;
  /** Mappings with every secret held (at the failure, if one failed). */
  peakMappings: number;
  maxMapCount: number | null;
  /** Secrets held when the mapping count first reached maxMapCount; null if it never did. */
  atCap: number | null;
  /** memlock's secretStats() at the end; null for sodium. */
  pool: { live: number; slabs: number; dedicated: number; mappedBytes: number } | null;
  /** The allocation loop, bookkeeping (progress, sampling) subtracted. */
  allocMs: number;
  bookkeepingMs: number;
  rssBytes: number;
  heapUsedBytes: number;
}
