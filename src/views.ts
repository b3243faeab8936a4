// What memlock accepts as memory, and its validation before any native call.
import { types } from 'node:util';
import { binding } from './binding';
import { invalidArgType, invalidArgValue } from './errors';

/** Memory memlock can lock: its bytes are the range it covers. */
export type View = ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

const EXPECTED = 'an instance of ArrayBuffer, SharedArrayBuffer, Buffer, TypedArray or DataView';

/**
 * Checks `value` and returns what native code takes: a TypedArray or
 * DataView (an ArrayBuffer or SharedArrayBuffer is wrapped in a DataView).
 */
export function nativeView(value: unknown, name = 'view'): ArrayBufferView {
  if (ArrayBuffer.isView(value)) {
    if (value.byteLength === 0) throw emptyView(name, value.buffer);
    return value;
  }
  if (types.isAnyArrayBuffer(value)) {
    // Checked before wrapping: no view can be made over a detached buffer.
    if (value.byteLength === 0) throw emptyView(name, value);
    // A DataView, not a Uint8Array: typed arrays stop at 4 GiB in Node 20.
    return new DataView(value);
  }
  throw invalidArgType(name, EXPECTED, value);
}

function emptyView(name: string, buffer: ArrayBufferLike): TypeError {
  return invalidArgValue(name, binding.isDetached(buffer) ? 'is detached' : 'must not be empty');
}
