// memlock's own account and the lockable-page limit: stats(), lockCounts(),
// residency(), pageSize and the limit on distinct locked pages.
import { binding, SCRATCH } from '../binding';
import { lockAllState, type LockAllState } from './lock-all';
import { procStatus } from '../proc';
import { unsupported } from '../capabilities';
import { invalidArgType, outOfRange } from '../errors';
import { nativeFailure } from '../native-failure';
import { nativeView, type View } from './views';

export const pageSize: number = binding.pageSize;

/** memlock's own account of what it holds, process-wide. */
export interface MemlockStats {
  pageSize: number;
  /** Distinct pages with a count > 0. */
  lockedPages: number;
  lockedBytes: number;
  /** Pages whose count saturated at 0xFFFF: locked for the life of the process. */
  stickyPages: number;
  /** The lockable-page limit. */
  limitPages: number;
  limitBytes: number;
  /** PageLock handles held by this thread's environment and every other. */
  heldLocks: number;
  /** Whole-process locking in force (lockAll), or null. */
  lockAll: LockAllState | null;
  /** The kernel's VmLck for this process, in bytes; null where the kernel does not say (macOS, Windows). */
  vmLckBytes: number | null;
  /**
   * Live secrets (allocSecret) by backend: on memfd_secret memory, on
   * mlocked memory, and in V8's own memory (backend 'v8-heap', where V8's
   * sandbox refuses external buffers).
   */
  secrets: { secretmem: number; mlock: number; v8Heap: number };
}

export function stats(): MemlockStats {
  const { lockedPages, stickyPages, limitPages, heldLocks } = binding.stats();
  return {
    pageSize,
    lockedPages,
    lockedBytes: lockedPages * pageSize,
    stickyPages,
    limitPages,
    limitBytes: limitPages * pageSize,
    heldLocks,
    lockAll: lockAllState(),
    vmLckBytes: binding.platform.kernelAccount ? procStatus('self').vmLckBytes : null,
    secrets: secretsByBackend(),
  };
}

function secretsByBackend(): MemlockStats['secrets'] {
  const { live, secretmemLive, v8HeapLive } = binding.secretStats();
  return { secretmem: secretmemLive, mlock: live - secretmemLive, v8Heap: v8HeapLive };
}

/** The lock count of each page `view` covers, first page first. */
export function lockCounts(view: View): Uint16Array {
  return binding.counts(nativeView(view));
}

export interface Residency {
  /** Pages in RAM now, by mincore(2). */
  residentPages: number;
  totalPages: number;
}

/** How many of the pages `view` covers are resident (mincore). */
export function residency(view: View): Residency {
  const target = nativeView(view);
  if (!binding.platform.residency) throw unsupported('residency()', 'this kernel has no mincore');
  const resident = binding.residentPages(target);
  const totalPages = binding.scratch[SCRATCH.pages]!;
  if (resident < 0)
    throw nativeFailure({
      operation: 'residency',
      result: resident,
      syscall: 'mincore',
      bytes: totalPages * pageSize,
      view,
    });
  return { residentPages: resident, totalPages };
}

/**
 * Sets the most distinct pages that may have a count > 0. A limit below what
 * is locked now is allowed: new locks then fail until enough is released.
 */
export function setLockablePageLimit(pages: number): void {
  if (typeof pages !== 'number') throw invalidArgType('pages', 'of type number', pages);
  if (!Number.isSafeInteger(pages) || pages < 0) {
    throw outOfRange('pages', `an integer >= 0 and <= ${Number.MAX_SAFE_INTEGER}`, pages);
  }
  binding.setLimit(pages);
}

/** The lockable-page limit; by default 90% of physical page frames. */
export function getLockablePageLimit(): number {
  return binding.getLimit();
}
