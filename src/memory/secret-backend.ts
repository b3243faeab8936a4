// Which memory a secret's pages come from, and why not the strongest:
// memfd_secret(2) ('secretmem': out of the kernel's direct map, unreadable
// through /proc/<pid>/mem and ptrace even by root) or anonymous memory,
// mlocked and advised ('mlock'). 'auto' takes secretmem where the kernel
// gives it and says once, on memlock:secret-backend, why it did not.
import { binding, SCRATCH, SYSCALL_NAMES } from '../binding';
import { secretBackendChannel, type SecretBackendMessage } from '../channels';
import { formatBytes, MemlockError, type SystemErrorCode } from '../errors';
import { errnoName, hasIpcLockCapability, memlockRlimit } from '../native-failure';
import { v8SandboxActive } from './v8-sandbox';

/** 'v8-heap': V8's sandbox refused external buffers (Electron 21+): whole pages of a V8 Buffer, locked in place. */
export type SecretBackend = 'secretmem' | 'mlock' | 'v8-heap';

/** Why a secret is not on secretmem memory: the kernel's refusal. */
export interface SecretBackendFallback {
  /** The errno name (ENOSYS, EPERM, EAGAIN, ...). */
  code: SystemErrorCode;
  /** Negative errno, as in Node's SystemError. */
  errno: number;
  /** The call refused: memfd_secret, ftruncate or mmap. */
  syscall: string;
  /** What that means here, and what to do. */
  reason: string;
}

/** What the kernel's refusal means, by errno and call. */
function explain(name: string, syscall: string): string {
  if (name === 'ENOSYS' && process.platform !== 'linux') {
    return `memfd_secret is Linux-only (this is ${process.platform}): secrets are locked anonymous memory here`;
  }
  if (name === 'ENOSYS') {
    return (
      'this kernel has no memfd_secret (Linux before 5.14, CONFIG_SECRETMEM off, secretmem.enable=0 on the ' +
      'kernel command line, not Linux at all), or a seccomp filter answers ENOSYS for it'
    );
  }
  if (name === 'EPERM' || name === 'EACCES') {
    return (
      'memfd_secret is refused by a seccomp profile or a security module (container runtimes ' +
      'that predate it refuse it by default): allow syscall memfd_secret in the profile'
    );
  }
  if ((name === 'EAGAIN' || name === 'ENOMEM') && syscall === 'mmap') {
    const rlimit = memlockRlimit();
    const limit = rlimit ? `RLIMIT_MEMLOCK is ${formatBytes(rlimit.soft)}` : 'RLIMIT_MEMLOCK could not be read';
    const capable = hasIpcLockCapability() === true ? 'with' : 'without';
    return (
      `the kernel locks secretmem memory and refused more (${limit}, ${capable} CAP_IPC_LOCK, ` +
      'or the memory is short): raise ulimit -l / LimitMEMLOCK= or grant CAP_IPC_LOCK'
    );
  }
  if (name === 'EMFILE' || name === 'ENFILE') {
    return 'no file descriptor was free for memfd_secret (each secretmem mapping needs one while it is made)';
  }
  return `${syscall} failed with ${name}`;
}

export function fallbackFrom(errno: number, syscallId: number): SecretBackendFallback {
  const syscall = SYSCALL_NAMES[syscallId] ?? 'memfd_secret';
  const code = errnoName(errno);
  return { code, errno, syscall, reason: explain(code, syscall) };
}

// Reported once per distinct refusal (a shortage can come and go; the
// same one again says nothing new).
const reported = new Set<string>();

/** Publishes on memlock:secret-backend the first time 'auto' falls back for this reason. */
export function reportFallback(fallback: SecretBackendFallback): void {
  const key = `${fallback.code}:${fallback.syscall}`;
  if (reported.has(key)) return;
  reported.add(key);
  if (secretBackendChannel.hasSubscribers) {
    secretBackendChannel.publish({
      backend: 'mlock',
      requested: 'auto',
      fallback,
    } satisfies SecretBackendMessage);
  }
}

/** ERR_MEMLOCK_SECRETMEM_UNAVAILABLE under V8's sandbox: memfd_secret memory cannot back a V8 Buffer. */
export function secretmemInV8Sandbox(): MemlockError {
  return new MemlockError(
    "allocSecret({ backend: 'secretmem' }): V8's sandbox refuses memory from outside its cage " +
      "(napi_no_external_buffers_allowed), and memfd_secret memory cannot be V8's. " +
      "Use backend: 'auto' for locked memory in V8's heap",
    { code: 'ERR_MEMLOCK_SECRETMEM_UNAVAILABLE' },
  );
}

/** ERR_MEMLOCK_SECRETMEM_UNAVAILABLE: backend 'secretmem' asked for and refused, with the kernel's errno. */
export function secretmemUnavailable(fallback: SecretBackendFallback): MemlockError {
  return new MemlockError(
    `allocSecret({ backend: 'secretmem' }): ${fallback.syscall} failed with ${fallback.code}: ${fallback.reason}. ` +
      "Use backend: 'auto' to fall back to mlocked memory",
    { code: 'ERR_MEMLOCK_SECRETMEM_UNAVAILABLE', errno: fallback.errno, syscall: fallback.syscall },
  );
}

/**
 * What 'auto' would give a secret now: 'secretmem', or 'mlock' and why
 * (the refusal the pool met, or a one-page probe).
 */
export function secretBackendNow(): { backend: SecretBackend; fallback: SecretBackendFallback | undefined } {
  if (v8SandboxActive()) return { backend: 'v8-heap', fallback: undefined };
  const rc = binding.probeSecretMemory();
  if (rc === 0) return { backend: 'secretmem', fallback: undefined };
  return { backend: 'mlock', fallback: fallbackFrom(rc, binding.scratch[SCRATCH.fallbackSyscall]!) };
}
