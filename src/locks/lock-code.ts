// lockCode(): a counted lock on every file-backed executable mapping of the
// process (node itself, shared libraries, addons), for services that cannot
// lock everything but must not take major faults in their own code.
import { realpathSync } from 'node:fs';
import { binding, SCRATCH } from '../binding';
import { unsupported } from '../capabilities';
import { checkInternal, INTERNAL, invalidArgType } from '../errors';
import { readProcFile } from '../proc';
import { nativeFailure } from '../native-failure';

export interface CodeMapping {
  /** The file mapped (node, a shared library, an addon). */
  path: string;
  /** Its first byte's address, and its size. */
  start: number;
  bytes: number;
}

export interface LockCodeOptions {
  /** A name shown by locks() (each mapping's lock adds its file). Default 'memlock: code'. */
  label?: string;
}

/** Counted locks on the executable file mappings there were at lockCode(). */
export class CodeLock implements Disposable {
  /** Bytes locked: the sum of the mappings' sizes. */
  readonly bytes: number;
  readonly mappings: readonly CodeMapping[];
  readonly #ids: Float64Array;
  #released = false;

  /** @internal Made by lockCode(); `new CodeLock()` throws ERR_ILLEGAL_CONSTRUCTOR. */
  constructor(token: typeof INTERNAL, ids: Float64Array, mappings: CodeMapping[]) {
    checkInternal(token, 'CodeLock', 'lockCode()');
    this.#ids = ids;
    this.mappings = Object.freeze(mappings.map((m) => Object.freeze(m)));
    this.bytes = mappings.reduce((sum, m) => sum + m.bytes, 0);
  }

  get released(): boolean {
    return this.#released;
  }

  /**
   * Subtracts 1 from the count of every page locked; pages reaching 0 are
   * unlocked. Releasing twice is harmless. If a munlock is refused, the other
   * locks are still released and the first error is thrown.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    let failed: { rc: number; bytes: number } | undefined;
    this.#ids.forEach((id, i) => {
      const rc = binding.release(id);
      if (rc < 0 && failed === undefined) failed = { rc, bytes: this.mappings[i]!.bytes };
    });
    if (failed !== undefined)
      throw nativeFailure({ operation: 'release', result: failed.rc, syscall: 'munlock', bytes: failed.bytes });
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * The executable mappings in /proc/self/maps now: file-backed ones, and
 * node's own text where --use-largepages moved it onto anonymous huge pages
 * (an anonymous executable mapping within the span of node's file mappings).
 */
export function codeMappings(): CodeMapping[] {
  const file: (CodeMapping & { base: number })[] = [];
  const anonymous: CodeMapping[] = [];
  for (const line of readProcFile('/proc/self/maps').split('\n')) {
    const match = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ \S+\s*(.*)$/.exec(line);
    if (match === null || match[3]![2] !== 'x') continue;
    const start = parseInt(match[1]!, 16);
    const bytes = parseInt(match[2]!, 16) - start;
    const path = match[5]!.replace(/ \(deleted\)$/, '');
    if (path.startsWith('/')) file.push({ path, start, bytes, base: start - parseInt(match[4]!, 16) });
    else if (path === '') anonymous.push({ path, start, bytes });
  }
  const mappings: CodeMapping[] = file.map(({ path, start, bytes }) => ({ path, start, bytes }));
  // The executable as the loader mapped it: its segments share one load
  // base (address minus file offset); V8's copies of its builtins elsewhere
  // do not.
  const node = file.filter((m) => m.path === process.execPath || m.path === realExecPath());
  if (node.length === 0) return mappings;
  const image = node.filter((m) => m.base === node[0]!.base);
  const from = Math.min(...image.map((m) => m.start));
  const to = Math.max(...image.map((m) => m.start + m.bytes));
  const remapped = anonymous
    .filter((m) => m.start >= from && m.start + m.bytes <= to)
    .map((m) => ({ ...m, path: `${node[0]!.path} (text on huge pages)` }));
  return [...mappings, ...remapped].sort((a, b) => a.start - b.start);
}

let realPath: string | undefined;
function realExecPath(): string {
  realPath ??= realpathSync(process.execPath);
  return realPath;
}

/**
 * Locks every file-backed executable mapping the process has now (a counted
 * lock each, all or none): the code of node, its shared libraries and loaded
 * addons stays in RAM. Not covered: the JavaScript heap, JIT code (V8's
 * anonymous code space), and code loaded after the call.
 *
 * Code that belongs to one thread (a worker's copy of V8's builtins) is
 * locked while it exists: when the worker exits and its code is unmapped,
 * those locks leave the table (the kernel unlocked the pages), and
 * `release()` passes over them.
 */
export function lockCode(options?: LockCodeOptions): CodeLock {
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw invalidArgType('options', 'of type object', options);
  }
  const label = options?.label ?? 'memlock: code';
  if (typeof label !== 'string') throw invalidArgType('options.label', 'of type string', label);
  if (!binding.platform.kernelAccount) {
    throw unsupported(
      'lockCode()',
      'it finds the executable mappings in /proc/self/maps, which is Linux-only; lock() or allocPinned() what must stay resident',
    );
  }
  const mappings = codeMappings();
  const ranges = new Float64Array(mappings.length * 2);
  mappings.forEach((m, i) => {
    ranges[2 * i] = m.start;
    ranges[2 * i + 1] = m.start + m.bytes;
  });
  const ids = binding.lockRanges(
    ranges,
    mappings.map((m) => `${label} ${m.path}`),
  );
  if (typeof ids === 'number') throw lockCodeFailure(ids, mappings);
  // Id 0: the mapping was gone by the time it was to be locked (a worker's
  // code, unmapped as the worker exited): not locked, not listed.
  const kept = mappings.filter((_, i) => ids[i]! > 0);
  return new CodeLock(
    INTERNAL,
    ids.filter((id) => id > 0),
    kept,
  );
}

function lockCodeFailure(rc: number, mappings: CodeMapping[]): Error {
  const refused = mappings[binding.scratch[SCRATCH.failedRange]!];
  const total = mappings.reduce((sum, m) => sum + m.bytes, 0);
  const pages = Math.ceil(total / binding.pageSize);
  return nativeFailure({
    operation: 'lockCode',
    result: rc,
    syscall: 'mlock',
    bytes: total,
    // Every page of the mappings (some may be locked already).
    limit: {
      pages,
      newPages: pages,
      what: " of the process's code",
      label: 'memlock: code',
      remedy: 'release some or raise it with setLockablePageLimit()',
    },
    ...(refused === undefined ? {} : { detail: `(refused at ${refused.path}; nothing is left locked)` }),
  });
}
