// Keeps locked views reachable: a view must not be garbage-collected (and
// its memory freed) while a lock on it is held, even if its PageLock handle
// is dropped. A slot array with a free list costs a few nanoseconds per lock,
// a Map about 60; the slot number travels with the lock as its native tag.

const views: unknown[] = [];
const freeSlots: number[] = [];

export function retain(view: unknown): number {
  const slot = freeSlots.length > 0 ? freeSlots.pop()! : views.length;
  views[slot] = view;
  return slot;
}

export function unretain(slot: number): void {
  views[slot] = undefined;
  freeSlots.push(slot);
}
