// Where the benchmarks find things and put things. Every file a benchmark
// writes (--json, --svg, --hgrm) goes under bench/results/ when it is given
// as a bare name (`--json latency.json`); a path with a directory in it
// (`--svg ./x.svg`, `--json /tmp/x.json`) is taken as given.
import fs from 'node:fs';
import path from 'node:path';

/** The repository: children run from it, so `--import tsx` resolves from its node_modules. */
export const ROOT = path.join(__dirname, '..', '..');

/** The default output directory (gitignored). */
export const RESULTS = path.join(ROOT, 'bench', 'results');

/** Where an output argument points: bare names (a trailing / allowed, for --hgrm) under RESULTS. */
export function outputPath(arg: string): string {
  return arg.replace(/\/+$/, '').includes('/') ? arg : path.join(RESULTS, arg);
}

/** Writes `text` to the output `arg` names; returns the path written, for a "wrote" line. */
export function writeOutput(arg: string, text: string): string {
  const file = outputPath(arg);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return shown(file);
}

export const writeJson = (arg: string, value: unknown): string =>
  writeOutput(arg, `${JSON.stringify(value, null, 2)}\n`);

/** A path as short as it reads: relative to the working directory when under it. */
export function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
