// Errors: Node-style argument errors (TypeError / RangeError with Node's
// codes) and MemlockError for everything else.
import { inspect } from 'node:util';

/**
 * Every code memlock itself gives a MemlockError, as in docs/errors.md's
 * table (test/errors-table.test.ts checks that the union, the table and
 * the codes src/ throws agree).
 */
export type MemlockLibraryCode =
  | 'ERR_MEMLOCK_LIMIT'
  | 'ERR_MEMLOCK_MAPPINGS'
  | 'ERR_MEMLOCK_NOT_LOCKED'
  | 'ERR_MEMLOCK_UNSUPPORTED'
  | 'ERR_MEMLOCK_HUGE_PAGES'
  | 'ERR_MEMLOCK_BUFFER_HELD'
  | 'ERR_MEMLOCK_NATIVE_BINDING'
  | 'ERR_MEMLOCK_METRICS_CONFLICT'
  | 'ERR_MEMLOCK_PROC_FORMAT'
  | 'ERR_MEMLOCK_SECRETMEM_UNAVAILABLE'
  | 'ERR_MEMLOCK_SECRET_POOLED';

/** An errno name, as Node's SystemError gives it (ENOMEM, EPERM, ...): what the kernel refused with. */
export type SystemErrorCode = `E${Uppercase<string>}`;

/** A MemlockError's code: one of memlock's own, or the errno the kernel refused with. */
export type MemlockErrorCode = MemlockLibraryCode | SystemErrorCode;

/** An errno name as a SystemErrorCode ('EUNKNOWN' for what is not one: "Unknown system error -n"). */
export function systemCode(name: string): SystemErrorCode {
  return /^E[A-Z0-9]+$/.test(name) ? (name as SystemErrorCode) : 'EUNKNOWN';
}

export interface MemlockErrorOptions {
  code: MemlockErrorCode;
  /** Negative errno, as in Node's SystemError (-12 for ENOMEM). */
  errno?: number;
  syscall?: string;
}

/** Every failure that is not a bad argument. OS failures carry errno and syscall. */
export class MemlockError extends Error {
  readonly code: MemlockErrorCode;
  readonly errno?: number;
  readonly syscall?: string;

  constructor(message: string, options: MemlockErrorOptions) {
    super(message);
    this.name = 'MemlockError';
    this.code = options.code;
    if (options.errno !== undefined) this.errno = options.errno;
    if (options.syscall !== undefined) this.syscall = options.syscall;
  }
}

type ArgErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE' | 'ERR_ILLEGAL_CONSTRUCTOR';

function withCode<E extends Error>(error: E, code: ArgErrorCode): E & { code: ArgErrorCode } {
  return Object.assign(error, { code });
}

/** How Node describes a received value in its argument errors. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return `Received ${value}`;
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = value.constructor?.name;
    return name ? `Received an instance of ${name}` : `Received ${inspect(value, { depth: -1 })}`;
  }
  return `Received type ${typeof value} (${inspect(value).slice(0, 28)})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  return withCode(
    new TypeError(`The "${name}" argument must be ${expected}. ${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

export function invalidArgValue(name: string, reason: string): TypeError {
  return withCode(new TypeError(`The argument '${name}' ${reason}`), 'ERR_INVALID_ARG_VALUE');
}

export function outOfRange(name: string, range: string, actual: unknown): RangeError {
  return withCode(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${inspect(actual)}`),
    'ERR_OUT_OF_RANGE',
  );
}

/** An option that is one of `allowed` strings, or `fallback` when undefined. */
export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
  if (!(allowed as readonly string[]).includes(value)) {
    throw invalidArgValue(name, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}. Received '${value}'`);
  }
  return value as T;
}

/** Passed by memlock's own code to the constructors of the handles it makes. */
export const INTERNAL: unique symbol = Symbol('memlock internal');

/** A handle class constructed by user code, as Node's own classes refuse it. */
export function checkInternal(token: unknown, name: string, maker: string): void {
  if (token !== INTERNAL) {
    throw withCode(
      new TypeError(`Illegal constructor: ${name} objects are made by ${maker}`),
      'ERR_ILLEGAL_CONSTRUCTOR',
    );
  }
}

/** A byte count for people (messages, the CLI): 64 MiB, 1.5 GiB, unlimited. */
export function formatBytes(bytes: number): string {
  if (bytes === Infinity) return 'unlimited';
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${Number(value.toFixed(1))} ${units[unit]}`;
}
