// The reference model for property tests: what memlock's counts, limit and
// held locks should be by its rules (counted locks, sticky at 0xFFFF, the
// lockable-page limit, all or nothing; README), written as plainly as possible (one
// counter per page, a list of held locks) so that it is obviously right and
// independent of the native page table's runs.

export const STICKY = 0xffff;

interface PageState {
  /** 1..STICKY; pages with count 0 are not in the map. */
  count: number;
  /**
   * Every lock that held the page since its count left 0 asked for
   * MLOCK_ONFAULT, so the kernel has it locked on fault (VmFlags `lf`). A
   * plain lock populates it, and it stays fully locked until its count is 0.
   */
  onFaultOnly: boolean;
}

/** A lock the model believes held: its exact bytes and the pages they cover. */
export interface ModelLock {
  /** The model's own number for it, in the order locks were taken. */
  readonly seq: number;
  readonly address: number;
  readonly length: number;
  readonly first: number;
  readonly pages: number;
  readonly onFault: boolean;
  /** The thread that took it (0: the main thread): unlock(view) matches only its own. */
  readonly owner: number;
}

export type LockResult = { ok: true; lock: ModelLock; newlySticky: number } | { ok: false; code: 'ERR_MEMLOCK_LIMIT' };

export class CountModel {
  readonly pageSize: number;
  /** Pages with a count > 0 that the model does not know of (taken before it started). */
  readonly baseLockedPages: number;
  /** The lockable-page limit, absolute. */
  limit: number;
  readonly #pages = new Map<number, PageState>();
  /** Held locks, oldest first: unlock(view) takes the newest on the same bytes. */
  readonly #held: ModelLock[] = [];
  #seq = 0;
  #locked = 0;
  #sticky = 0;

  constructor(pageSize: number, baseLockedPages: number, limit: number) {
    this.pageSize = pageSize;
    this.baseLockedPages = baseLockedPages;
    this.limit = limit;
  }

  /** Pages floor(start / pageSize) .. floor((end - 1) / pageSize), the pages a byte range covers. */
  span(address: number, length: number): { first: number; pages: number } {
    const first = Math.floor(address / this.pageSize);
    const last = Math.floor((address + length - 1) / this.pageSize);
    return { first, pages: last - first + 1 };
  }

  count(page: number): number {
    return this.#pages.get(page)?.count ?? 0;
  }

  onFaultOnly(page: number): boolean {
    return this.#pages.get(page)?.onFaultOnly ?? false;
  }

  /** Per page, what the kernel must show (see kernelPageStates): L, F or -. */
  pageStates(firstPage: number, pages: number): string {
    let out = '';
    for (let i = 0; i < pages; i += 1) {
      const page = firstPage + i;
      out += this.count(page) === 0 ? '-' : this.onFaultOnly(page) ? 'F' : 'L';
    }
    return out;
  }

  counts(first: number, pages: number): number[] {
    return Array.from({ length: pages }, (_, i) => this.count(first + i));
  }

  /** Distinct pages with a count > 0 that the model knows of. */
  get lockedPages(): number {
    return this.#locked;
  }

  get stickyPages(): number {
    return this.#sticky;
  }

  get held(): readonly ModelLock[] {
    return this.#held;
  }

  /** Pages of the range whose count is 0: what a lock of it adds to lockedPages. */
  newPages(first: number, pages: number): number {
    let n = 0;
    for (let p = first; p < first + pages; p += 1) if (this.count(p) === 0) n += 1;
    return n;
  }

  /**
   * lock(): all or nothing. Over the limit (new pages only; pages already
   * counted take no room, even when the limit is below what is locked now)
   * nothing changes.
   */
  lock(address: number, length: number, onFault: boolean, owner = 0): LockResult {
    const { first, pages } = this.span(address, length);
    const fresh = this.newPages(first, pages);
    if (fresh > 0 && this.baseLockedPages + this.#locked + fresh > this.limit) {
      return { ok: false, code: 'ERR_MEMLOCK_LIMIT' };
    }
    let newlySticky = 0;
    for (let p = first; p < first + pages; p += 1) {
      const page = this.#pages.get(p);
      if (page === undefined) {
        this.#pages.set(p, { count: 1, onFaultOnly: onFault });
        this.#locked += 1;
        continue;
      }
      // A plain lock populates a page held on fault only, sticky or not.
      if (!onFault) page.onFaultOnly = false;
      if (page.count === STICKY) continue;
      page.count += 1;
      if (page.count === STICKY) {
        newlySticky += 1;
        this.#sticky += 1;
      }
    }
    this.#seq += 1;
    const lock: ModelLock = { seq: this.#seq, address, length, first, pages, onFault, owner };
    this.#held.push(lock);
    return { ok: true, lock, newlySticky };
  }

  /** PageLock.release(): false (and no change) if it is not held (released twice). */
  release(lock: ModelLock): boolean {
    // From the newest: bursts release tens of thousands newest first.
    const at = this.#held.lastIndexOf(lock);
    if (at < 0) return false;
    this.#held.splice(at, 1);
    for (let p = lock.first; p < lock.first + lock.pages; p += 1) {
      const page = this.#pages.get(p);
      if (page === undefined) throw new Error(`model: page ${p} of a held lock has count 0`);
      if (page.count === STICKY) continue; // sticky for good
      page.count -= 1;
      if (page.count === 0) {
        this.#pages.delete(p);
        this.#locked -= 1;
      }
    }
    return true;
  }

  /** The lock unlock(view) releases: the newest the thread holds on exactly these bytes. */
  newestOn(address: number, length: number, owner = 0): ModelLock | undefined {
    for (let i = this.#held.length - 1; i >= 0; i -= 1) {
      const held = this.#held[i]!;
      if (held.address === address && held.length === length && held.owner === owner) return held;
    }
    return undefined;
  }

  /** unlock(view): the lock it released, or undefined for ERR_MEMLOCK_NOT_LOCKED (no change). */
  unlock(address: number, length: number, owner = 0): ModelLock | undefined {
    const newest = this.newestOn(address, length, owner);
    if (newest !== undefined) this.release(newest);
    return newest;
  }

  /** A thread exits: every lock it holds is released. Returns them. */
  releaseOwner(owner: number): ModelLock[] {
    const theirs = this.#held.filter((held) => held.owner === owner);
    for (const held of theirs.reverse()) this.release(held);
    return theirs;
  }
}
