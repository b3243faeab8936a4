// diagnostics_channel names memlock publishes on. Each message is built only
// when the channel has subscribers, so publishing costs nothing otherwise.
import diagnosticsChannel from 'node:diagnostics_channel';
import { binding } from './binding';
import type { PageLock } from './locks/page-lock';
import type { LockGroup } from './locks/lock-group';
import type { View } from './locks/views';
import type { CgroupMemoryEvent, PressureEvent, StallReport } from './paging/paging-monitor';

/** `memlock:lock`: a lock was taken. */
export interface LockMessage {
  /** The handle: a PageLock, or the LockGroup the view's lock belongs to (lockMany). */
  lock: PageLock | LockGroup;
  view: View;
  pages: number;
  bytes: number;
  onFault: boolean;
  label: string | undefined;
}

/** `memlock:release`: a lock was released (by release, dispose or unlock). */
export interface ReleaseMessage {
  /** The handle: a PageLock, or the LockGroup the view's lock belonged to (one message a view). */
  lock: PageLock | LockGroup;
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
    | 'lockMany'
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

/**
 * What memory in V8's heap lacks that memlock's own mappings have:
 * 'secretmem' (memfd_secret memory cannot back a V8 Buffer), 'guard-pages',
 * 'drop-on-fork' (MADV_DONTFORK would leave holes in a child's heap: a
 * secret is wiped there instead, a pinned buffer copied), 'huge-pages'.
 */
export type V8SandboxLoss = 'secretmem' | 'guard-pages' | 'drop-on-fork' | 'huge-pages';

/**
 * `memlock:v8-sandbox`: V8 refused external buffers
 * (napi_no_external_buffers_allowed: its sandbox, Electron 21+), so secrets
 * and pinned buffers are made in V8's memory from then on; published once.
 */
export interface V8SandboxMessage {
  status: 'napi_no_external_buffers_allowed';
  backend: 'v8-heap';
  lost: readonly V8SandboxLoss[];
}

/**
 * Every diagnostics channel memlock publishes on, and the message it
 * publishes there. A new channel is one more entry here.
 */
export interface MemlockChannels {
  'memlock:lock': LockMessage;
  'memlock:release': ReleaseMessage;
  'memlock:sticky': StickyMessage;
  'memlock:limit': LimitMessage;
  'memlock:error': ErrorMessage;
  /** A PSI trigger of a paging monitor fired (its 'pressure' event). */
  'memlock:pressure': PressureEvent;
  /** A paging monitor attributed an event-loop stall (its 'stall' event). */
  'memlock:stall': StallReport;
  /** allocSecret with backend 'auto' fell back to the mlock backend (once per reason). */
  'memlock:secret-backend': SecretBackendMessage;
  /** A paging monitor saw its memory cgroup's events change (its 'cgroup-memory' event). */
  'memlock:cgroup-memory': CgroupMemoryEvent;
  /** V8's sandbox refused external buffers: secrets and pinned buffers are in V8's memory (once). */
  'memlock:v8-sandbox': V8SandboxMessage;
}

/** The name of a channel memlock publishes on. */
export type MemlockChannelName = keyof MemlockChannels;

/** A diagnostics channel that publishes only its own message type. */
export interface TypedChannel<Message> {
  readonly name: string | symbol;
  readonly hasSubscribers: boolean;
  publish(message: Message): void;
}

/** @internal The channel `name`, typed by its message: for memlock's own publishers. */
export function typedChannel<Name extends MemlockChannelName>(name: Name): TypedChannel<MemlockChannels[Name]> {
  return diagnosticsChannel.channel(name);
}

/**
 * Subscribes `onMessage` to one of memlock's diagnostics channels, with the
 * message typed by the channel (`node:diagnostics_channel`'s own `subscribe`
 * gives `unknown`). Returns the function that unsubscribes it.
 */
export function subscribeChannel<Name extends MemlockChannelName>(
  name: Name,
  onMessage: (message: MemlockChannels[Name], name: Name) => void,
): () => void {
  const listener = onMessage as (message: unknown, name: string | symbol) => void;
  diagnosticsChannel.subscribe(name, listener);
  return () => {
    diagnosticsChannel.unsubscribe(name, listener);
  };
}

export const lockChannel = typedChannel('memlock:lock');
export const releaseChannel = typedChannel('memlock:release');
export const stickyChannel = typedChannel('memlock:sticky');
export const limitChannel = typedChannel('memlock:limit');
export const errorChannel = typedChannel('memlock:error');
export const secretBackendChannel = typedChannel('memlock:secret-backend');
export const v8SandboxChannel = typedChannel('memlock:v8-sandbox');

/**
 * `memlock:release` for one view's lock of a LockGroup (by group.release()
 * or unlock(view)): the message names the group, with this view's pages.
 */
export function publishMemberRelease(group: LockGroup, view: ArrayBufferView): void {
  if (!releaseChannel.hasSubscribers) return;
  const pages = binding.counts(view).length;
  releaseChannel.publish({ lock: group, pages, bytes: pages * binding.pageSize, label: group.label });
}

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
