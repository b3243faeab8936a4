// The global limit on distinct locked pages.
import { binding } from './binding';
import { invalidArgType, outOfRange } from './errors';

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
