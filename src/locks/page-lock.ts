// Counted locks: lock(), unlock() and the PageLock handle.
import { binding, SCRATCH, SYSCALL_NAMES } from '../binding';
import {
  limitChannel,
  lockChannel,
  releaseChannel,
  reportSticky,
  type LockMessage,
  type ReleaseMessage,
  publishMemberRelease,
} from '../channels';
import type { LockGroup } from './lock-group';
import { diagnosticsSettings } from '../diagnostics/diagnostics';
import { unsupported } from '../capabilities';
import { checkInternal, INTERNAL, invalidArgType, MemlockError } from '../errors';
import { detachable, hold, letGo } from './guard';
import { bind, heldView, keepForever, retain, unretain } from './retained';
import { errnoName, nativeFailure } from '../native-failure';
import { bufferOf, nativeView, refuseResizable, type View } from './views';

export interface LockOptions {
  /**
   * Lock pages as they are first touched (mlock2 MLOCK_ONFAULT) instead of
   * faulting the whole range in now. Default false.
   */
  onFault?: boolean;
  /** A name for the lock, shown by locks() and on the diagnostics channels. */
  label?: string;
}

/** One counted lock on the pages a view covers. Release it once. */
export class PageLock implements Disposable {
  /** Pages covered (a view that starts or ends mid-page covers the whole page). */
  readonly pages: number;
  readonly #id: number;
  readonly #slot: number;
  // Shared by every lock taken with the same options and no label: a
  // million handles are a million of these objects, four fields each.
  readonly #options: CheckedOptions;

  /** @internal Made by lock(); `new PageLock()` throws ERR_ILLEGAL_CONSTRUCTOR. */
  constructor(token: typeof INTERNAL, id: number, slot: number, pages: number, options: CheckedOptions) {
    checkInternal(token, 'PageLock', 'lock()');
    this.#id = id;
    this.#slot = slot;
    this.pages = pages;
    this.#options = options;
  }

  /** Bytes covered, rounded out to whole pages. */
  get bytes(): number {
    return this.pages * binding.pageSize;
  }

  get onFault(): boolean {
    return this.#options.onFault;
  }

  get label(): string | undefined {
    return this.#options.label;
  }

  /** True once released, by release(), dispose or unlock(view). */
  get released(): boolean {
    return !binding.isHeld(this.#id);
  }

  /**
   * Subtracts 1 from every covered page's count; pages reaching 0 are
   * unlocked in the kernel. Releasing twice is harmless.
   */
  release(): void {
    const view = heldView(this.#slot, this.#id);
    if (view === undefined) return; // released before, by this handle or unlock(view)
    const buffer = bufferOf(view);
    const rc = binding.release(this.#id);
    if (rc < 0) throw nativeFailure({ operation: 'release', result: rc, syscall: 'munlock', bytes: this.bytes });
    unretain(this.#slot, this.#id);
    letGo(buffer);
    // 1 (not held): memlock unmapped the memory under it (a freed secret).
    if (rc === 0) publishRelease(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

function publishRelease(handle: PageLock): void {
  if (!releaseChannel.hasSubscribers) return;
  const { pages, bytes, label } = handle;
  releaseChannel.publish({ lock: handle, pages, bytes, label } satisfies ReleaseMessage);
}

/** @internal */
export interface CheckedOptions {
  onFault: boolean;
  label: string | undefined;
}

const NO_OPTIONS: CheckedOptions = Object.freeze({ onFault: false, label: undefined });
const ON_FAULT: CheckedOptions = Object.freeze({ onFault: true, label: undefined });

/** @internal Validated lock options, shared by every lock taken alike. */
export function checkOptions(options: unknown): CheckedOptions {
  if (options === undefined) return NO_OPTIONS;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const { onFault, label } = options as LockOptions;
  if (onFault !== undefined && typeof onFault !== 'boolean') {
    throw invalidArgType('options.onFault', 'of type boolean', onFault);
  }
  if (label !== undefined && typeof label !== 'string') {
    throw invalidArgType('options.label', 'of type string', label);
  }
  if (onFault === true && !binding.platform.onFault) {
    throw unsupported(
      'lock(view, { onFault: true })',
      'mlock2(MLOCK_ONFAULT) is Linux-only; lock without onFault faults the pages in now',
    );
  }
  if (label === undefined) return onFault === true ? ON_FAULT : NO_OPTIONS;
  return Object.freeze({ onFault: onFault === true, label });
}

/**
 * Adds 1 to the lock count of every page `view` covers; pages going from 0
 * to 1 are locked in the kernel. All or nothing: on failure nothing changed.
 */
export function lock(view: View, options?: LockOptions): PageLock {
  const target = nativeView(view);
  // Read once: each of these is a call into V8's C++ on the hot path.
  const buffer = bufferOf(target);
  const shared = !detachable(buffer);
  refuseResizable(buffer, 'view', shared);
  const checked = checkOptions(options);
  const { onFault, label } = checked;
  // Taken before the lock: a stack-trace hook that throws then changes nothing.
  const stack = diagnosticsSettings.captureStacks ? callerStack() : '';
  const slot = retain(target);
  const id = binding.lock(target, onFault, slot, shared);
  const scratch = binding.scratch;
  const pages = scratch[SCRATCH.pages]!;
  const newlySticky = scratch[SCRATCH.newlySticky]!;
  if (id <= 0) {
    unretain(slot, 0);
    throw lockFailure(id, view, target, pages, label);
  }
  if (newlySticky > 0) {
    // Sticky pages stay locked for good, so their memory must stay too.
    keepForever(target);
    hold(buffer, shared);
  }
  let held = false;
  try {
    hold(buffer, shared);
    held = true;
    const handle = new PageLock(INTERNAL, id, slot, pages, checked);
    bind(slot, id, handle);
    if (label !== undefined || stack !== '') binding.annotate(id, label, stack);
    if (lockChannel.hasSubscribers) {
      lockChannel.publish({ lock: handle, view, pages, bytes: handle.bytes, onFault, label } satisfies LockMessage);
    }
    if (newlySticky > 0) reportSticky({ pages: newlySticky, view });
    return handle;
  } catch (error) {
    // Whatever threw (even a stack overflow), the lock is undone: no count
    // is left behind without a handle. This frame had the stack to lock, so
    // it has the stack to release.
    binding.release(id);
    unretain(slot, id);
    if (held) letGo(buffer);
    throw error;
  }
}

function lockFailure(id: number, view: View, target: ArrayBufferView, pages: number, label: string | undefined): Error {
  if (errnoName(id) === 'ENOMEM' && SYSCALL_NAMES[binding.scratch[SCRATCH.failedSyscall]!] === 'none') {
    // ENOMEM with no syscall made: the lock registry is full.
    return new MemlockError('too many locks are held at once (16,777,216)', { code: 'ENOMEM', errno: id });
  }
  return nativeFailure({
    operation: 'lock',
    result: id,
    syscall: 'mlock',
    bytes: pages * binding.pageSize,
    view,
    limit: {
      pages,
      newPages: limitChannel.hasSubscribers
        ? binding.counts(target).reduce((n, count) => n + (count === 0 ? 1 : 0), 0)
        : pages,
      what: '',
      label,
      remedy: 'release some or raise it with setLockablePageLimit()',
    },
  });
}

/** @internal The stack of `api`'s caller, without memlock's own frame. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function callerStack(api: Function = lock): string {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, api);
  return (holder.stack ?? '')
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .join('\n');
}

/**
 * Releases the most recent lock this thread took on exactly the bytes of
 * `view`. Throws ERR_MEMLOCK_NOT_LOCKED if there is none.
 */
export function unlock(view: View): void {
  const target = nativeView(view);
  const rc = binding.releaseLatest(target);
  if (rc === 0) {
    throw new MemlockError('no lock is held on exactly these bytes', { code: 'ERR_MEMLOCK_NOT_LOCKED' });
  }
  if (rc < 0)
    throw nativeFailure({ operation: 'unlock', result: rc, syscall: 'munlock', bytes: target.byteLength, view });
  const slot = binding.scratch[SCRATCH.tag]!;
  const held = heldView(slot, rc);
  const handle = unretain(slot, rc);
  if (held !== undefined) {
    letGo(bufferOf(held));
  }
  if (handle instanceof PageLock) publishRelease(handle);
  else if (held !== undefined && handle !== undefined) publishMemberRelease(handle as LockGroup, held);
}
