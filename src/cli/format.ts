// Shared by the CLI commands: argument parsing that turns every bad input into
// a UsageError (exit 2, one line), and terminal output (aligned columns,
// colour as FORCE_COLOR, NO_COLOR and the terminal say).
import { inspect, parseArgs } from 'node:util';
import { formatBytes } from '../errors';

export { formatBytes };

export const USAGE = {
  main: 'usage: memlock <doctor|status|help> [options]   (memlock --help for details)',
  doctor: 'usage: memlock doctor [--json] [--size MiB]',
  status: 'usage: memlock status [--pid N] [--json] [--top N] [--watch SECONDS [--count N]]',
} as const;

/** Bad input: printed as one line plus the usage line, exit code 2. */
export class UsageError extends Error {
  readonly usage: string;

  constructor(message: string, usage: string = USAGE.main) {
    super(message);
    this.name = 'UsageError';
    this.usage = usage;
  }
}

type Options = Record<string, { type: 'string' | 'boolean' }>;

/** What parseCommand returns: each option's value, if given, and --help. */
export type OptionValues<T extends Options> = { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean } & {
  help?: boolean;
};

/**
 * parseArgs in strict mode for one command. `--size -1` is joined into
 * `--size=-1` first, so a negative number is reported as out of range rather
 * than as parseArgs' "ambiguous argument".
 */
export function parseCommand<T extends Options>(args: string[], options: T, usage: string): OptionValues<T> {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    const next = args[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i += 1;
    } else {
      joined.push(arg);
    }
  }
  try {
    const { values } = parseArgs({
      args: joined,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return values;
  } catch (error) {
    // parseArgs' own messages may span lines; the first one says what is wrong.
    const line = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    throw new UsageError(line.charAt(0).toLowerCase() + line.slice(1), usage);
  }
}

/** A positive decimal such as 64 or 0.5; anything else is a UsageError. */
export function positiveNumber(flag: string, value: string, usage: string, unit: string): number {
  const n = /^\d+(\.\d+)?$|^\.\d+$/.test(value) ? Number(value) : NaN;
  if (!(n > 0) || !Number.isFinite(n))
    throw new UsageError(`${flag} must be a positive number of ${unit}, got '${value}'`, usage);
  return n;
}

/** A positive integer that fits a JS number exactly. */
export function positiveInteger(flag: string, value: string, usage: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive integer, got '${value}'`, usage);
  return n;
}

type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

/**
 * Whether to colour `stream`, as Node decides for its own output:
 * FORCE_COLOR set decides first ('0' or 'false': no colour; anything else,
 * '' included: colour, even in a pipe); then NO_COLOR (non-empty) or
 * NODE_DISABLE_COLORS turn it off; then only a TTY whose terminal has colours
 * (not TERM=dumb) gets them.
 */
export function colourWanted(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if ((env['NO_COLOR'] ?? '') !== '' || env['NODE_DISABLE_COLORS'] !== undefined) return false;
  if (stream.isTTY !== true) return false;
  return env['TERM'] !== 'dumb' && stream.hasColors();
}

/** Colours for stdout, or none when it should have none (colourWanted). */
export function stylist(stream: NodeJS.WriteStream = process.stdout): (style: Style | Style[], text: string) => string {
  if (!colourWanted(stream)) return (_style, text) => text;
  // The SGR codes from util.inspect's table: styleText itself skips colour
  // in a pipe on Node 22+, whatever FORCE_COLOR says.
  return (style, text) =>
    [style].flat().reduceRight((inner, one) => {
      const [open, close] = inspect.colors[one]!;
      return `\x1b[${open}m${inner}\x1b[${close}m`;
    }, text);
}

export type Align = 'left' | 'right';

/** Cells padded to aligned columns; join each row with a gap. Colour goes on after padding. */
export function columns(rows: string[][], align: Align[] = []): string[][] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row.map((cell, i) => {
      if (align[i] === 'right') return cell.padStart(widths[i]!);
      return i === row.length - 1 ? cell : cell.padEnd(widths[i]!); // no trailing spaces
    }),
  );
}

/** JSON has no Infinity: an unlimited RLIMIT_MEMLOCK is null. */
export function limitJson(bytes: number): number | null {
  return bytes === Infinity ? null : bytes;
}
