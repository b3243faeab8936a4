// bench/latency/latency-probe.c, the CMake target latency_probe (see
// ../common/cmake.ts), and its interface.
import { buildTarget, targetPath } from '../common/cmake';

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

/** Builds the probe if it is missing or stale, and loads it. */
export const loadProbe = (): ProbeAddon => require(buildTarget('latency_probe')) as ProbeAddon;

/** Loads the probe a parent process built (a jitter child: no build inside a measured run). */
export const loadBuiltProbe = (): ProbeAddon => require(targetPath('latency_probe')) as ProbeAddon;
