// Text output shared by the benchmarks: aligned tables, numbers, durations,
// colour and progress (both only on a terminal).
import { styleText } from 'node:util';

export function table(header: string[], body: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (rightAligned[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** 190 ns, 1.43 us, 47.3 us, 3.82 ms, 1.20 s: three significant figures. */
export function duration(ns: number): string {
  const units: [number, string][] = [
    [1e9, 's'],
    [1e6, 'ms'],
    [1e3, 'us'],
  ];
  for (const [scale, unit] of units) {
    if (ns >= scale) return `${(ns / scale).toPrecision(3)} ${unit}`;
  }
  return `${Math.round(ns)} ns`;
}

/** A ratio as 0.0041x or 12.3x. */
export function ratio(r: number): string {
  if (!Number.isFinite(r)) return '-';
  return r >= 1 ? `${r.toPrecision(3)}x` : `${r.toPrecision(2)}x`;
}

export const count = (n: number): string => n.toLocaleString('en-US');

/** Thousands separated, exactly `digits` decimals: 6,744.0 */
export const fixed = (v: number, digits = 0): string =>
  v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const colour = process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined;

/** Green "met" / red "NOT met" on a terminal, plain words elsewhere. */
export function verdict(met: boolean): string {
  if (!colour) return met ? 'met' : 'NOT met';
  return met ? styleText('green', 'met') : styleText('red', 'NOT met');
}

export function heading(text: string): string {
  return colour ? styleText('bold', text) : text;
}

const progressOn = process.stderr.isTTY === true;

/** One self-overwriting status line on stderr, only on a terminal. */
export function progress(text: string): void {
  if (progressOn) process.stderr.write(`\r\x1b[K${styleText('dim', text)}`);
}

export function progressDone(): void {
  if (progressOn) process.stderr.write('\r\x1b[K');
}
