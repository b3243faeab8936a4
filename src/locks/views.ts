// What memlock accepts as memory, and its validation before any native call.
// Lengths and buffers are read through the built-in getters, not the view's
// own properties: a TypedArray subclass may override `byteLength`.
import { types } from 'node:util';
import { binding } from '../binding';
import { invalidArgType, invalidArgValue } from '../errors';

/** Memory memlock can lock: its bytes are the range it covers. */
export type View = ArrayBufferView | ArrayBuffer | SharedArrayBuffer;

const EXPECTED = 'an instance of ArrayBuffer, SharedArrayBuffer, Buffer, TypedArray or DataView';

type Getter<T> = (this: unknown) => T;
function builtinGetter<T>(prototype: object, name: PropertyKey): Getter<T> | undefined {
  // A getter taken off the prototype on purpose: it is called with .call().
  // eslint-disable-next-line @typescript-eslint/unbound-method
  return Object.getOwnPropertyDescriptor(prototype, name)?.get as Getter<T> | undefined;
}
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayBuffer = builtinGetter<ArrayBufferLike>(TypedArrayPrototype, 'buffer')!;
const typedArrayByteLength = builtinGetter<number>(TypedArrayPrototype, 'byteLength')!;
const dataViewBuffer = builtinGetter<ArrayBufferLike>(DataView.prototype, 'buffer')!;
const dataViewByteLength = builtinGetter<number>(DataView.prototype, 'byteLength')!;
const arrayBufferByteLength = builtinGetter<number>(ArrayBuffer.prototype, 'byteLength')!;
const sharedByteLength = builtinGetter<number>(SharedArrayBuffer.prototype, 'byteLength')!;
// Resizable ArrayBuffers: V8 shrinks them in place with a madvise the kernel
// refuses on locked pages, and then aborts the process.
const arrayBufferResizable = builtinGetter<boolean>(ArrayBuffer.prototype, 'resizable');
// undefined for anything but a TypedArray, and inlined by the JIT, where
// util.types.isDataView is a call into C++ (on every lock and release).
const typedArrayTag = builtinGetter<string | undefined>(TypedArrayPrototype, Symbol.toStringTag)!;

/** An ArrayBuffer.isView() value that is no TypedArray: a DataView. */
function isDataView(view: ArrayBufferView): view is DataView {
  return typedArrayTag.call(view) === undefined;
}

/** The ArrayBuffer or SharedArrayBuffer under a TypedArray or DataView. */
export function bufferOf(view: ArrayBufferView): ArrayBufferLike {
  return isDataView(view) ? dataViewBuffer.call(view) : typedArrayBuffer.call(view);
}

function viewByteLength(view: ArrayBufferView): number {
  return isDataView(view) ? dataViewByteLength.call(view) : typedArrayByteLength.call(view);
}

function bufferByteLength(buffer: ArrayBufferLike): number {
  return types.isSharedArrayBuffer(buffer) ? sharedByteLength.call(buffer) : arrayBufferByteLength.call(buffer);
}

/**
 * Checks `value` and returns what native code takes: a TypedArray or
 * DataView (an ArrayBuffer or SharedArrayBuffer is wrapped in a DataView).
 * With `index`, errors name `${name}[${index}]` (built only then).
 */
export function nativeView(value: unknown, name = 'view', index?: number): ArrayBufferView {
  if (ArrayBuffer.isView(value)) {
    if (viewByteLength(value) === 0) throw emptyView(argName(name, index), bufferOf(value));
    return value;
  }
  if (types.isAnyArrayBuffer(value)) {
    // Checked before wrapping: no view can be made over a detached buffer.
    if (bufferByteLength(value) === 0) throw emptyView(argName(name, index), value);
    // A DataView, not a Uint8Array: typed arrays stop at 4 GiB in Node 20.
    return new DataView(value);
  }
  throw invalidArgType(argName(name, index), EXPECTED, value);
}

function argName(name: string, index: number | undefined): string {
  return index === undefined ? name : `${name}[${index}]`;
}

/**
 * Throws for a resizable ArrayBuffer under memory about to be locked (pass
 * `shared` when the caller knows it: asking costs a call into C++).
 */
export function refuseResizable(
  buffer: ArrayBufferLike,
  name = 'view',
  shared = types.isSharedArrayBuffer(buffer),
): void {
  if (!shared && arrayBufferResizable?.call(buffer) === true) {
    throw invalidArgValue(
      name,
      'is backed by a resizable ArrayBuffer, which cannot be locked: shrinking it would free locked pages ' +
        '(a growable SharedArrayBuffer only grows, and can be locked)',
    );
  }
}

function emptyView(name: string, buffer: ArrayBufferLike): TypeError {
  return invalidArgValue(name, binding.isDetached(buffer) ? 'is detached' : 'must not be empty');
}
