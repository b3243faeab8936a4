// The benchmarks' C programs are targets of the project's CMake build
// (CMakeLists.txt), built into build-bench/ when first needed and again when
// a source changed:
//   cmake -S . -B build-bench && cmake --build build-bench --target <name>
// A machine without cmake, a C compiler or Node's headers gets an error that
// says which, and the benchmark that needs the program is not measured.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './files';

const BUILD = path.join(ROOT, 'build-bench');
const CACHE = path.join(BUILD, 'CMakeCache.txt');

const TARGETS = {
  raw_mlock: { file: 'raw_mlock', source: 'bench/overhead/raw-mlock.c', addon: false },
  latency_probe: { file: 'latency_probe.node', source: 'bench/latency/latency-probe.c', addon: true },
  napi_floor: { file: 'napi_floor.node', source: 'bench/secrets/napi-floor.c', addon: true },
} as const;

export type Target = keyof typeof TARGETS;

/** Where the target's program is once built (for a child whose parent built it). */
export const targetPath = (target: Target): string => path.join(BUILD, TARGETS[target].file);

/** Builds the target if it is missing or stale and returns its path; throws, saying what is missing, if it cannot. */
export function buildTarget(target: Target): string {
  const fail = (why: string): never => {
    throw new Error(`cannot build ${TARGETS[target].source} (CMake target ${target}): ${why}`);
  };
  const cmake = (args: string[]): string | null => {
    const result = spawnSync('cmake', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      fail('cmake is not installed (on Debian or Ubuntu: apt-get install cmake)');
    }
    return result.status === 0 ? null : `${result.stdout}${result.stderr}`;
  };
  // Configured once, with the headers of the node running the benchmark.
  // Again when the last configure found no C compiler, so installing one is
  // enough; a failed configure leaves a cache behind: removed, to try again.
  if (fs.existsSync(CACHE) && !hasCCompiler()) fs.rmSync(CACHE);
  if (!fs.existsSync(CACHE)) {
    const failed = cmake(['-S', ROOT, '-B', BUILD, `-DNODE=${process.execPath}`]);
    if (failed !== null) {
      fs.rmSync(CACHE, { force: true });
      fail(errorLines(failed));
    }
  }
  const failed = cmake(['--build', BUILD, '--target', target]);
  if (failed !== null) fail(reason(target, failed));
  return targetPath(target);
}

// CMakeLists.txt leaves the benchmark targets out when there is no C
// compiler or no node_api.h, and the build then knows no such target.
function reason(target: Target, output: string): string {
  if (!hasCCompiler()) return 'no C compiler (on Debian or Ubuntu: apt-get install gcc)';
  const include = path.join(path.dirname(process.execPath), '..', 'include', 'node');
  if (TARGETS[target].addon && !fs.existsSync(path.join(include, 'node_api.h'))) {
    return `no node_api.h in ${include} (Node's headers, which the official Node builds ship)`;
  }
  return errorLines(output);
}

function hasCCompiler(): boolean {
  const cache = fs.existsSync(CACHE) ? fs.readFileSync(CACHE, 'utf8') : '';
  return /^CMAKE_C_COMPILER:\w+=(?!.*NOTFOUND).+$/m.test(cache);
}

// The lines of cmake's output that say what went wrong, or its first lines.
function errorLines(output: string): string {
  const errors = output.split('\n').filter((line) => /error|no rule/i.test(line));
  return (errors.length > 0 ? errors : output.trim().split('\n')).slice(0, 3).join(' | ');
}
