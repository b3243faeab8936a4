// Memory under a count stays where it is. A view is kept reachable while a
// lock on it is held (retained.ts); this module keeps JavaScript from handing
// its memory to someone else: while memlock holds a lock on an ArrayBuffer,
// it is not transferred (ArrayBuffer.prototype.transfer, a postMessage or
// Worker transfer list, structuredClone with `transfer`). Otherwise the new
// owner could free the memory while its pages are still counted, and a
// secret could outlive free() in a plain buffer.
//
// memlock never sets a V8 detach key: a keyed external buffer aborts the
// process when node detaches it at an environment's teardown or another
// addon detaches it (both check that the detach succeeded), and Node 24's
// markAsUntransferable sets one. How depends on that (guardMode):
// - 'mark' (Node 20, 22): worker_threads markAsUntransferable, which node
//   offers no way to undo (the buffer stays untransferable after its last
//   release): transfer lists then throw (Node 22) or copy (Node 20);
// - 'wrap' (Node 24+): the functions that take a transfer list
//   (MessagePort.prototype.postMessage, which a Worker's postMessage calls,
//   and structuredClone) refuse a held buffer in it.
// In both, ArrayBuffer.prototype.transfer and transferToFixedLength are
// wrapped to refuse a held buffer. What bypasses these (a transfer function
// captured before memlock loaded, node's own byte-stream reads, another
// addon's napi_detach_arraybuffer) is survived, not refused: memlock-owned
// memory stays mapped under the buffer it moved to and is freed with it;
// free() of a moved secret wipes it in place (secret.ts).
import { types } from 'node:util';
import { markAsUntransferable, MessagePort } from 'node:worker_threads';
import { MemlockError } from '../errors';

/**
 * 'mark' where markAsUntransferable leaves a buffer detachable by its
 * owner (Node 20, 22); 'wrap' where it sets a detach key (Node 24+).
 */
export const guardMode: 'mark' | 'wrap' = markingKeysBuffers() ? 'wrap' : 'mark';

function markingKeysBuffers(): boolean {
  const probe = new ArrayBuffer(1) as ArrayBuffer & { transfer?: () => ArrayBuffer };
  if (typeof probe.transfer !== 'function') return false; // Node 20: no detach from JavaScript at all
  markAsUntransferable(probe);
  try {
    probe.transfer();
    return false;
  } catch {
    return true;
  }
}

// The number of locks (and sticky holds) on each ArrayBuffer, kept in a
// private field on the buffer itself: a WeakMap lookup would cost more than
// the rest of a re-lock.
class Stamp {
  constructor(target: object) {
    return target;
  }
}
class GuardCount extends Stamp {
  #holds = 0;

  static holds(buffer: object): number {
    return #holds in buffer ? buffer.#holds : 0;
  }

  static add(buffer: object): void {
    if (!(#holds in buffer)) new GuardCount(buffer);
    (buffer as GuardCount).#holds += 1;
  }

  /** Only ArrayBuffers (never a SharedArrayBuffer) are stamped, and the stamp stays. */
  static stamped(buffer: object): boolean {
    return #holds in buffer;
  }

  static subtract(buffer: object): void {
    if (#holds in buffer) buffer.#holds -= 1;
  }
}

/** Whether `buffer` is one JavaScript could detach (a SharedArrayBuffer never is). */
export function detachable(buffer: ArrayBufferLike): buffer is ArrayBuffer {
  // A buffer memlock held once carries the stamp: no call into C++ to ask again.
  return GuardCount.stamped(buffer) || !types.isSharedArrayBuffer(buffer);
}

/** Counts a hold on `buffer`, after the lock it stands for was taken (`shared`: a caller that knows it). */
export function hold(buffer: ArrayBufferLike, shared = !detachable(buffer)): void {
  if (shared) return;
  if (GuardCount.holds(buffer) === 0) {
    if (guardMode === 'mark') markAsUntransferable(buffer);
    guardTransfers();
  }
  GuardCount.add(buffer);
}

/** Lets go of one hold (a SharedArrayBuffer has none: it was never stamped). */
export function letGo(buffer: ArrayBufferLike): void {
  GuardCount.subtract(buffer);
}

/** Whether memlock holds `buffer` in place now. */
export function isHeld(buffer: ArrayBufferLike): boolean {
  return GuardCount.holds(buffer) > 0;
}

let transfersGuarded = false;

// The functions that detach or transfer a buffer are wrapped, in this realm,
// to refuse a buffer memlock holds; everything else passes straight through.
function guardTransfers(): void {
  if (transfersGuarded) return;
  transfersGuarded = true;
  const prototype = ArrayBuffer.prototype as unknown as Record<string, unknown>;
  for (const name of ['transfer', 'transferToFixedLength']) {
    wrap(prototype, name, (self) => {
      if (types.isArrayBuffer(self) && isHeld(self)) throw lockedBufferError(`ArrayBuffer.prototype.${name}`);
    });
  }
  if (guardMode !== 'wrap') return; // 'mark': node refuses (or copies) marked buffers itself
  wrap(MessagePort.prototype as unknown as Record<string, unknown>, 'postMessage', (_self, args) =>
    refuseHeldTransfers('postMessage', args[1]),
  );
  wrap(globalThis, 'structuredClone', (_self, args) => refuseHeldTransfers('structuredClone', args[1]));
}

// Replaces owner[name] with a function that runs `check` first.
function wrap(owner: Record<string, unknown>, name: string, check: (self: unknown, args: unknown[]) => void): void {
  const original = owner[name];
  if (typeof original !== 'function') return;
  const wrapped = {
    [name](this: unknown, ...args: unknown[]): unknown {
      check(this, args);
      return Reflect.apply(original, this, args);
    },
  }[name]!;
  Object.defineProperty(wrapped, 'length', { value: original.length });
  const descriptor = Object.getOwnPropertyDescriptor(owner, name);
  Object.defineProperty(owner, name, {
    value: wrapped,
    writable: descriptor?.writable ?? true,
    enumerable: descriptor?.enumerable ?? false,
    configurable: true,
  });
}

// A transfer list is an array, or an options object's `transfer` array.
function refuseHeldTransfers(operation: string, list: unknown): void {
  const items = Array.isArray(list)
    ? list
    : typeof list === 'object' && list !== null && Array.isArray((list as { transfer?: unknown }).transfer)
      ? (list as { transfer: unknown[] }).transfer
      : [];
  for (const item of items) {
    if (types.isArrayBuffer(item) && isHeld(item)) throw lockedBufferError(operation);
  }
}

export function lockedBufferError(operation: string): MemlockError {
  return new MemlockError(
    `${operation}: memlock holds a lock on this buffer (or it is secret or pinned memory), ` +
      'so its memory cannot move; release its locks first',
    { code: 'ERR_MEMLOCK_BUFFER_HELD' },
  );
}
