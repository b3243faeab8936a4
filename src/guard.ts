// Memory under a count stays where it is. A view is kept reachable while a
// lock on it is held (retained.ts); this module keeps JavaScript from handing
// its memory to someone else: while memlock holds a lock on an ArrayBuffer,
// it cannot be detached (ArrayBuffer.prototype.transfer, a postMessage or
// Worker transfer list, structuredClone with `transfer`, a byte stream's
// BYOB read). Otherwise the new owner could free the memory while its pages
// are still counted, and a secret could outlive free() in a plain buffer.
//
// How depends on the Node line (binding.detachGuard, see native/detach_guard.h):
// - 'key' (Node 24+): V8's detach key, set on the first lock of a buffer and
//   cleared on its last release; every detach path throws a TypeError.
// - 'mark' (Node 20, 22): their V8 and node abort the process on a keyed
//   buffer instead of throwing, so memlock uses worker_threads
//   markAsUntransferable, which node offers no way to undo: the buffer stays
//   untransferable after its last release. Transfer lists then throw
//   (Node 22) or copy (Node 20), and ArrayBuffer.prototype.transfer (Node 22)
//   is wrapped to refuse a locked buffer. What node does internally without
//   asking (a byte stream's BYOB read) is not covered there.
import { types } from 'node:util';
import { markAsUntransferable } from 'node:worker_threads';
import { binding } from './binding';
import { MemlockError } from './errors';

export const guardMode = binding.detachGuard;

// The number of locks (and sticky holds) on each ArrayBuffer, kept in a
// private field on the buffer itself: a WeakMap lookup would cost more than
// the rest of a re-lock.
class Stamp {
  constructor(target: object) {
    return target as Stamp;
  }
}
class GuardCount extends Stamp {
  #holds = 0;

  static holds(buffer: object): number {
    return #holds in buffer ? (buffer as GuardCount).#holds : 0;
  }

  static add(buffer: object): void {
    if (!(#holds in buffer)) new GuardCount(buffer);
    (buffer as GuardCount).#holds += 1;
  }

  /** Returns the holds left. */
  static subtract(buffer: object): number {
    return (buffer as GuardCount).#holds -= 1;
  }
}

/** Whether `buffer` is one JavaScript could detach (a SharedArrayBuffer never is). */
export function detachable(buffer: ArrayBufferLike): buffer is ArrayBuffer {
  return !types.isSharedArrayBuffer(buffer);
}

/**
 * The buffer native code must set its detach key on as part of the lock
 * about to be taken, if any: the first hold in 'key' mode.
 */
export function keyToSet(buffer: ArrayBufferLike): ArrayBuffer | undefined {
  return guardMode === 'key' && detachable(buffer) && GuardCount.holds(buffer) === 0 ? buffer : undefined;
}

let keysClearedAtExit = false;

/** Counts a hold on `buffer`, after the lock it stands for was taken. */
export function hold(buffer: ArrayBufferLike): void {
  if (!detachable(buffer)) return;
  if (GuardCount.holds(buffer) === 0) {
    if (guardMode === 'mark') {
      markAsUntransferable(buffer);
      guardTransfer();
    } else if (!keysClearedAtExit) {
      // At teardown node detaches the external Buffers an addon made,
      // presenting no key, and aborts if refused: the keys come off first.
      keysClearedAtExit = true;
      process.once('exit', () => binding.clearDetachKeys());
    }
  }
  GuardCount.add(buffer);
}

/**
 * The buffer native code must clear the detach key of as part of a release
 * about to be made, if any: the last hold in 'key' mode.
 */
export function keyToClear(buffer: ArrayBufferLike): ArrayBuffer | undefined {
  return guardMode === 'key' && detachable(buffer) && GuardCount.holds(buffer) === 1 ? buffer : undefined;
}

/** Lets go of one hold; the caller cleared the key if keyToClear() said so. */
export function letGo(buffer: ArrayBufferLike): void {
  if (detachable(buffer)) GuardCount.subtract(buffer);
}

/** Whether memlock holds `buffer` in place now. */
export function isHeld(buffer: ArrayBufferLike): boolean {
  return detachable(buffer) && GuardCount.holds(buffer) > 0;
}

let transferGuarded = false;

// Node 22 has ArrayBuffer.prototype.transfer but aborts on a keyed buffer:
// the two methods that detach are wrapped, in this realm, to refuse a buffer
// memlock holds. Everything else passes straight through.
function guardTransfer(): void {
  if (transferGuarded) return;
  transferGuarded = true;
  const prototype = ArrayBuffer.prototype as unknown as Record<string, unknown>;
  for (const name of ['transfer', 'transferToFixedLength']) {
    const original = prototype[name];
    if (typeof original !== 'function') continue;
    const wrapped = {
      [name](this: ArrayBuffer, ...args: unknown[]): unknown {
        if (types.isArrayBuffer(this) && isHeld(this)) throw lockedBufferError(name);
        return Reflect.apply(original, this, args);
      },
    }[name]!;
    Object.defineProperty(wrapped, 'length', { value: original.length });
    Object.defineProperty(prototype, name, { value: wrapped, writable: true, enumerable: false, configurable: true });
  }
}

export function lockedBufferError(operation: string): MemlockError {
  return new MemlockError(
    `ArrayBuffer.prototype.${operation}: memlock holds a lock on this buffer (or it is secret memory), ` +
      'so its memory cannot move; release its locks first',
    { code: 'ERR_MEMLOCK_BUFFER_HELD' },
  );
}
