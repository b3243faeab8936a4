// Keeps locked views reachable: a view must not be garbage-collected (and
// its memory freed) while a lock on it is held, even if its PageLock handle
// is dropped. A slot array with a free list costs a few nanoseconds per lock,
// a Map about 60; the slot number travels with the lock as its native tag.
//
// Memory whose pages turned sticky (count 65535) stays locked for the life of
// the process, so the view that made it sticky is kept for good: were it
// collected, its memory could be unmapped and mapped again under a count that
// no longer means anything.

const views: ArrayBufferView[] = [];
const handles: unknown[] = [];
const ids: number[] = [];
const freeSlots: number[] = [];
const forever: ArrayBufferView[] = [];

/** Holds `view` for a lock about to be taken; bind() names the lock. */
export function retain(view: ArrayBufferView): number {
  const slot = freeSlots.length > 0 ? freeSlots.pop()! : views.length;
  views[slot] = view;
  ids[slot] = 0;
  return slot;
}

export function bind(slot: number, id: number, handle: unknown): void {
  ids[slot] = id;
  handles[slot] = handle;
}

/** The view held for lock `id`, or undefined once it was let go. */
export function heldView(slot: number, id: number): ArrayBufferView | undefined {
  return ids[slot] === id ? views[slot] : undefined;
}

/**
 * Lets go of the view held for lock `id` and returns its handle; returns
 * undefined if it was let go already.
 */
export function unretain(slot: number, id: number): unknown {
  if (ids[slot] !== id || views[slot] === undefined) return undefined;
  const handle = handles[slot];
  (views as (ArrayBufferView | undefined)[])[slot] = undefined;
  handles[slot] = undefined;
  ids[slot] = -1;
  freeSlots.push(slot);
  return handle;
}

/** Keeps `view` (and so its memory) for the life of this thread. */
export function keepForever(view: ArrayBufferView): void {
  forever.push(view);
}
