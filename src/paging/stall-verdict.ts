// Why the event loop stalled, from what the kernel and V8 measured over the
// stall: the rule the paging monitor applies, kept apart so it reads (and is
// tested) on its own.

export type StallVerdict = 'paging' | 'migration' | 'gc' | 'cpu' | 'unknown';

export interface StallFigures {
  /** How late the event loop ran its check: the stall. */
  delayMs: number;
  /** The span the other figures cover: from the previous check to this one. */
  windowMs: number;
  /** Major faults of the JavaScript thread in the window. */
  majorFaults: number;
  /** Time the JavaScript thread ran on a CPU. */
  cpuMs: number;
  /** Time it was runnable but waiting for a CPU; 0 where the kernel does not say. */
  runQueueMs: number;
  /** Time it slept: waiting on a page read, I/O, a lock (or idle before the stall began). */
  blockedMs: number;
  /** How often it slept (voluntary context switches) and was preempted (involuntary). */
  sleeps: number;
  preemptions: number;
  /** GC pauses in the window. */
  gcMs: number;
  /** Minor faults of the JavaScript thread in the window (a wait on a migrating page is one). */
  minorFaults?: number;
  /**
   * Pages the system migrated around the window (/proc/vmstat, from the last
   * reading before the stall to its end), and of those the causes counted.
   */
  migration?: { pages: number; compactionIsolated: number; numaPages: number };
}

// A page migrates in microseconds to a few milliseconds; a longer average
// sleep is not a wait on migration entries.
const MIGRATION_WAIT_MAX_MS = 10;

function waitsLikeMigration(f: StallFigures): boolean {
  const minor = f.minorFaults ?? 0;
  return f.sleeps > 0 && minor * 2 >= f.sleeps && f.blockedMs / f.sleeps <= MIGRATION_WAIT_MAX_MS;
}

function migrationCause(m: NonNullable<StallFigures['migration']>): string {
  const causes = [
    ...(m.compactionIsolated > 0 ? [`compaction isolated ${m.compactionIsolated}`] : []),
    ...(m.numaPages > 0 ? [`NUMA balancing moved ${m.numaPages}`] : []),
  ];
  return `${m.pages} page${m.pages === 1 ? '' : 's'}${causes.length > 0 ? ` (${causes.join(', ')})` : ''}`;
}

const format = (ms: number): string => `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms`;

/**
 * Each cause is scored by the time it accounts for in the window:
 *   paging: asleep with major faults taken (a major fault sleeps on the
 *           read), plus the wait for a CPU after those sleeps: on a busy
 *           machine every page-in ends in the run queue. The run-queue wait
 *           is split between sleeps and preemptions by their counts;
 *   migration: asleep without a major fault but with minor faults while the
 *           system migrated pages (compaction, NUMA balancing): a thread
 *           touching a page being migrated, locked or not, sleeps until the
 *           move ends: many short sleeps, each with a minor fault (one long
 *           sleep is something else: Atomics.wait, a lock, I/O);
 *   gc:     GC pauses (wall time: a pause that waits for a CPU is still GC's);
 *   cpu:    on a CPU or waiting for one (after preemption, when pages were
 *           read), less the GC pauses.
 * The highest score wins (ties: paging, migration, gc, cpu) when it covers at least
 * half the stall; else 'unknown', as when the thread slept without a major
 * fault (blocking I/O, a lock, Atomics.wait).
 */
export function stallVerdict(f: StallFigures): { verdict: StallVerdict; reason: string } {
  const gc = Math.min(f.gcMs, f.windowMs);
  const switches = f.sleeps + f.preemptions;
  const paged = f.majorFaults > 0;
  const waitAfterSleep = paged && switches > 0 ? (f.runQueueMs * f.sleeps) / switches : 0;
  const migrated = f.migration !== undefined && f.migration.pages > 0;
  const scores: [StallVerdict, number][] = [
    ['paging', paged ? f.blockedMs + waitAfterSleep : 0],
    ['migration', !paged && migrated && waitsLikeMigration(f) ? f.blockedMs : 0],
    ['gc', gc],
    ['cpu', Math.max(0, f.cpuMs + f.runQueueMs - waitAfterSleep - gc)],
  ];
  let best = scores[0]!;
  for (const score of scores) if (score[1] > best[1]) best = score;
  const stall = format(f.delayMs);
  if (best[1] < f.delayMs / 2) {
    const asleep =
      !paged && f.blockedMs >= f.delayMs / 2
        ? `asleep ${format(f.blockedMs)} without a major fault (blocking I/O, a lock, Atomics.wait?)`
        : `no cause covers half of it (asleep ${format(f.blockedMs)}, on a CPU ${format(f.cpuMs)}, GC ${format(gc)})`;
    return { verdict: 'unknown', reason: `${stall} stall: ${asleep}` };
  }
  switch (best[0]) {
    case 'paging':
      return {
        verdict: 'paging',
        reason:
          `${stall} stall: ${f.majorFaults} major fault${f.majorFaults === 1 ? '' : 's'}, asleep ${format(f.blockedMs)} on page-ins` +
          (waitAfterSleep >= 1 ? ` and ${format(waitAfterSleep)} waiting for a CPU after them` : ''),
      };
    case 'migration':
      return {
        verdict: 'migration',
        reason: `${stall} stall: asleep ${format(f.blockedMs)} with ${f.minorFaults} minor fault${f.minorFaults === 1 ? '' : 's'} and no major one while the system migrated ${migrationCause(f.migration!)}`,
      };
    case 'gc':
      return { verdict: 'gc', reason: `${stall} stall: GC paused the thread for ${format(gc)}` };
    default:
      return {
        verdict: 'cpu',
        reason:
          `${stall} stall: on a CPU ${format(f.cpuMs)}` +
          (f.runQueueMs > 0 ? `, waiting for one ${format(f.runQueueMs - waitAfterSleep)}` : '') +
          (gc > 0 ? ` (GC ${format(gc)} of it)` : '') +
          // Compaction runs on a CPU too: on a small machine its work is the wait.
          (migrated && f.runQueueMs >= 1 ? `; the system migrated ${migrationCause(f.migration!)} meanwhile` : ''),
      };
  }
}
