// Why the event loop stalled, from what the kernel and V8 measured over the
// stall: the rule the paging monitor applies, kept apart so it reads (and is
// tested) on its own.

export type StallVerdict = 'paging' | 'migration' | 'gc' | 'cpu' | 'host' | 'unknown';

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
  /** What the guest sees of a hypervisor (see HostFigures); absent or null: not a guest, or not known. */
  host?: HostFigures | null;
  /** Minor faults of the JavaScript thread in the window (a wait on a migrating page is one). */
  minorFaults?: number;
  /**
   * Pages the system migrated around the window (/proc/vmstat, from the last
   * reading before the stall to its end), and of those the causes counted.
   */
  migration?: { pages: number; compactionIsolated: number; numaPages: number };
}

/** A guest's view of its host over (about) the stall: host-signals.ts. */
export interface HostFigures {
  /** The CPU flag "hypervisor": this kernel runs as a guest. */
  hypervisor: boolean;
  /** Steal time of all vCPUs (/proc/stat) from the reading before the stall to the one after; null if unread. */
  stealMs: number | null;
  /** Pages the balloon took or gave back (/proc/vmstat balloon_inflate + balloon_deflate) over the same span. */
  balloonPages: number | null;
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
// A part of the stall, rounded down: the parts a reason lists never add up past the stall.
const part = (ms: number): string => `${ms < 10 ? (Math.floor(ms * 10) / 10).toFixed(1) : Math.floor(ms)} ms`;

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
 * fault (blocking I/O, a lock, Atomics.wait), or 'host':
 *   host:   in a guest, time the thread was neither on a CPU nor waiting for
 *           one nor asleep: no voluntary context switch and no major fault,
 *           yet the wall clock ran on. With paravirtual steal accounting the
 *           guest leaves stolen time out of a thread's run time, so a vCPU
 *           the host took away shows as exactly this. Stolen time that the
 *           guest accounts as run time (no steal clock), and host page-ins
 *           of guest memory (the vCPU runs in the host's fault handler), look
 *           like 'cpu' to the guest and stay 'cpu': this rule never guesses.
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
  if (best[1] < f.delayMs / 2 && f.host?.hypervisor && !paged && f.sleeps === 0 && f.blockedMs >= f.delayMs / 2) {
    const steal = f.host.stealMs;
    const balloon = f.host.balloonPages;
    return {
      verdict: 'host',
      reason:
        `${stall} stall: ${format(f.blockedMs)} passed while the thread neither ran, waited for a CPU nor slept ` +
        `(no guest fault): the hypervisor held the vCPU` +
        (steal !== null ? ` (steal ${format(steal)} across the vCPUs around it)` : '') +
        (balloon ? `, the balloon moved ${balloon} pages` : ''),
    };
  }
  if (best[1] < f.delayMs / 2) {
    if (!paged && f.blockedMs >= f.delayMs / 2) {
      const [asleep] = toStall(f.delayMs, [f.blockedMs]);
      return {
        verdict: 'unknown',
        reason: `${stall} stall: asleep ${part(asleep!)} without a major fault (blocking I/O, a lock, Atomics.wait?)`,
      };
    }
    const [asleep, cpu, ofCpu] = toStall(f.delayMs, [f.blockedMs, f.cpuMs], [gc]);
    return {
      verdict: 'unknown',
      reason:
        `${stall} stall: no cause covers half of it (asleep ${part(asleep!)}, on a CPU ${part(cpu!)}` +
        `${ofCpu! > 0 ? `, GC ${part(ofCpu!)} of it` : ''})`,
    };
  }
  switch (best[0]) {
    case 'paging': {
      const [asleep, wait] = toStall(f.delayMs, [f.blockedMs, waitAfterSleep]);
      return {
        verdict: 'paging',
        reason:
          `${stall} stall: ${f.majorFaults} major fault${f.majorFaults === 1 ? '' : 's'}, asleep ${part(asleep!)} on page-ins` +
          (wait! >= 1 ? ` and ${part(wait!)} waiting for a CPU after them` : ''),
      };
    }
    case 'migration': {
      const [asleep] = toStall(f.delayMs, [f.blockedMs]);
      const minor = f.minorFaults ?? 0;
      return {
        verdict: 'migration',
        reason:
          `${stall} stall: asleep ${part(asleep!)} with ${minor} minor fault${minor === 1 ? '' : 's'} and no major one ` +
          `while the system migrated ${migrationCause(f.migration!)}`,
      };
    }
    case 'gc': {
      const [paused] = toStall(f.delayMs, [gc]);
      return { verdict: 'gc', reason: `${stall} stall: GC paused the thread for ${part(paused!)}` };
    }
    default: {
      const [cpu, wait, ofCpu] = toStall(f.delayMs, [f.cpuMs, f.runQueueMs - waitAfterSleep], [gc]);
      return {
        verdict: 'cpu',
        reason:
          `${stall} stall: on a CPU ${part(cpu!)}` +
          (f.runQueueMs > 0 ? `, waiting for one ${part(wait!)}` : '') +
          (gc > 0 ? ` (GC ${part(ofCpu!)} of it)` : '') +
          // Compaction runs on a CPU too: on a small machine its work is the wait.
          (migrated && f.runQueueMs >= 1 ? `; the system migrated ${migrationCause(f.migration!)} meanwhile` : ''),
      };
    }
  }
}

/**
 * The figures cover the window from the sample before the stall to its end,
 * up to the monitor's resolution longer than the stall: the times a reason
 * lists side by side (`parts`) are scaled down together so they add up to no
 * more than the stall; `within` (times inside those, such as GC in CPU time)
 * by the same factor. Returned in that order: parts, then within.
 */
function toStall(delayMs: number, parts: number[], within: number[] = []): number[] {
  const clean = (ms: number): number => (Number.isFinite(ms) ? Math.max(0, ms) : 0);
  const total = parts.reduce((sum, ms) => sum + clean(ms), 0);
  const factor = total > delayMs ? delayMs / total : 1;
  return [...parts, ...within].map((ms) => clean(ms) * factor);
}
