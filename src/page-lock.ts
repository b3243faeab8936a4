// Counted locks: lock(), unlock() and the PageLock handle.
import { binding, LIMIT_EXCEEDED, SYSCALL_NAMES } from './binding';
import { reportSticky } from './channels';
import { invalidArgType, MemlockError } from './errors';
import { bind, retain, unretain } from './retained';
import { systemError } from './system-error';
import { nativeView, type View } from './views';

export interface LockOptions {
  /**
   * Lock pages as they are first touched (mlock2 MLOCK_ONFAULT) instead of
   * faulting the whole range in now. Default false.
   */
  onFault?: boolean;
}

/** One counted lock on the pages a view covers. Release it once. */
export class PageLock implements Disposable {
  /** Pages covered (a view that starts or ends mid-page covers the whole page). */
  readonly pages: number;
  /** Bytes covered, rounded out to whole pages. */
  readonly bytes: number;
  readonly onFault: boolean;
  readonly #id: number;
  readonly #slot: number;

  /** @internal Made by lock(). */
  constructor(id: number, slot: number, pages: number, onFault: boolean) {
    this.#id = id;
    this.#slot = slot;
    this.pages = pages;
    this.bytes = pages * binding.pageSize;
    this.onFault = onFault;
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
    const rc = binding.release(this.#id);
    if (rc < 0) throw systemError(rc, 'munlock', this.bytes);
    // 1 (not held): released before, or its memory was unmapped by memlock.
    unretain(this.#slot, this.#id);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

function checkOptions(options: unknown): boolean {
  if (options === undefined) return false;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const { onFault } = options as LockOptions;
  if (onFault !== undefined && typeof onFault !== 'boolean') {
    throw invalidArgType('options.onFault', 'of type boolean', onFault);
  }
  return onFault === true;
}

/**
 * Adds 1 to the lock count of every page `view` covers; pages going from 0
 * to 1 are locked in the kernel. All or nothing: on failure nothing changed.
 */
export function lock(view: View, options?: LockOptions): PageLock {
  const target = nativeView(view);
  const onFault = checkOptions(options);
  const slot = retain(target);
  const id = binding.lock(target, onFault, slot);
  const scratch = binding.scratch;
  const pages = scratch[0]!;
  const newlySticky = scratch[1]!;
  if (id > 0) {
    bind(slot, id);
    const handle = new PageLock(id, slot, pages, onFault);
    if (newlySticky > 0) reportSticky({ pages: newlySticky, view });
    return handle;
  }
  unretain(slot, 0);
  if (id === LIMIT_EXCEEDED) {
    const { lockedPages, limitPages } = binding.stats();
    throw new MemlockError(
      `locking ${pages} page(s) would exceed the lockable-page limit: ${lockedPages} of ${limitPages} pages ` +
        'are locked; release some or raise it with setLockablePageLimit()',
      { code: 'ERR_MEMLOCK_LIMIT' },
    );
  }
  const syscall = SYSCALL_NAMES[scratch[2]!];
  if (syscall === undefined || syscall === 'none') {
    throw new MemlockError('too many locks are held at once (16,777,216)', { code: 'ENOMEM', errno: id });
  }
  throw systemError(id, syscall, pages * binding.pageSize);
}

/**
 * Releases the most recent lock this thread took on exactly the bytes of
 * `view`. Throws ERR_NOT_LOCKED if there is none.
 */
export function unlock(view: View): void {
  const target = nativeView(view);
  const rc = binding.releaseLatest(target);
  if (rc === 0) {
    throw new MemlockError('no lock is held on exactly these bytes', { code: 'ERR_NOT_LOCKED' });
  }
  if (rc < 0) throw systemError(rc, 'munlock', target.byteLength);
  unretain(binding.scratch[0]!, rc);
}
