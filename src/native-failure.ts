// The one way to fail: nativeFailure() turns what a native call returned
// (-errno, LIMIT_EXCEEDED or MAP_COUNT_EXCEEDED) into a MemlockError that
// names the errno, the syscall and what to do about it, and publishes every
// refusal: a lockable-page limit refusal on memlock:limit, anything else on
// memlock:error (which memlock/prometheus counts).
import { readKernelFile } from './kernel-file';
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import { binding, LIMIT_EXCEEDED, MAP_COUNT_EXCEEDED, SCRATCH, SYSCALL_NAMES } from './binding';
import { limitChannel, reportError, type ErrorMessage, type LimitMessage } from './channels';
import { formatBytes, MemlockError, systemCode, type SystemErrorCode } from './errors';
import { maxMapCount, procStatus } from './proc';

// How to let a process lock more memory, one fix per environment. Shared by
// error messages and `memlock doctor`, so the two never drift apart.
//
// The kernel's rule (mm/mlock.c): a lock past RLIMIT_MEMLOCK is allowed when
// capable(CAP_IPC_LOCK), i.e. the capability is in the effective set and
// counts in the initial user namespace, whatever the uid (checked here:
// uid 65534 with an ambient CAP_IPC_LOCK locks 64 MiB over an 8 MiB limit;
// root without it is refused; root of a user namespace, with every
// capability there, is refused). What differs for a non-root user is keeping
// the capability: execve() clears it unless it is ambient or the binary has
// it as a file capability, so a container runtime's "add IPC_LOCK"
// (docker --cap-add, Kubernetes capabilities.add), which sets no ambient
// capability, reaches only root's processes.
export const MEMLOCK_REMEDIES: readonly string[] = [
  'shell: ulimit -l unlimited (or a size in KiB) before starting node',
  "systemd: LimitMEMLOCK=infinity in the unit's [Service] section",
  'docker: docker run --ulimit memlock=-1:-1 (or --cap-add IPC_LOCK)',
  "Kubernetes: securityContext.capabilities.add: [IPC_LOCK] in the container's spec",
  'a binary: setcap cap_ipc_lock+ep on it grants CAP_IPC_LOCK',
];

/** The remedies above as they hold for a non-root user (the capability does not survive exec without help). */
export const NON_ROOT_MEMLOCK_REMEDIES: readonly string[] = [
  'shell: ulimit -l raises the soft limit only up to the hard one for a non-root user: raise the hard limit where the service is started',
  "systemd: LimitMEMLOCK=infinity in the unit's [Service] section, or AmbientCapabilities=CAP_IPC_LOCK with User=",
  'docker: docker run --ulimit memlock=-1:-1 (--cap-add IPC_LOCK does not reach a non-root user: it is dropped at exec, as docker sets no ambient capability)',
  "Kubernetes: capabilities.add: [IPC_LOCK] is dropped at exec for a non-root runAsUser; raise RLIMIT_MEMLOCK in the container runtime's service (containerd/CRI-O LimitMEMLOCK=, which containers inherit), or run as root with IPC_LOCK added",
  'a binary: setcap cap_ipc_lock+ep "$(command -v node)" in the image (needs allowPrivilegeEscalation: true / no no_new_privs)',
];

/** In a user namespace other than the first, no capability lifts the limit. */
export const USER_NAMESPACE_MEMLOCK_REMEDIES: readonly string[] = [
  'this process runs in a user namespace (rootless container, Kubernetes hostUsers: false): CAP_IPC_LOCK counts only in the initial one, so RLIMIT_MEMLOCK always binds',
  'raise RLIMIT_MEMLOCK from outside: docker/podman --ulimit memlock=-1:-1 (rootless: within the hard limit of the user running it, /etc/security/limits.conf memlock), systemd LimitMEMLOCK=',
];

/** Whether this process is in a user namespace other than the initial one (its uid_map is not the identity). */
export function inUserNamespace(): boolean {
  try {
    const map = readKernelFile('/proc/self/uid_map').trim().split(/\s+/);
    return !(map.length === 3 && map[0] === '0' && map[1] === '0' && map[2] === '4294967295');
  } catch {
    return false;
  }
}

/** The remedies that are true for this process: root, a non-root user, or a user namespace. */
export function memlockRemedies(): readonly string[] {
  if (inUserNamespace()) return USER_NAMESPACE_MEMLOCK_REMEDIES;
  return process.getuid?.() === 0 ? MEMLOCK_REMEDIES : NON_ROOT_MEMLOCK_REMEDIES;
}

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

/**
 * Whether CAP_IPC_LOCK lifts RLIMIT_MEMLOCK for this process: in its
 * effective set, and not in a user namespace (where the kernel does not count it).
 */
export function hasIpcLockCapability(): boolean | undefined {
  try {
    return procStatus('self').hasIpcLock && !inUserNamespace();
  } catch {
    return undefined; // no /proc: say nothing rather than guess
  }
}

const remedies = (): string =>
  `${inUserNamespace() ? 'Raise the limit' : 'Raise the limit (or grant CAP_IPC_LOCK)'}: ${memlockRemedies().join('; ')}.`;

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
    return (
      `could not lock ${formatBytes(bytes)}: ${limits} and ${capability}, so everything the process ` +
      `locks must fit in ${formatBytes(rlimit.soft)}. ${remedies()}`
    );
  }
  if (name === 'ENOMEM' && atMappingCap()) {
    return (
      `could not lock ${formatBytes(bytes)}: the process is at vm.max_map_count (${maxMapCount()}) mappings, ` +
      'not out of memory. Each separately locked range splits a mapping: lock fewer, larger ranges ' +
      '(or use allocSecret, whose pool shares them), or raise vm.max_map_count (sysctl -w vm.max_map_count=...).'
    );
  }
  if (name === 'ENOMEM') {
    return (
      `could not lock ${formatBytes(bytes)} (${limits}; ${capability}): the kernel is out of memory it ` +
      'may lock, or the process has reached vm.max_map_count mappings (each separately locked range can split one).'
    );
  }
  if (name === 'EAGAIN') return `some of the ${formatBytes(bytes)} could not be locked; try again`;
  return `${limits}; ${capability}`;
}

// Not an RLIMIT_MEMLOCK problem, whatever the limit: the syscall is missing.
function notImplemented(syscall: string): string {
  const instead = syscall === 'mlock2' ? ': onFault locking is unavailable, lock without it' : '';
  return (
    `${syscall} is not implemented here (an old kernel, a seccomp filter, or an emulator such as ` +
    `qemu-user 7.2, which has no mlock2)${instead}`
  );
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
    case 'open':
      return "could not read the kernel's account of this process (/proc/self)";
    case 'pthread_create':
      return 'out of threads, file descriptors or memory: nothing was started';
    default:
      return `on ${formatBytes(bytes)}`;
  }
}

/**
 * A lock or secret refused because too few mappings would be left below
 * vm.max_map_count. The figures come from the scratch slots the refused
 * call filled: building this error reads nothing from /proc.
 */
function mappingsError(): MemlockError {
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
const WINDOWS_ERRNO_NAMES =
  process.platform === 'win32'
    ? new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]))
    : undefined;

/** The errno name (ENOMEM) of a native -errno result. */
export function errnoName(errno: number): SystemErrorCode {
  return systemCode(WINDOWS_ERRNO_NAMES?.get(-errno) ?? getSystemErrorName(errno));
}

function systemError(errno: number, syscall: string, bytes: number): MemlockError {
  const code = errnoName(errno);
  return new MemlockError(`${syscall} failed with ${code}: ${advice(syscall, code, bytes)}`, { code, errno, syscall });
}

/** What a refused native call was doing, for nativeFailure(). */
export interface Refusal {
  /** The public call that was refused. */
  operation: ErrorMessage['operation'];
  /** The native result: -errno, LIMIT_EXCEEDED or MAP_COUNT_EXCEEDED. */
  result: number;
  /**
   * The syscall to name when native code did not say which failed (its
   * scratch slot says 'none'): what the call makes first.
   */
  syscall: string;
  /** Bytes it tried to lock or map, for the message. */
  bytes: number;
  /** The view it was given, for the channels. */
  view?: unknown;
  /**
   * For a lockable-page limit refusal: the pages it would have locked (and
   * of those, pages not locked yet), what they were for ('' for a view,
   * ' of secret memory', ...), the label, and what to do.
   */
  limit?: { pages: number; newPages: number; what: string; label: string | undefined; remedy: string };
  /** Appended to a kernel refusal's message. */
  detail?: string;
}

/** The error for a refused native call, published on memlock:limit or memlock:error. */
export function nativeFailure(refusal: Refusal): MemlockError {
  const { operation, result, view } = refusal;
  if (result === LIMIT_EXCEEDED) {
    const limit = refusal.limit ?? { pages: 0, newPages: 0, what: '', label: undefined, remedy: 'release some' };
    const { lockedPages, limitPages } = binding.stats();
    if (limitChannel.hasSubscribers) {
      limitChannel.publish({
        view,
        pages: limit.pages,
        newPages: limit.newPages,
        lockedPages,
        limitPages,
        label: limit.label,
      } satisfies LimitMessage);
    }
    return new MemlockError(
      `locking ${limit.pages} page(s)${limit.what} would exceed memlock's lockable-page limit: ${lockedPages} of ` +
        `${limitPages} pages are locked; ${limit.remedy}`,
      { code: 'ERR_MEMLOCK_LIMIT' },
    );
  }
  if (result === MAP_COUNT_EXCEEDED) return reportError(mappingsError(), operation, view);
  const named = SYSCALL_NAMES[binding.scratch[SCRATCH.failedSyscall]!];
  const syscall = named === undefined || named === 'none' ? refusal.syscall : named;
  const error = systemError(result, syscall, refusal.bytes);
  if (refusal.detail !== undefined) error.message += ` ${refusal.detail}`;
  return reportError(error, operation, view);
}

/** Why a native call was refused, in words: a warning's text (a best-effort secret). */
export function refusalReason(result: number, syscall: string, bytes: number): string {
  if (result === LIMIT_EXCEEDED) return "memlock's lockable-page limit is reached (setLockablePageLimit)";
  if (result === MAP_COUNT_EXCEEDED) return mappingsError().message;
  return systemError(result, syscall, bytes).message;
}
