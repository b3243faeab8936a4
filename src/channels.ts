// diagnostics_channel names memlock publishes on. Each message is built only
// when the channel has subscribers, so publishing costs nothing otherwise.
import diagnosticsChannel from 'node:diagnostics_channel';

/** `memlock:lock`: a lock was taken. */
export interface LockMessage {
  lock: unknown; // the PageLock
  view: unknown;
  pages: number;
  bytes: number;
  onFault: boolean;
  label: string | undefined;
}

/** `memlock:release`: a lock was released (by release, dispose or unlock). */
export interface ReleaseMessage {
  lock: unknown;
  pages: number;
  bytes: number;
  label: string | undefined;
}

/** `memlock:sticky`: a lock made some pages' counts saturate. */
export interface StickyMessage {
  /** How many pages turned sticky with this lock. */
  pages: number;
  /** The view whose lock did it. */
  view: unknown;
}

/**
 * `memlock:limit`: a call that takes locks (lock, allocSecret, allocPinned,
 * lockCode) refused by the lockable-page limit (src/native-failure.ts
 * publishes it).
 */
export interface LimitMessage {
  /** The view to lock; undefined for memory memlock maps itself and for code. */
  view: unknown;
  /**
   * Pages the call would have locked (for a secret or pinned buffer: the new
   * mapping; for lockCode: every page of the mappings), and how many of them
   * were not locked yet (lockCode and new mappings: all of them).
   */
  pages: number;
  newPages: number;
  lockedPages: number;
  limitPages: number;
  label: string | undefined;
}

/** `memlock:error`: a call failed in the kernel (the error carries errno and syscall). */
export interface ErrorMessage {
  error: Error;
  operation:
    | 'lock'
    | 'release'
    | 'unlock'
    | 'allocSecret'
    | 'allocPinned'
    | 'lockCode'
    | 'lockAll'
    | 'unlockAll'
    | 'residency'
    | 'verify'
    | 'monitorPaging';
  view: unknown;
}

/**
 * `memlock:secret-backend`: allocSecret with backend 'auto' used the mlock
 * backend because the kernel refused secretmem; published the first time
 * for each reason (errno and call).
 */
export interface SecretBackendMessage {
  backend: 'mlock';
  requested: 'auto';
  fallback: { code: string; errno: number; syscall: string; reason: string };
}

export const lockChannel = diagnosticsChannel.channel('memlock:lock');
export const releaseChannel = diagnosticsChannel.channel('memlock:release');
export const stickyChannel = diagnosticsChannel.channel('memlock:sticky');
export const limitChannel = diagnosticsChannel.channel('memlock:limit');
export const errorChannel = diagnosticsChannel.channel('memlock:error');
export const secretBackendChannel = diagnosticsChannel.channel('memlock:secret-backend');

let warnedSticky = false;

export function reportSticky(message: StickyMessage): void {
  if (stickyChannel.hasSubscribers) stickyChannel.publish(message);
  if (warnedSticky) return;
  warnedSticky = true;
  process.emitWarning(
    `${message.pages} page(s) reached the maximum lock count (65535) and stay locked for the life of the process; ` +
      'this usually means locks are taken and never released',
    { type: 'MemlockWarning', code: 'MEMLOCK_STICKY' },
  );
}

/** Publishes a failure on memlock:error and returns it, for `throw reportError(...)`. */
export function reportError<E extends Error>(error: E, operation: ErrorMessage['operation'], view: unknown): E {
  if (errorChannel.hasSubscribers) errorChannel.publish({ error, operation, view } satisfies ErrorMessage);
  return error;
}
