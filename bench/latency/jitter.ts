// Paging jitter, cyclictest-style, in Node: wake every interval, record how
// late each wake is, and touch a working set (a file-backed mapping) each
// time. Two ways to wait: setTimeout (what a Node service does) and a
// busy-wait on performance.now() (no timer in the way: what is left is
// faults, preemption and GC). Each run is a child process (jitter-child.ts):
// paged, the code locked with lockCode() and the working set with lock(), or
// pinned with lockAll({ current, future }), and with or without
// self-inflicted pressure, a thread that pages out every file-backed mapping
// of the process (node's own text included) with MADV_PAGEOUT, needing no
// swap. Run by bench/run.ts.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { checkInterrupted, track } from '../common/cleanup';
import { ROOT } from '../common/files';
import { loadProbe } from './probe';
import type { ChildConfig, JitterMode, JitterRun, WakeResult } from './jitter-child';
import { count, duration, heading, progress, progressDone, table } from '../common/report';
import { makeEvictableFile } from './evictable-file';

export interface JitterConfig {
  full: boolean;
  dir: string;
}

export interface JitterReport {
  config: Omit<ChildConfig, 'mode' | 'pressure' | 'wsFile'> & { pressures: boolean[] };
  runs: (JitterRun | { mode: JitterMode; pressure: boolean; error: string })[];
  seconds: number;
}

const CHILD = path.join(__dirname, 'jitter-child.ts');
const MIB = 2 ** 20;

function runChild(cfg: ChildConfig): Promise<JitterRun> {
  return new Promise((resolve, reject) => {
    // cwd = the repo, so `--import tsx` resolves from its node_modules.
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(cfg)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('R '));
      if (code === 0 && line) resolve(JSON.parse(line.slice(2)) as JitterRun);
      else
        reject(
          new Error(
            `jitter child (${cfg.mode}) ${signal ?? `exit ${code}`}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
          ),
        );
    });
  });
}

export async function runJitter(cfg: JitterConfig): Promise<JitterReport> {
  const started = performance.now();
  loadProbe(); // built here, once: the children only load it (and it fails here if it cannot be built)
  const base = {
    intervalUs: 1000, // cyclictest's default
    seconds: cfg.full ? 10 : 1.5,
    warmupSeconds: 0.2,
    wsBytes: 4 * MIB,
    pressurePeriodMs: 50,
  };
  const wsFile = path.join(cfg.dir, 'working-set.dat');
  makeEvictableFile(wsFile, base.wsBytes);
  const pressures = [false, true];
  const runs: JitterReport['runs'] = [];
  for (const pressure of pressures) {
    for (const mode of ['paged', 'code', 'pinned'] as const) {
      progress(
        `jitter: ${mode}${pressure ? ', under pressure' : ''} (${runs.length + 1}/6, ~${(base.seconds * 2 + 1).toFixed(0)} s each)`,
      );
      checkInterrupted();
      try {
        runs.push(await runChild({ ...base, mode, pressure, wsFile }));
      } catch (e) {
        checkInterrupted();
        runs.push({ mode, pressure, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  progressDone();
  const report: JitterReport = { config: { ...base, pressures }, runs, seconds: (performance.now() - started) / 1000 };
  printJitter(report);
  return report;
}

function printJitter(r: JitterReport): void {
  const c = r.config;
  console.log(
    heading('\nmemlock jitter: wake-up lateness of a periodic loop, paged against lockCode() against lockAll'),
  );
  console.log(
    `every ${c.intervalUs} us for ${c.seconds} s per wake method (after ${c.warmupSeconds} s untimed); each cycle reads a byte of every ` +
      `page of a ${c.wsBytes / MIB} MiB file mapping (the work).\n` +
      `pressure: a thread pages out every file-backed mapping of the process every ${c.pressurePeriodMs} ms (MADV_PAGEOUT); ` +
      'code: lockCode() (every executable file mapping) and lock() on the working set; ' +
      'pinned: lockAll({ current: true, future: true }), so the kernel refuses.',
  );
  const rows: string[][] = [];
  for (const run of r.runs) {
    const name = `${run.mode}${run.pressure ? ', pressure' : ''}`;
    if ('error' in run) {
      rows.push([name, 'failed', run.error]);
      continue;
    }
    run.wakes.forEach((w: WakeResult, i: number) => {
      const l = w.lateness.summary;
      rows.push([
        i === 0 ? name : '',
        w.wake,
        count(w.cycles),
        duration(l.min),
        duration(l.mean),
        duration(l.p99),
        duration(l.p999),
        duration(l.max),
        duration(w.work.summary.p50),
        duration(w.work.summary.max),
        count(w.missed),
        count(w.majorFaults),
        count(w.minorFaults),
        count(w.involuntarySwitches),
      ]);
    });
  }
  console.log(
    table(
      [
        'run',
        'wake',
        'cycles',
        'min',
        'avg',
        'p99',
        'p99.9',
        'max',
        'work p50',
        'work max',
        'missed',
        'major',
        'minor',
        'preempted',
      ],
      rows,
      [false, false, true, true, true, true, true, true, true, true, true, true, true, true],
    ),
  );
  console.log(
    'min..max: how late each wake was (perf_hooks histograms take integers >= 1: on time, or early, counts as\n' +
      '1 ns). A cycle whose work overruns makes the next wake late. work: one pass over the working set.\n' +
      'missed: periods skipped because a wake came more than one interval late (as cyclictest does).\n' +
      'major/minor: page faults of the whole process over the run. preempted: involuntary context switches\n' +
      '(CPU contention, not paging). setTimeout takes whole ms, so its lateness is up to 1 ms by design.',
  );
  for (const run of r.runs) {
    if ('error' in run || run.pressureReport === null) continue;
    const p = run.pressureReport;
    console.log(
      `${run.mode}, pressure: ${count(p.passes)} passes over ${run.evictable.mappings} mappings ` +
        `(${(run.evictable.bytes / MIB).toFixed(0)} MiB): ${count(p.ok)} paged out, ${count(p.refused)} refused (locked)` +
        `${p.failed > 0 ? `, ${count(p.failed)} failed (errno ${p.lastErrno})` : ''}` +
        `${run.lockAllMs !== null ? `; lockAll took ${run.lockAllMs.toFixed(0)} ms, VmLck ${(run.vmLckBytes / 2 ** 30).toFixed(1)} GiB` : ''}` +
        `${run.lockCodeMs !== null ? `; lockCode took ${run.lockCodeMs.toFixed(0)} ms for ${(run.codeBytes / MIB).toFixed(0)} MiB, VmLck ${(run.vmLckBytes / MIB).toFixed(0)} MiB` : ''}`,
    );
  }
}
