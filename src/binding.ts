// The one place the native addon is loaded. Its surface is typed here; the
// rest of the package never sees an untyped value from native code.
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import nodeGypBuild from 'node-gyp-build';

/** Names of the native `Syscall` enum (locker.h), by value. */
export const SYSCALL_NAMES = [
  'none', 'mlock', 'mlock2', 'munlock', 'mmap', 'mprotect', 'madvise', 'mlockall', 'munlockall',
] as const;

/** Native results below zero that are not errnos. */
export const LIMIT_EXCEEDED = -1000001;

export interface NativeStats {
  lockedPages: number;
  stickyPages: number;
  limitPages: number;
  heldLocks: number;
}

export interface NativeSecretStats {
  live: number;
  slabs: number;
  dedicated: number;
  mappedBytes: number;
  unlockedBytes: number;
  checkedUnmaps: number;
  dirtyUnmaps: number;
}

export interface NativeLockInfo {
  id: number;
  /** The locked view's first byte and length. */
  address: number;
  length: number;
  /** First byte of its first page. */
  start: number;
  pages: number;
  onFault: boolean;
  /** worker_threads.threadId of the thread that took it; -1 for memlock's own (secret memory). */
  threadId: number;
  /** Taken by the calling thread. */
  own: boolean;
  /** The highest count among its pages. */
  count: number;
  label: string;
  stack: string;
}

export interface ForkProbeReport {
  lockedPages: number;
  heldLocks: number;
  vmLckKb: number;
}

/** Indices of a paging sample's slots (native/paging_sample.h), and how many there are. */
export interface PagingSlots {
  readonly threadMajor: number;
  readonly threadMinor: number;
  readonly threadCpuUs: number;
  readonly threadVoluntary: number;
  readonly threadInvoluntary: number;
  readonly runNs: number;
  readonly waitNs: number;
  readonly processMajor: number;
  readonly processMinor: number;
  readonly someTotalUs: number;
  readonly fullTotalUs: number;
  readonly timeMs: number;
  readonly count: number;
}

/** Layouts of the paging monitor's events (native/paging_binding.cc). */
export interface PagingLayout {
  readonly slots: PagingSlots;
  /** Event kinds. */
  readonly eventWake: number;
  readonly eventStall: number;
  /** A wake: CLOCK_MONOTONIC ms, the PSI totals then (NaN for a FIFO), errno (non-zero: the watch ended). */
  readonly wakeTime: number;
  readonly wakeSome: number;
  readonly wakeFull: number;
  readonly wakeErrno: number;
  /** A stall: its window (monotonic ms), the stalled iteration's busy time, idle time in the window, and the two samples. */
  readonly stallStart: number;
  readonly stallEnd: number;
  readonly stallBusy: number;
  readonly stallIdle: number;
  /** When the PSI totals in the `before` sample were read (they are read at most every 500 ms). */
  readonly stallPsiStart: number;
  readonly stallBefore: number;
  readonly stallAfter: number;
}

export interface PagingWatchOptions {
  /** A PSI trigger fd (trigger: true) or a systemd FIFO (false), or -1. */
  triggerFd: number;
  trigger: boolean;
  stallThresholdMs: number;
  sampleEveryMs: number;
  /** This thread's /proc/thread-self/schedstat, and the pressure file sampled, or -1. */
  schedFd: number;
  psiFd: number;
}

/** A running native paging monitor; only pagingUnwatch takes it. */
export type PagingWatchHandle = { readonly __pagingWatch: unique symbol };

/** Called on the JavaScript thread with an event kind and its Float64Array (see PagingLayout). */
export type PagingEvent = (kind: number, data: Float64Array) => void;

/** What the addon exports. Views are always a TypedArray or DataView. */
export interface NativeBinding {
  readonly pageSize: number;
  readonly physicalPages: number;
  /** Secondary results of the last lock / residentPages call (see binding.cc). */
  readonly scratch: Float64Array;
  /**
   * A lock id (> 0), -errno, or LIMIT_EXCEEDED; scratch = [pages, newly
   * sticky pages, failed syscall]. `tag` comes back from releaseLatest.
   */
  lock(view: ArrayBufferView, onFault: boolean, tag: number, keyBuffer: ArrayBuffer | undefined): number;
  /**
   * 0 released, 1 not held, -errno if munlock was refused. Unless refused,
   * clears keyBuffer's detach key (see src/guard.ts).
   */
  release(id: number, keyBuffer: ArrayBuffer | undefined): number;
  /** Sets or clears the buffer's detach key ('key' mode; a no-op otherwise). */
  setDetachKey(buffer: ArrayBuffer, on: boolean): void;
  /** Clears every detach key this thread set (at its exit). */
  clearDetachKeys(): void;
  /** How JavaScript is kept from detaching locked memory: see src/guard.ts. */
  readonly detachGuard: 'key' | 'mark';
  /** The id released (> 0), 0 if none is held on these bytes, or -errno; scratch[0] = its tag. */
  releaseLatest(view: ArrayBufferView): number;
  isHeld(id: number): boolean;
  counts(view: ArrayBufferView): Uint16Array;
  /** Resident pages by mincore, or -errno. */
  residentPages(view: ArrayBufferView): number;
  addressOf(view: ArrayBufferView): number;
  isDetached(buffer: unknown): boolean;
  stats(): NativeStats;
  getLimit(): number;
  setLimit(pages: number): void;
  /** Lines of /proc/self/maps, counted without allocating (works at vm.max_map_count), or -errno. */
  mappingCount(): number;
  /** [soft, hard] in bytes (-1 = unlimited), or -errno. */
  memlockRlimit(): [number, number] | number;
  /** Bare mlock of the covered pages, bypassing the table (benchmarks, tests): 0 or -errno. */
  rawMlock(view: ArrayBufferView): number;
  /** Bare munlock of the covered pages, bypassing the table: 0 or -errno. */
  rawMunlock(view: ArrayBufferView): number;
  /** Test hook: forks in native code and reports the child's table and VmLck. */
  forkProbe(): ForkProbeReport;
  /**
   * A secret of `size` bytes (flags: 1 guarded, 2 lock required, 4 drop on
   * fork): a Buffer, or in 'key' mode an ArrayBuffer to wrap in one; or
   * -errno / LIMIT_EXCEEDED; scratch = [locked, lock error, failed syscall].
   */
  allocSecret(size: number, flags: number): Buffer | ArrayBuffer | number;
  /** 0 freed, 2 freed and a slab is empty (trimSecrets), 1 not a live secret. */
  freeSecret(buffer: Buffer): number;
  trimSecrets(): void;
  secretStats(): NativeSecretStats;
  /** Test hook: verify (and count) that memory is zero before it is unmapped. */
  setVerifyWipe(on: boolean): void;
  /** Test hook: a child forked in native code reads the view's bytes. */
  forkReadBytes(view: ArrayBufferView): { status: number; bytes: Buffer };
  /** mlockall behind memlock's madvise hook (flags: 1 current, 2 future, 4 on fault): 0 or -errno. */
  lockAll(flags: number): number;
  /** munlockall, then counted pages locked again: 0 or -errno; scratch[2] = failed syscall. */
  unlockAll(): number;
  lockAllFlags(): number;
  madviseHookCounts(): { retriedLocked: number; retriedUnlock: number; failed: number };
  /** Test hook, only with MEMLOCK_TEST_HOOKS=1 at load: bare mlockall, no protection. */
  rawLockAll?(flags: number): number;
  /** Fault-injection builds only (CMake target memlock_faults): the nth call of a syscall fails. */
  injectFault?(syscall: number, nth: number, errno: number): void;
  /** Fault-injection builds only: disarms, and says how many injected failures fired. */
  clearFault?(): number;
  /** Test hook, only with MEMLOCK_TEST_HOOKS=1 at load: act as a kernel before 5.18. */
  forceMadviseFallback?(on: boolean): void;
  setThreadId(threadId: number): void;
  annotate(id: number, label: string, stack: string): void;
  locks(): NativeLockInfo[];
  /** [address, bytes, ...] of every run of pages with a count > 0. */
  lockedRuns(): Float64Array;
  /** Test hook, only with MEMLOCK_TEST_HOOKS=1 at load: writes a byte at view + offset. */
  pokeByte?(view: ArrayBufferView, offset: number): void;
  readonly pagingLayout: PagingLayout;
  /**
   * Fills out (pagingLayout.slots.count doubles; NaN where not available):
   * this thread's faults, CPU and context switches (getrusage RUSAGE_THREAD),
   * its schedstat run and wait times (schedFd, or -1), the process's faults,
   * the memory PSI totals (psiFd, or -1) and CLOCK_MONOTONIC in ms.
   */
  pagingSample(out: Float64Array, schedFd: number, psiFd: number): void;
  /**
   * Starts a native monitor on this thread's event loop (and a watcher
   * thread when triggerFd >= 0): a handle, or -errno. Every fd is
   * duplicated; the caller closes its own.
   */
  pagingWatch(options: PagingWatchOptions, onEvent: PagingEvent): PagingWatchHandle | number;
  /** Stops it: joins the watcher thread, closes the loop watch; idempotent. */
  pagingUnwatch(handle: PagingWatchHandle): void;
}

const FUNCTIONS = [
  'lock', 'release', 'releaseLatest', 'isHeld', 'setDetachKey', 'clearDetachKeys', 'counts', 'residentPages', 'addressOf',
  'isDetached', 'stats', 'getLimit', 'setLimit', 'memlockRlimit', 'mappingCount', 'forkProbe', 'rawMlock', 'rawMunlock',
  'allocSecret', 'freeSecret', 'trimSecrets', 'secretStats', 'setVerifyWipe', 'forkReadBytes',
  'setThreadId', 'annotate', 'locks', 'lockedRuns', 'lockAll', 'unlockAll', 'lockAllFlags', 'madviseHookCounts',
  'pagingSample', 'pagingWatch', 'pagingUnwatch',
] as const satisfies readonly (keyof NativeBinding)[];

// A stale build/ or prebuild from another version fails here, at load, with
// a message that says so, rather than later with "x is not a function".
function checkBinding(addon: unknown): asserts addon is NativeBinding {
  const record = addon as Record<string, unknown> | null;
  const missing: string[] = FUNCTIONS.filter((name) => typeof record?.[name] !== 'function');
  if (typeof record?.['pageSize'] !== 'number') missing.push('pageSize');
  if (!(record?.['scratch'] instanceof Float64Array)) missing.push('scratch');
  if (typeof record?.['pagingLayout'] !== 'object' || record['pagingLayout'] === null) missing.push('pagingLayout');
  if (record?.['detachGuard'] !== 'key' && record?.['detachGuard'] !== 'mark') missing.push('detachGuard');
  if (missing.length > 0) {
    throw new Error(`memlock: the native addon is out of date (missing ${missing.join(', ')}); rebuild it with "npm run build"`);
  }
}

// MEMLOCK_ADDON names another build of the addon (the sanitizer and
// fault-injection builds of CMakeLists.txt); normally node-gyp-build finds
// the prebuild or the node-gyp build.
const override = process.env['MEMLOCK_ADDON'];
const addon: unknown = override ? require(path.resolve(override)) : nodeGypBuild(path.join(__dirname, '..'));
checkBinding(addon);
// The addon's exports object is in V8's dictionary mode (its properties were
// added one by one from C++), so every load from it was a hash lookup: ~30 ns
// per lock(). A copy made by spread has fast properties.
export const binding: NativeBinding = { ...addon };
binding.setThreadId(threadId);
