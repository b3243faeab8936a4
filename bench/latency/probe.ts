// Loads bench/latency-probe.c, compiled here with cc against this Node's
// headers into bench/.build/ (rebuilt only when missing or older than its source).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ProbeUsage {
  /** This thread's faults and context switches over the timed loop (RUSAGE_THREAD). */
  minflt: number;
  majflt: number;
  nvcsw: number;
  nivcsw: number;
  /** Samples whose two clock reads ran on different CPUs (rdtscp only). */
  migrations: number;
}

export interface PressureReport {
  passes: number;
  /** madvise(MADV_PAGEOUT) calls that succeeded, were refused (EINVAL: locked), or failed otherwise. */
  ok: number;
  refused: number;
  failed: number;
  lastErrno: number;
  busyNs: number;
}

/** 0: clock_gettime(CLOCK_MONOTONIC); 1: rdtscp calibrated against it. */
export type ClockId = 0 | 1;

export interface ProbeAddon {
  mapAnon(bytes: number): Buffer;
  mapFile(file: string, bytes: number): Buffer;
  unmap(buffer: Buffer): void;
  advise(buffer: Buffer, advice: number): number;
  calibrate(ms: number): number;
  floor(clock: ClockId, out: Float64Array): void;
  /** ns: the smallest advance of the TSC between two reads (0 before calibrate or without rdtscp). */
  tscStep(): number;
  probe(
    clock: ClockId,
    buffer: Buffer,
    order: Uint32Array,
    from: number,
    count: number,
    write: boolean,
    out: Float64Array,
  ): ProbeUsage;
  pressureStart(ranges: Float64Array, periodUs: number): void;
  pressureStop(): PressureReport;
  readonly MADV_NORMAL: number;
  readonly MADV_RANDOM: number;
  readonly MADV_SEQUENTIAL: number;
  readonly MADV_PAGEOUT: number;
  readonly hasRdtscp: number;
}

const SOURCE = path.join(__dirname, 'latency-probe.c');
const BINARY = path.join(__dirname, '..', '.build', 'latency-probe.node');

export function loadProbe(): ProbeAddon {
  const built = fs.statSync(BINARY, { throwIfNoEntry: false });
  if (!built || built.mtimeMs < fs.statSync(SOURCE).mtimeMs) {
    const include = path.join(path.dirname(process.execPath), '..', 'include', 'node');
    if (!fs.existsSync(path.join(include, 'node_api.h'))) {
      throw new Error(`bench: cannot build ${path.basename(SOURCE)}: no node_api.h in ${include}`);
    }
    fs.mkdirSync(path.dirname(BINARY), { recursive: true });
    // Built to a temporary name and renamed, so a concurrent run never loads half a file.
    const tmp = `${BINARY}.${process.pid}`;
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-I', include, '-o', tmp, SOURCE], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    fs.renameSync(tmp, BINARY);
  }
  return require(BINARY) as ProbeAddon;
}
