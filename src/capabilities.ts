// What memlock can really do on this platform (native/platform/platform.h's
// Features, from the backend that was built), and the error every call the
// platform cannot honour throws: ERR_MEMLOCK_UNSUPPORTED, naming the
// platform and the alternative, before anything changes.
import { binding } from './binding';
import { MemlockError } from './errors';
import { secretBackendNow, type SecretBackend, type SecretBackendFallback } from './memory/secret-backend';
import { V8_SANDBOX_LOSSES, v8SandboxActive, type V8SandboxLoss } from './memory/v8-sandbox';

/** Per feature: whether it is real here. */
export interface Capabilities {
  /** process.platform, and the native backend built for it ('linux', 'posix' or 'win32'). */
  platform: NodeJS.Platform;
  backend: string;
  /** Counted locks (lock, unlock, lockCounts, stats, the limit): memlock's own table, everywhere. */
  countedLocks: true;
  /** lock(view, { onFault: true }) and allocPinned's onFault: mlock2(MLOCK_ONFAULT). */
  onFault: boolean;
  /** lockAll() / unlockAll(). */
  lockAll: boolean;
  secrets: {
    /** Secret memory is locked (unless lock: 'best-effort' had to give up). */
    locked: true;
    /** Kept out of core dumps (MADV_DONTDUMP). */
    noCoreDump: boolean;
    /**
     * What a forked child gets of the mlock backend's memory: zeros, no
     * mapping, a copy, or 'no-fork' where processes cannot fork. Secretmem
     * memory is never in a child ('drop'): see secret.onFork.
     */
    onFork: 'wipe' | 'drop' | 'copied' | 'no-fork';
    /** placement: 'guarded' (inaccessible pages around the secret). */
    guardPages: boolean;
    /** Zeroed before the memory is freed. */
    zeroedOnFree: true;
    /**
     * What backend 'auto' gives a secret (probed at the first call of
     * capabilities(): one page of memfd_secret memory mapped and unmapped).
     */
    backend: SecretBackend;
    /** Why not 'secretmem', when it is not. */
    backendFallback: SecretBackendFallback | undefined;
  };
  /** residency(): mincore. */
  residency: boolean;
  /** verify(), kernelStatus(), stats().vmLckBytes, lockCode(): the kernel's own account (/proc). */
  kernelAccount: boolean;
  /** allocPinned's hugePages: hugetlb pools and transparent huge pages. */
  hugePages: boolean;
  /** pressure() and monitorPaging(): PSI and per-thread faults. */
  pagingMonitor: boolean;
  /**
   * V8's sandbox (Electron 21+) refused external buffers: secrets (backend
   * 'v8-heap') and pinned buffers are whole pages of Buffers V8 allocates,
   * locked and advised in place, without what `lost` names. Decided by the
   * first refusal, at load where the sandbox is on.
   */
  v8Sandbox: { active: boolean; lost: readonly V8SandboxLoss[] };
}

const native = binding.platform;

let cached: Capabilities | undefined;

/** What memlock can do on this platform; see docs/platforms.md. */
export function capabilities(): Capabilities {
  const sandboxed = v8SandboxActive();
  if (cached && cached.v8Sandbox.active === sandboxed) return cached;
  const secretBackend = secretBackendNow();
  cached = Object.freeze({
    platform: process.platform,
    backend: native.backend,
    countedLocks: true,
    onFault: native.onFault,
    lockAll: native.lockAll,
    secrets: Object.freeze({
      locked: true,
      noCoreDump: native.dontDump,
      onFork: !native.fork
        ? 'no-fork'
        : native.wipeOnFork
          ? 'wipe'
          : native.dropOnFork && !sandboxed
            ? 'drop'
            : 'copied',
      guardPages: native.guardPages && !sandboxed,
      zeroedOnFree: true,
      backend: secretBackend.backend,
      backendFallback: secretBackend.fallback && Object.freeze(secretBackend.fallback),
    }),
    residency: native.residency,
    kernelAccount: native.kernelAccount,
    hugePages: native.hugePages && !sandboxed,
    // The monitor's Linux sources are only in the Linux backend.
    pagingMonitor: native.kernelAccount,
    v8Sandbox: Object.freeze({ active: sandboxed, lost: sandboxed ? V8_SANDBOX_LOSSES : Object.freeze([]) }),
  } as const);
  return cached;
}

const PLATFORM_NAMES: Partial<Record<NodeJS.Platform, string>> = { darwin: 'macOS', win32: 'Windows', linux: 'Linux' };

/** The platform as people name it, with the backend where that says more. */
export function platformName(): string {
  const name = PLATFORM_NAMES[process.platform] ?? process.platform;
  return process.platform === 'linux' && native.backend !== 'linux' ? `${name} (the ${native.backend} backend)` : name;
}

/** ERR_MEMLOCK_UNSUPPORTED: `what` cannot be done here; `instead` says what can. */
export function unsupported(what: string, instead: string): MemlockError {
  return new MemlockError(`${what} is not supported on ${platformName()}: ${instead}`, {
    code: 'ERR_MEMLOCK_UNSUPPORTED',
  });
}
