// Secret memory: allocSecret() and the SecretBuffer handle.
import { binding, SCRATCH } from '../binding';
import { checkInternal, INTERNAL, invalidArgType, oneOf, outOfRange } from '../errors';
import { platformName } from '../capabilities';
import { OwnedMemory } from './owned';
import { nativeFailure, refusalReason } from '../native-failure';

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
}

/** Memory statistics of the secret pool, process-wide. */
export interface SecretStats {
  /** Secrets allocated and not yet freed (or collected). */
  live: number;
  /** Shared slabs mapped for pooled secrets. */
  slabs: number;
  /** Secrets with a mapping of their own (guarded, or larger than 2 KiB). */
  dedicated: number;
  /** Bytes the pool has mapped, guard pages included. */
  mappedBytes: number;
  /** Of those, bytes that could not be locked (best effort). */
  unlockedBytes: number;
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
  ) {
    checkInternal(token, 'SecretBuffer', 'allocSecret()');
    super(buffer);
    this.#address = binding.addressOf(buffer);
    this.#serial = serial;
    this.size = buffer.length;
    this.placement = placement;
    this.onFork = forkProtection(onFork);
    this.noCoreDump = binding.platform.dontDump;
    this.locked = locked;
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
  const bits = binding.numbers.secret;
  const flags =
    (placement === 'guarded' ? bits.guarded : 0) |
    (locking === 'required' ? bits.requireLock : 0) |
    (onFork === 'drop' ? bits.dropOnFork : 0);

  const result = binding.allocSecret(size, flags);
  const scratch = binding.scratch;
  if (typeof result !== 'number') {
    const buffer = result;
    const locked = scratch[SCRATCH.locked] === 1;
    if (!locked) warnUnlocked(scratch[SCRATCH.lockError]!, size);
    warnDegraded(onFork);
    return new SecretBuffer(INTERNAL, buffer, placement, onFork, locked, scratch[SCRATCH.serial]!);
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
  const { live, slabs, dedicated, mappedBytes, unlockedBytes } = binding.secretStats();
  return { live, slabs, dedicated, mappedBytes, unlockedBytes };
}
