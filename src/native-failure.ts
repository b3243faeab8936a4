// Turns a refused syscall into a MemlockError that names the errno, the
// syscall and what to do about it.
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { binding, SCRATCH } from './binding';
import { formatBytes, MemlockError } from './errors';
import { maxMapCount, procStatus } from './proc';

// How to let a process lock more memory, one fix per environment. Shared by
// error messages and `memlock doctor`, so the two never drift apart.
export const MEMLOCK_REMEDIES: readonly string[] = [
  'shell: ulimit -l unlimited (or a size in KiB) before starting node',
  "systemd: LimitMEMLOCK=infinity in the unit's [Service] section",
  'docker: docker run --ulimit memlock=-1:-1 (or --cap-add IPC_LOCK)',
  "Kubernetes: securityContext.capabilities.add: [IPC_LOCK] in the container's spec",
  'a binary: setcap cap_ipc_lock+ep on it grants CAP_IPC_LOCK',
];

export interface MemlockRlimit {
  /** Bytes; Infinity when unlimited. */
  soft: number;
  hard: number;
}

export function memlockRlimit(): MemlockRlimit | undefined {
  const result = binding.memlockRlimit();
  if (typeof result === 'number') return undefined;
  const bytes = (n: number): number => (n < 0 ? Infinity : n);
  return { soft: bytes(result[0]), hard: bytes(result[1]) };
}

/** Whether this process holds CAP_IPC_LOCK in its effective set. */
export function hasIpcLockCapability(): boolean | undefined {
  try {
    return procStatus('self').hasIpcLock;
  } catch {
    return undefined; // no /proc: say nothing rather than guess
  }
}

const REMEDIES = `Raise the limit (or grant CAP_IPC_LOCK): ${MEMLOCK_REMEDIES.join('; ')}.`;

// A lock that splits a mapping needs up to two more: within a few of the cap,
// ENOMEM means mappings. Counted natively: reading /proc/self/maps into JS
// needs a large allocation, and at the cap V8 cannot map one.
function atMappingCap(): boolean {
  try {
    return binding.mappingCount() >= maxMapCount() - 2;
  } catch {
    return false;
  }
}

/** Why a lock was refused, and what to do, for the errnos mlock documents. */
function lockAdvice(name: string, bytes: number): string {
  const rlimit = memlockRlimit();
  const capable = hasIpcLockCapability();
  const limits = rlimit
    ? `RLIMIT_MEMLOCK is ${formatBytes(rlimit.soft)} soft / ${formatBytes(rlimit.hard)} hard`
    : 'RLIMIT_MEMLOCK could not be read';
  const capability = capable === true ? 'this process has CAP_IPC_LOCK' : 'this process lacks CAP_IPC_LOCK';
  const bound = capable !== true && rlimit !== undefined && rlimit.soft !== Infinity;
  if ((name === 'ENOMEM' || name === 'EPERM' || name === 'EAGAIN') && bound) {
    return `could not lock ${formatBytes(bytes)}: ${limits} and ${capability}, so everything the process ` +
      `locks must fit in ${formatBytes(rlimit.soft)}. ${REMEDIES}`;
  }
  if (name === 'ENOMEM' && atMappingCap()) {
    return `could not lock ${formatBytes(bytes)}: the process is at vm.max_map_count (${maxMapCount()}) mappings, ` +
      'not out of memory. Each separately locked range splits a mapping: lock fewer, larger ranges ' +
      '(or use allocSecret, whose pool shares them), or raise vm.max_map_count (sysctl -w vm.max_map_count=...).';
  }
  if (name === 'ENOMEM') {
    return `could not lock ${formatBytes(bytes)} (${limits}; ${capability}): the kernel is out of memory it ` +
      'may lock, or the process has reached vm.max_map_count mappings (each separately locked range can split one).';
  }
  if (name === 'EAGAIN') return `some of the ${formatBytes(bytes)} could not be locked; try again`;
  return `${limits}; ${capability}`;
}

// Not an RLIMIT_MEMLOCK problem, whatever the limit: the syscall is missing.
function notImplemented(syscall: string): string {
  const instead = syscall === 'mlock2' ? ': onFault locking is unavailable, lock without it' : '';
  return `${syscall} is not implemented here (an old kernel, a seccomp filter, or an emulator such as ` +
    `qemu-user 7.2, which has no mlock2)${instead}`;
}

function advice(syscall: string, code: string, bytes: number): string {
  if (code === 'ENOSYS') return notImplemented(syscall);
  switch (syscall) {
    case 'mlock':
    case 'mlock2':
    case 'mlockall':
      return lockAdvice(code, bytes);
    case 'munlock':
      return `could not unlock ${formatBytes(bytes)}`;
    case 'mmap':
      return `could not map ${formatBytes(bytes)}: out of memory, or the process has reached vm.max_map_count mappings`;
    case 'mprotect':
    case 'madvise':
      return code === 'ENOMEM'
        ? `the process has reached vm.max_map_count mappings (each guarded secret takes about two; ` +
            "pooled secrets share theirs): free secrets, use placement 'pooled', or raise vm.max_map_count"
        : `on ${formatBytes(bytes)}`;
    default:
      return `on ${formatBytes(bytes)}`;
  }
}

/**
 * A lock or secret refused because too few mappings would be left below
 * vm.max_map_count. The figures come from the scratch slots the refused
 * call filled: building this error reads nothing from /proc.
 */
export function mappingsError(): MemlockError {
  const scratch = binding.scratch;
  const [mappings, cap, margin] = [scratch[SCRATCH.mappings]!, scratch[SCRATCH.mapCap]!, scratch[SCRATCH.mapMargin]!];
  return new MemlockError(
    `refused: the process has ${mappings} mappings and vm.max_map_count is ${cap}; memlock keeps the last ${margin} ` +
      'free, because V8 aborts the process when it cannot map memory to grow its heap. Each separately locked range ' +
      'can split a mapping in three: lock fewer, larger or contiguous ranges (allocSecret pools small secrets into ' +
      'shared mappings), release locks you no longer need, or raise vm.max_map_count (sysctl -w vm.max_map_count=...).',
    { code: 'ERR_MEMLOCK_MAPPINGS' },
  );
}

// The native backends return -errno in the C library's numbering. On POSIX
// systems that is libuv's too; on Windows libuv numbers its codes apart
// (ENOMEM is -4057), so the name comes from the C runtime's table.
const WINDOWS_ERRNO_NAMES = process.platform === 'win32'
  ? new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]))
  : undefined;

/** The errno name (ENOMEM) of a native -errno result. */
export function errnoName(errno: number): string {
  return WINDOWS_ERRNO_NAMES?.get(-errno) ?? getSystemErrorName(errno);
}

export function systemError(errno: number, syscall: string, bytes: number): MemlockError {
  const code = errnoName(errno);
  return new MemlockError(`${syscall} failed with ${code}: ${advice(syscall, code, bytes)}`, { code, errno, syscall });
}
