// Secret memory: allocSecret() and the SecretBuffer handle.
import { binding, SCRATCH } from '../binding';
import { checkInternal, INTERNAL, invalidArgType, oneOf, outOfRange } from '../errors';
import { platformName } from '../capabilities';
import { OwnedMemory } from './owned';
import { MemlockError } from '../errors';
import { nativeFailure, refusalReason } from '../native-failure';
import {
  fallbackFrom,
  reportFallback,
  secretmemInV8Sandbox,
  secretmemUnavailable,
  type SecretBackend,
  type SecretBackendFallback,
} from './secret-backend';
import { reportV8Sandbox, secretLosses, type V8SandboxLoss } from './v8-sandbox';

/** The largest secret allocSecret() makes: 1 GiB. */
export const MAX_SECRET_SIZE = 2 ** 30;

export interface SecretOptions {
  /**
   * 'pooled' (default): small secrets share locked slabs; no guard pages.
   * 'guarded': a mapping of its own between two inaccessible guard pages,
   * the secret flush against the trailing one, so an overrun faults at once.
   */
  placement?: 'pooled' | 'guarded';
  /**
   * 'required' (default): fail if the memory cannot be locked.
   * 'best-effort': use unlocked memory then (still kept out of core dumps,
   * wiped in forked children and zeroed on free), report `locked: false`
   * and emit one process warning.
   */
  lock?: 'required' | 'best-effort';
  /**
   * What a forked child sees: 'wipe' (default, MADV_WIPEONFORK) zeroes,
   * 'drop' (MADV_DONTFORK) has no memory there at all (touching it faults).
   */
  onFork?: 'wipe' | 'drop';
  /**
   * Where the pages come from. 'auto' (default): memfd_secret memory
   * ('secretmem', Linux 5.14+) where the kernel gives it, else 'mlock',
   * saying why once on the memlock:secret-backend channel and on
   * `secret.backendFallback`. 'secretmem': that or ERR_MEMLOCK_SECRETMEM_UNAVAILABLE.
   * 'mlock': anonymous memory, mlocked, MADV_DONTDUMP and the onFork advice.
   * A secretmem secret is always dropped from a forked child (onFork 'drop'):
   * the kernel cannot wipe a shared mapping on fork.
   */
  backend?: 'auto' | 'secretmem' | 'mlock';
}

/** secret.protect()'s modes, named as sodium_mprotect_* names them. */
export type SecretProtection = 'noaccess' | 'readonly' | 'readwrite';

/** Memory statistics of the secret pool, process-wide. */
export interface SecretStats {
  /** Secrets allocated and not yet freed (or collected), on every backend. */
  live: number;
  /** Shared slabs mapped for pooled secrets. */
  slabs: number;
  /** Secrets with a mapping of their own (guarded, or larger than 2 KiB). */
  dedicated: number;
  /** Bytes the pool has mapped, guard pages included. */
  mappedBytes: number;
  /** Of those, bytes that could not be locked (best effort). */
  unlockedBytes: number;
  /** Secrets on memfd_secret memory (backend 'secretmem'); the rest are 'mlock'. */
  secretmemLive: number;
  /** Bytes mapped from memfd_secret, guard pages included (part of mappedBytes). */
  secretmemBytes: number;
  /**
   * Secrets in V8's own memory (backend 'v8-heap': V8's sandbox refused
   * external buffers), part of live; the rest of live is 'mlock'.
   */
  v8HeapLive: number;
  /** Their whole pages, locked in place in V8's memory (not part of mappedBytes: memlock did not map them). */
  v8HeapBytes: number;
}

let trimScheduled = false;
let warnedUnlocked = false;

// An emptied slab is unmapped at the end of this event-loop turn, not at
// once, so freeing and allocating one secret in a loop does not map and
// unmap a slab every time.
function scheduleTrim(): void {
  if (trimScheduled) return;
  trimScheduled = true;
  setImmediate(() => {
    trimScheduled = false;
    binding.trimSecrets();
  }).unref();
}

/** Secret bytes in memory memlock mapped itself. Free it when done. */
export class SecretBuffer extends OwnedMemory {
  readonly size: number;
  readonly placement: 'pooled' | 'guarded';
  /**
   * What a forked child really gets: as asked on Linux; 'drop' for 'wipe'
   * where only that exists (macOS), 'copied' where neither does, 'no-fork'
   * where processes cannot fork (Windows). See capabilities().secrets.
   */
  readonly onFork: 'wipe' | 'drop' | 'copied' | 'no-fork';
  /** Kept out of core dumps (MADV_DONTDUMP): false where the kernel cannot (macOS, Windows). */
  readonly noCoreDump: boolean;
  /** Whether the memory is locked (always, unless allocated best-effort). */
  readonly locked: boolean;
  /** Where its pages come from: memfd_secret memory or mlocked anonymous memory. */
  readonly backend: SecretBackend;
  /** Why it is not on secretmem (the kernel's refusal), when 'auto' fell back; else undefined. */
  readonly backendFallback: SecretBackendFallback | undefined;
  /**
   * Backend 'v8-heap' (V8's sandbox refused external buffers): what it lacks
   * of what it asked for ('secretmem', 'guard-pages', 'drop-on-fork');
   * empty on the other backends.
   */
  readonly sandboxLosses: readonly V8SandboxLoss[];
  #protection: SecretProtection = 'readwrite';
  // Where the memory is and which secret it holds, for free() after the
  // memory moved out of its Buffer.
  readonly #address: number;
  readonly #serial: number;

  /** @internal Made by allocSecret(); `new SecretBuffer()` throws ERR_ILLEGAL_CONSTRUCTOR. */
  constructor(
    token: typeof INTERNAL,
    buffer: Buffer,
    placement: 'pooled' | 'guarded',
    onFork: 'wipe' | 'drop',
    locked: boolean,
    serial: number,
    backend: SecretBackend,
    backendFallback: SecretBackendFallback | undefined,
    sandboxLosses: readonly V8SandboxLoss[] = [],
  ) {
    checkInternal(token, 'SecretBuffer', 'allocSecret()');
    super(buffer);
    this.#address = binding.addressOf(buffer);
    this.#serial = serial;
    this.size = buffer.length;
    this.placement = placement;
    // In V8's heap a child cannot be left without the pages (its heap would
    // have holes): it gets zeros where the kernel can wipe, else a copy.
    this.onFork =
      backend === 'secretmem' ? 'drop' : backend === 'v8-heap' ? heapForkProtection() : forkProtection(onFork);
    this.noCoreDump = backend === 'secretmem' || binding.platform.dontDump;
    this.locked = locked;
    this.backend = backend;
    this.backendFallback = backendFallback;
    this.sandboxLosses = sandboxLosses;
  }

  /** What the pages allow now (protect()). */
  get protection(): SecretProtection {
    return this.#protection;
  }

  /**
   * Changes what the secret's pages allow (mprotect), as sodium's
   * sodium_mprotect_noaccess / _readonly / _readwrite do: 'noaccess' while
   * it is idle, so that any read faults (the process gets SIGSEGV), then
   * 'readwrite' (or 'readonly') to use it again. Only a secret with pages
   * of its own can be protected (placement 'guarded', or larger than 2 KiB):
   * a pooled secret shares its pages with others and throws
   * ERR_MEMLOCK_SECRET_POOLED. free() makes the pages writable again to
   * zero them; protect() after free() does nothing.
   */
  protect(mode: SecretProtection): void {
    if (mode === undefined) throw invalidArgType('mode', 'of type string', mode);
    const access = oneOf('mode', mode, ['noaccess', 'readonly', 'readwrite'], 'readwrite');
    if (this.freed) return; // its pages are gone: nothing to protect
    const bits = binding.numbers.secret;
    const value =
      access === 'noaccess' ? bits.accessNone : access === 'readonly' ? bits.accessRead : bits.accessReadWrite;
    const rc = binding.protectSecret(this.buffer, value);
    if (rc === bits.protectShared) {
      throw new MemlockError(
        `protect('${access}') of a pooled secret: its pages hold other secrets too. ` +
          "Allocate it with { placement: 'guarded' } (or larger than 2 KiB) to protect it",
        { code: 'ERR_MEMLOCK_SECRET_POOLED' },
      );
    }
    if (rc !== 0) throw nativeFailure({ operation: 'allocSecret', result: rc, syscall: 'mprotect', bytes: this.size });
    this.#protection = access;
  }

  /**
   * The secret's bytes. Copying them out (toString, Buffer.from, ...) makes
   * copies memlock cannot protect. After free() this Buffer is detached
   * (zero length).
   */
  override get buffer(): Buffer {
    return super.buffer;
  }

  /**
   * Zeroes the memory and frees it; the Buffer is detached. Freeing twice is
   * harmless. If the memory was moved out of this Buffer behind memlock's
   * back (a byte stream's read, a transfer function captured before memlock
   * loaded, another addon detaching it), the secret is zeroed where it is,
   * so the buffer that has it now reads zeros, and the memory is freed when
   * that buffer is collected (or was already, if it was detached).
   */
  override free(): void {
    super.free();
  }

  protected freeMapped(buffer: Buffer): void {
    if (binding.freeSecret(buffer) === 2) scheduleTrim();
  }

  protected freeMoved(): void {
    binding.wipeMovedSecret(this.#address, this.#serial);
  }
}

// What native/core/secret_pool.cc does with an onFork it cannot honour.
function forkProtection(asked: 'wipe' | 'drop'): SecretBuffer['onFork'] {
  const can = binding.platform;
  if (!can.fork) return 'no-fork';
  if (asked === 'wipe' && can.wipeOnFork) return 'wipe';
  return can.dropOnFork ? 'drop' : 'copied';
}

// What a forked child gets of a secret in V8's heap (MADV_WIPEONFORK or nothing).
function heapForkProtection(): SecretBuffer['onFork'] {
  const can = binding.platform;
  if (!can.fork) return 'no-fork';
  return can.wipeOnFork ? 'wipe' : 'copied';
}

let warnedDegraded = false;

// Where the platform lacks a protection, secrets still work without it,
// saying so once (as 'best-effort' does for locking), never silently.
function warnDegraded(onFork: 'wipe' | 'drop'): void {
  if (warnedDegraded) return;
  const missing: string[] = [];
  if (!binding.platform.dontDump)
    missing.push('not kept out of core dumps (this kernel cannot exclude memory from them)');
  const fork = forkProtection(onFork);
  if (fork === 'copied') missing.push('copied into a forked child');
  else if (fork !== onFork && fork !== 'no-fork')
    missing.push(`absent from a forked child ('${fork}') rather than zeroed there`);
  if (missing.length === 0) return;
  warnedDegraded = true;
  process.emitWarning(
    `secret memory on ${platformName()} is locked and zeroed on free, but ${missing.join(', and ')}`,
    {
      type: 'MemlockWarning',
      code: 'MEMLOCK_SECRET_DEGRADED',
    },
  );
}

function warnUnlocked(lockError: number, bytes: number): void {
  if (warnedUnlocked) return;
  warnedUnlocked = true;
  const why = refusalReason(lockError, 'mlock', bytes);
  process.emitWarning(`secret memory is not locked and may be swapped out (lock: 'best-effort'): ${why}`, {
    type: 'MemlockWarning',
    code: 'MEMLOCK_SECRET_UNLOCKED',
  });
}

/**
 * Allocates `size` bytes of secret memory: locked, excluded from core dumps
 * (MADV_DONTDUMP), zeroed in forked children (MADV_WIPEONFORK) or absent
 * there (MADV_DONTFORK), and zeroed when freed or garbage-collected.
 */
export function allocSecret(size: number, options?: SecretOptions): SecretBuffer {
  if (typeof size !== 'number') throw invalidArgType('size', 'of type number', size);
  if (!Number.isInteger(size) || size < 1 || size > MAX_SECRET_SIZE) {
    throw outOfRange('size', `an integer >= 1 and <= ${MAX_SECRET_SIZE}`, size);
  }
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw invalidArgType('options', 'of type object', options);
  }
  const placement = oneOf('options.placement', options?.placement, ['pooled', 'guarded'], 'pooled');
  const locking = oneOf('options.lock', options?.lock, ['required', 'best-effort'], 'required');
  const onFork = oneOf('options.onFork', options?.onFork, ['wipe', 'drop'], 'wipe');
  const backendChoice = oneOf('options.backend', options?.backend, ['auto', 'secretmem', 'mlock'], 'auto');
  const bits = binding.numbers.secret;
  const flags =
    (placement === 'guarded' ? bits.guarded : 0) |
    (locking === 'required' ? bits.requireLock : 0) |
    (onFork === 'drop' ? bits.dropOnFork : 0) |
    (backendChoice === 'secretmem' ? bits.backendSecretMem : backendChoice === 'mlock' ? bits.backendMlock : 0);

  const result = binding.allocSecret(size, flags);
  const scratch = binding.scratch;
  const fallbackError = scratch[SCRATCH.fallbackError]!;
  const fallback = fallbackError < 0 ? fallbackFrom(fallbackError, scratch[SCRATCH.fallbackSyscall]!) : undefined;
  if (result === bits.secretMemUnavailable && fallback) throw secretmemUnavailable(fallback);
  const inV8Heap = scratch[SCRATCH.backend] === bits.onV8Heap;
  if (result === bits.secretMemUnavailable && inV8Heap) throw secretmemInV8Sandbox();
  if (fallback) reportFallback(fallback);
  if (typeof result !== 'number') {
    const buffer = result;
    const locked = scratch[SCRATCH.locked] === 1;
    const backend: SecretBackend = inV8Heap
      ? 'v8-heap'
      : scratch[SCRATCH.backend] === bits.onSecretMem
        ? 'secretmem'
        : 'mlock';
    if (!locked) warnUnlocked(scratch[SCRATCH.lockError]!, size);
    if (backend === 'mlock') warnDegraded(onFork);
    const serial = scratch[SCRATCH.serial]!;
    if (!inV8Heap) return new SecretBuffer(INTERNAL, buffer, placement, onFork, locked, serial, backend, fallback);
    reportV8Sandbox();
    const lost = secretLosses(placement, onFork, backendChoice === 'mlock' ? 'mlock' : 'auto');
    return new SecretBuffer(INTERNAL, buffer, placement, onFork, locked, serial, backend, undefined, lost);
  }
  // A limit refusal names the pages of the mapping the pool could not lock,
  // all of them new, and the label locks() shows for such memory.
  const pages = scratch[SCRATCH.lockPages]!;
  throw nativeFailure({
    operation: 'allocSecret',
    result,
    syscall: 'mmap',
    bytes: size,
    limit: {
      pages,
      newPages: pages,
      what: ' of secret memory',
      label: placement === 'guarded' ? 'memlock: guarded secret' : 'memlock: secret memory',
      remedy: "free secrets, raise it with setLockablePageLimit(), or allocate with { lock: 'best-effort' }",
    },
  });
}

/** The secret pool's own figures (its locks also show in stats() and lockCounts()). */
export function secretStats(): SecretStats {
  const { live, slabs, dedicated, mappedBytes, unlockedBytes, secretmemLive, secretmemBytes, v8HeapLive, v8HeapBytes } =
    binding.secretStats();
  return {
    live: live + v8HeapLive,
    slabs,
    dedicated,
    mappedBytes,
    unlockedBytes,
    secretmemLive,
    secretmemBytes,
    v8HeapLive,
    v8HeapBytes,
  };
}
