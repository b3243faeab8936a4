// What memlock holds and whether the kernel agrees: locks(), verify() and
// the diagnostics switches.
import { unsupported } from '../capabilities';
import { binding, SCRATCH, type NativeLockTable } from '../binding';
import { invalidArgType, outOfRange } from '../errors';
import { nativeFailure } from '../native-failure';

/** Diagnostics switches, read on the lock path. */
export interface DiagnosticsOptions {
  /** Record the stack that took each lock, for locks(). Costs a few microseconds per lock. Default false. */
  captureStacks?: boolean;
}

export const diagnosticsSettings = { captureStacks: false };

export function setDiagnostics(options: DiagnosticsOptions): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const { captureStacks } = options;
  if (captureStacks !== undefined && typeof captureStacks !== 'boolean') {
    throw invalidArgType('options.captureStacks', 'of type boolean', captureStacks);
  }
  if (captureStacks !== undefined) diagnosticsSettings.captureStacks = captureStacks;
}

export function getDiagnostics(): Required<DiagnosticsOptions> {
  return { ...diagnosticsSettings };
}

export interface LockInfo {
  /** The locked view's first byte and its length. */
  address: number;
  length: number;
  /** The page-rounded range the lock counts: [start, start + bytes). */
  start: number;
  bytes: number;
  pages: number;
  /** The highest lock count among its pages. */
  count: number;
  /** Some of its pages have saturated (count 65535) and stay locked for good. */
  sticky: boolean;
  onFault: boolean;
  /** worker_threads.threadId of the thread holding it; -1 for memlock's own secret memory. */
  threadId: number;
  label?: string;
  /** The stack that took it, when setDiagnostics({ captureStacks: true }) was on. */
  stack?: string;
}

/**
 * Every lock held in the process, by any thread, oldest first. With a
 * million locks it takes about a second and holds memlock's table for part
 * of it: see locksPage() and eachLock().
 */
export function locks(): LockInfo[] {
  return lockInfos(binding.locks());
}

export interface LocksPageOptions {
  /** The `next` of the previous page; null or absent: from the oldest lock. */
  after?: number | null;
  /** At most this many locks. Default 10,000. */
  limit?: number;
}

export interface LocksPage {
  /** Oldest first, all taken after `after`. */
  locks: LockInfo[];
  /** Pass as `after` for the next page; null when this page reached the newest lock. */
  next: number | null;
}

const DEFAULT_PAGE = 10_000;

/**
 * The held locks a page at a time, oldest first, so that listing a million
 * holds memlock's table for milliseconds at a time, not for a second. Each
 * page is a consistent snapshot; the walk is not: a lock taken during it is
 * listed in a later page, one released before its page is not listed.
 * stats() is the constant-time summary (held locks, locked pages).
 */
export function locksPage(options: LocksPageOptions = {}): LocksPage {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const { after = null, limit = DEFAULT_PAGE } = options;
  if (after !== null) {
    if (typeof after !== 'number') throw invalidArgType('options.after', 'of type number or null', after);
    if (!Number.isSafeInteger(after) || after < 0) {
      throw outOfRange('options.after', "a non-negative integer (a page's `next`)", after);
    }
  }
  if (typeof limit !== 'number') throw invalidArgType('options.limit', 'of type number', limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 2 ** 31) {
    throw outOfRange('options.limit', 'an integer from 1 to 2^31', limit);
  }
  const table = binding.locks(after ?? -1, limit);
  return { locks: lockInfos(table), next: table.more ? table.last : null };
}

/** Every held lock, oldest first, read a page at a time (options.limit, default 10,000): see locksPage(). */
export function* eachLock(options: { limit?: number } = {}): Generator<LockInfo, void, undefined> {
  let after: number | null = null;
  do {
    const page: LocksPage = locksPage({ ...options, after });
    yield* page.locks;
    after = page.next;
  } while (after !== null);
}

function lockInfos(table: NativeLockTable): LockInfo[] {
  const pageSize = binding.pageSize;
  const F = binding.numbers.lockFields;
  // Native hands over rows of numbers, oldest first: building a million
  // objects there took seconds, here a tenth of that.
  const { rows, notes } = table;
  const out = new Array<LockInfo>(rows.length / F.fieldCount);
  for (let i = 0, r = 0; i < out.length; i++, r += F.fieldCount) {
    const count = rows[r + F.count]!;
    out[i] = {
      address: rows[r + F.address]!,
      length: rows[r + F.length]!,
      start: rows[r + F.start]!,
      bytes: rows[r + F.pages]! * pageSize,
      pages: rows[r + F.pages]!,
      count,
      sticky: count === 0xffff,
      onFault: (rows[r + F.flags]! & F.flagOnFault) !== 0,
      threadId: rows[r + F.threadId]!,
    };
  }
  for (let n = 0; n < notes.length; n += 3) {
    const info = out[notes[n] as number]!;
    const label = notes[n + 1] as string | undefined;
    const stack = notes[n + 2] as string;
    if (label !== undefined) info.label = label;
    if (stack !== '') info.stack = stack;
  }
  return out;
}

export interface VerifyReport {
  /** True when every page memlock counts as locked is locked per the kernel. */
  ok: boolean;
  /** Pages memlock counts as locked. */
  countedPages: number;
  /** Of those, pages the kernel does not have locked (VmFlags without `lo`). */
  missingPages: number;
  missing: { address: number; bytes: number }[];
}

/**
 * Compares memlock's table with the kernel's (/proc/self/smaps VmFlags):
 * any page memlock counts as locked that the kernel does not is reported
 * (a bug, or something unlocked it behind memlock's back).
 *
 * The comparison runs natively with memlock's mutex held for one read of
 * smaps, so it is a consistent snapshot: no memlock call on any thread
 * changes the table or the kernel's locks between the two reads, and
 * threads that merely lock and release never make it report ok: false.
 */
export function verify(): VerifyReport {
  if (!binding.platform.kernelAccount) {
    throw unsupported(
      'verify()',
      "the kernel keeps no account of locked pages to compare with (/proc/self/smaps); lockCounts() and stats() give memlock's own",
    );
  }
  const pageSize = binding.pageSize;
  const result = binding.verify();
  if (typeof result === 'number') {
    throw nativeFailure({ operation: 'verify', result, syscall: 'open', bytes: 0 });
  }
  const countedPages = binding.scratch[SCRATCH.pages]!;
  const missing: { address: number; bytes: number }[] = [];
  let missingPages = 0;
  for (let i = 0; i < result.length; i += 2) {
    missing.push({ address: result[i]!, bytes: result[i + 1]! });
    missingPages += result[i + 1]! / pageSize;
  }
  return { ok: missingPages === 0, countedPages, missingPages, missing };
}
