// What memlock accepts as memory, and its validation before any native call.
import { types } from 'node:util';
import { binding } from './binding';
import { invalidArgType, invalidArgValue } from './errors';

/** Memory memlock can lock: its bytes are the range it covers. */
export type View = ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

const EXPECTED = 'an instance of ArrayBuffer, SharedArrayBuffer, Buffer, TypedArray or DataView';

/**
 * Checks `value` and returns what native code takes: a TypedArray or
 * DataView (an ArrayBuffer or SharedArrayBuffer is wrapped in a Uint8Array).
 */
export function nativeView(value: unknown, name = 'view'): ArrayBufferView {
  let view: ArrayBufferView;
  if (ArrayBuffer.isView(value)) {
    view = value;
  } else if (types.isAnyArrayBuffer(value)) {
    view = new Uint8Array(value);
  } else {
    throw invalidArgType(name, EXPECTED, value);
  }
  if (view.byteLength === 0) {
    const detached = binding.isDetached(view.buffer);
    throw invalidArgValue(name, detached ? 'is detached' : 'must not be empty');
  }
  return view;
}
