// Page migrations the kernel did (compaction, NUMA balancing, khugepaged):
// the system-wide counters of /proc/vmstat, and this process's NUMA
// migrations from /proc/self/sched where the kernel gives them. A migrating
// page, locked or not, makes a thread that touches it wait (a minor fault on
// the migration entry): docs/locked-is-not-pinned.md.
import { readKernelFile } from '../kernel-file';

export interface MigrationCounters {
  /** pgmigrate_success: pages migrated, for any reason. */
  pagesMigrated: number;
  /** compact_isolated: pages compaction took (to move, or as free targets). */
  compactionIsolated: number;
  /** compact_stall: allocations that compacted memory themselves (direct compaction). */
  compactionStalls: number;
  /** numa_pages_migrated: pages NUMA balancing moved between nodes. */
  numaPagesMigrated: number;
  /** thp_collapse_alloc: huge pages khugepaged made by copying small ones. */
  hugePageCollapses: number;
  /** This process's numa_pages_migrated (/proc/self/sched); null where the kernel does not say. */
  processNumaPagesMigrated: number | null;
}

const VMSTAT_FIELDS = {
  pagesMigrated: 'pgmigrate_success',
  compactionIsolated: 'compact_isolated',
  compactionStalls: 'compact_stall',
  numaPagesMigrated: 'numa_pages_migrated',
  hugePageCollapses: 'thp_collapse_alloc',
} as const;

/** The counters now (since boot), or null where /proc/vmstat cannot be read. Missing counters read 0. */
export function migrationCounters(): MigrationCounters | null {
  let text: string;
  try {
    text = readKernelFile('/proc/vmstat');
  } catch {
    return null;
  }
  const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  let processNuma: number | null = null;
  try {
    const sched = /^numa_pages_migrated\s+:\s+(\d+)$/m.exec(readKernelFile('/proc/self/sched'));
    if (sched) processNuma = Number(sched[1]);
  } catch {
    // No /proc/self/sched (CONFIG_SCHED_DEBUG off): no per-process figure.
  }
  return {
    pagesMigrated: value(VMSTAT_FIELDS.pagesMigrated),
    compactionIsolated: value(VMSTAT_FIELDS.compactionIsolated),
    compactionStalls: value(VMSTAT_FIELDS.compactionStalls),
    numaPagesMigrated: value(VMSTAT_FIELDS.numaPagesMigrated),
    hugePageCollapses: value(VMSTAT_FIELDS.hugePageCollapses),
    processNumaPagesMigrated: processNuma,
  };
}

/** Counters' growth between two readings, over `sinceMs`. */
export type MigrationDelta = MigrationCounters & { sinceMs: number };

export function migrationDelta(before: MigrationCounters, after: MigrationCounters, sinceMs: number): MigrationDelta {
  return {
    pagesMigrated: after.pagesMigrated - before.pagesMigrated,
    compactionIsolated: after.compactionIsolated - before.compactionIsolated,
    compactionStalls: after.compactionStalls - before.compactionStalls,
    numaPagesMigrated: after.numaPagesMigrated - before.numaPagesMigrated,
    hugePageCollapses: after.hugePageCollapses - before.hugePageCollapses,
    processNumaPagesMigrated:
      before.processNumaPagesMigrated === null || after.processNumaPagesMigrated === null
        ? null
        : after.processNumaPagesMigrated - before.processNumaPagesMigrated,
    sinceMs,
  };
}
