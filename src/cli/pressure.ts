// `memlock status`: the memory pressure and page faults of the inspected
// process, and with --watch their rates over each interval.
import { formatBytes } from './format';
import { pressureOf, type PressureFigures, type PressureSourceKind } from '../paging/pressure';

export interface PressureRates {
  /** The interval the rates cover. */
  seconds: number;
  majorFaultsPerSecond: number;
  minorFaultsPerSecond: number;
  /** PSI stall time per second of wall time (1000 = stalled all along); null without PSI. */
  someStallMsPerSecond: number | null;
  fullStallMsPerSecond: number | null;
}

export interface PressureStatus {
  /** VmSwap: anonymous memory of the process now in swap. */
  vmSwapBytes: number;
  pressure: {
    source: PressureSourceKind;
    path: string | null;
    reason: string | null;
    some: PressureFigures | null;
    full: PressureFigures | null;
  };
  /** Since the process started. */
  faults: { major: number; minor: number };
  /** Over the last --watch interval; null in the first report. */
  rates: PressureRates | null;
}

/** The pressure part of a status report; `previous` (the last report, with its time) gives the rates. */
export function pressureStatus(
  pid: number,
  time: string,
  previous?: PressureStatus & { time: string },
): PressureStatus {
  const snap = pressureOf(pid);
  const status: PressureStatus = {
    vmSwapBytes: snap.vmSwapBytes,
    pressure: { source: snap.source, path: snap.path, reason: snap.reason, some: snap.some, full: snap.full },
    faults: { major: snap.majorFaults, minor: snap.minorFaults },
    rates: null,
  };
  if (previous) {
    const seconds = (Date.parse(time) - Date.parse(previous.time)) / 1000;
    if (seconds > 0) {
      const stall = (kind: 'some' | 'full'): number | null => {
        const now = status.pressure[kind];
        const then = previous.pressure[kind];
        // A different source (the process moved cgroup) has another total.
        if (!now || !then || status.pressure.path !== previous.pressure.path) return null;
        return (now.totalUs - then.totalUs) / 1000 / seconds;
      };
      status.rates = {
        seconds,
        majorFaultsPerSecond: (status.faults.major - previous.faults.major) / seconds,
        minorFaultsPerSecond: (status.faults.minor - previous.faults.minor) / seconds,
        someStallMsPerSecond: stall('some'),
        fullStallMsPerSecond: stall('full'),
      };
    }
  }
  return status;
}

const rate = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const percent = (f: PressureFigures): string =>
  `${f.avg10.toFixed(2)}% / ${f.avg60.toFixed(2)}% / ${f.avg300.toFixed(2)}%`;

/** Rows for status's facts table: [label, value, note]. */
export function pressureRows(status: PressureStatus): [string, string, string][] {
  const rows: [string, string, string][] = [['VmSwap', formatBytes(status.vmSwapBytes), 'anonymous memory in swap']];
  const p = status.pressure;
  if (p.source === 'unavailable' || !p.some) {
    rows.push(['memory pressure', 'unavailable', p.reason ?? '']);
  } else {
    const where = `${p.source}: ${p.path}`;
    rows.push(['pressure some', percent(p.some), `stalled on memory, avg10/60/300 (${where})`]);
    if (p.full) rows.push(['pressure full', percent(p.full), 'every task stalled at once']);
  }
  rows.push([
    'faults',
    `${status.faults.major.toLocaleString('en-US')} major / ${status.faults.minor.toLocaleString('en-US')} minor`,
    'since the process started',
  ]);
  const r = status.rates;
  if (r) {
    const over = `over the last ${r.seconds.toFixed(r.seconds < 10 ? 1 : 0)} s`;
    rows.push(['fault rate', `${rate(r.majorFaultsPerSecond)} major/s, ${rate(r.minorFaultsPerSecond)} minor/s`, over]);
    if (r.someStallMsPerSecond !== null) {
      const full = r.fullStallMsPerSecond === null ? '' : `, full ${rate(r.fullStallMsPerSecond)} ms/s`;
      rows.push([
        'stall rate',
        `some ${rate(r.someStallMsPerSecond)} ms/s${full}`,
        `${over} (1000 ms/s: stalled all along)`,
      ]);
    }
  }
  return rows;
}
