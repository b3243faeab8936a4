// Runs a TypeScript fixture in a fresh node process (tsx), optionally behind
// a command prefix such as setpriv/prlimit.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

export const FIXTURES = path.join(__dirname, '..', 'fixtures');

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface FixtureOptions {
  /** A command the child runs under, such as setpriv and prlimit. */
  prefix?: string[];
  /** Options for node itself. */
  node?: string[];
  args?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Milliseconds before the child is killed (SIGKILL); default 120 s. */
  timeout?: number;
}

export function runFixture(name: string, options: FixtureOptions = {}): ChildResult {
  // tap puts its loader back into every child's NODE_OPTIONS, whatever env
  // we pass; `env -u` removes it at exec, so the child is a plain node.
  const command = [
    'env',
    '-u',
    'NODE_OPTIONS',
    ...(options.prefix ?? []),
    process.execPath,
    ...(options.node ?? []),
    '--import',
    'tsx',
    path.join(FIXTURES, name),
    ...(options.args ?? []),
  ];
  const env = { ...process.env, ...options.env };
  // A guard against a hang, not a speed bound: fixtures do fixed work, and a
  // loaded machine may take minutes over it.
  const timeout = options.timeout ?? 600_000;
  const result = spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', timeout, killSignal: 'SIGKILL', env });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

export function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Why a test that drops privileges cannot run here, or undefined if it can. */
export function cannotDropPrivileges(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to drop CAP_IPC_LOCK in a child';
  if (!hasCommand('setpriv')) return 'needs setpriv (util-linux)';
  if (!hasCommand('prlimit')) return 'needs prlimit (util-linux)';
  return undefined;
}

/** A command prefix: no CAP_IPC_LOCK, RLIMIT_MEMLOCK = `bytes` soft and hard. */
export function unprivileged(bytes: number): string[] {
  return ['setpriv', '--inh-caps=-ipc_lock', '--bounding-set=-ipc_lock', 'prlimit', `--memlock=${bytes}:${bytes}`];
}

/** Set when the suite runs with the ASan build (npm run test:asan). */
export const UNDER_ASAN = process.env['MEMLOCK_ASAN'] === '1';
/** Why whole-process locking is not tested under ASan, or false. */
export const SKIP_LOCK_ALL_UNDER_ASAN: string | false = UNDER_ASAN
  ? "whole-process locking under ASan would lock the sanitizer's shadow memory (terabytes reserved)"
  : false;
/** Why tests that drive the process to vm.max_map_count skip under ASan, or false. */
export const SKIP_MAP_CAP_UNDER_ASAN: string | false = UNDER_ASAN
  ? 'at vm.max_map_count the sanitizer cannot map its own shadow memory and aborts'
  : false;

/** Set when the suite runs on arm64 node under qemu-user (scripts/ci-arm64.sh). */
export const UNDER_QEMU = process.env['MEMLOCK_QEMU'] === '1';
/** Why smaps cannot show the madvise flags of secrets (dd, wf, dc) under qemu-user, or false. */
export const SKIP_MADVISE_FLAGS_UNDER_QEMU: string | false = UNDER_QEMU
  ? 'qemu-user 7.2 answers MADV_DONTDUMP, MADV_WIPEONFORK and MADV_DONTFORK with success without passing them to the kernel'
  : false;
/** Why a fixed workload that takes minutes emulated is left to the native runs, or false. */
export const SKIP_SLOW_UNDER_QEMU: string | false = UNDER_QEMU
  ? 'minutes of work under emulation: run natively'
  : false;
