// The one place the native addon is loaded. Its surface is typed here; the
// rest of the package never sees an untyped value from native code.
import { statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import nodeGypBuild from 'node-gyp-build';

/** The numbers native code shares with TypeScript (native/core/shared_numbers.h). */
export interface SharedNumbers {
  /** Names of the native Syscall enum, by value. */
  readonly syscalls: readonly string[];
  /** Slots of `scratch`, each named for what it carries. */
  readonly scratch: {
    readonly pages: number;
    readonly tag: number;
    readonly locked: number;
    readonly newlySticky: number;
    readonly lockError: number;
    readonly failedSyscall: number;
    readonly mappings: number;
    readonly mapCap: number;
    readonly mapMargin: number;
    readonly lockPages: number;
    readonly mappedBytes: number;
    readonly failedRange: number;
    readonly serial: number;
    readonly backend: number;
    /** allocPinned: 1 if the buffer is in V8's memory (its sandbox refused external buffers). */
    readonly inV8Heap: number;
    readonly fallbackError: number;
    readonly fallbackSyscall: number;
  };
  readonly lockAll: { readonly current: number; readonly future: number; readonly onFault: number };
  readonly secret: {
    readonly guarded: number;
    readonly requireLock: number;
    readonly dropOnFork: number;
    /** Backend bits (neither: 'auto'). */
    readonly backendSecretMem: number;
    readonly backendMlock: number;
    /** scratch.backend's value for a secret on memfd_secret memory. */
    readonly onSecretMem: number;
    /** scratch.backend's value for a secret in V8's memory (V8's sandbox refused external buffers). */
    readonly onV8Heap: number;
    /** protectSecret's access values. */
    readonly accessNone: number;
    readonly accessRead: number;
    readonly accessReadWrite: number;
    /** protectSecret's result for a pooled secret (its pages are shared). */
    readonly protectShared: number;
    /** allocSecret's result when an explicit secretmem backend cannot be had. */
    readonly secretMemUnavailable: number;
  };
  /** hardenProcess flags. */
  readonly harden: { readonly noCore: number; readonly notDumpable: number; readonly clearPtracer: number };
  readonly pinned: { readonly onFault: number; readonly prefault: number; readonly dropOnFork: number };
  /** Native results below zero that are not errnos. */
  readonly results: { readonly limitExceeded: number; readonly mapCountExceeded: number };
  /** locks()'s row layout. */
  readonly lockFields: LockFields;
  /** The paging monitor's sample slots and event layouts. */
  readonly paging: PagingLayout;
}

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
  secretmemLive: number;
  secretmemBytes: number;
  /** Secrets in V8's memory (backend 'v8-heap'), not the pool's: not in live. */
  v8HeapLive: number;
  v8HeapBytes: number;
}

/**
 * Every held lock, oldest first: `rows` holds numbers.lockFields.fieldCount
 * numbers per lock (address, length, start, pages, count, threadId, flags:
 * flagOnFault, flagOwn = taken by the calling thread, id); `notes` holds
 * [row, label (undefined: none; '' is a label), stack ('' when not captured), ...]
 * for the locks that have either.
 */
export interface NativeLockTable {
  rows: Float64Array;
  notes: (number | string | undefined)[];
  /** The sequence (taking order) of the last row: the next page's `after`. */
  last: number;
  /** More locks follow the last row (a page was asked for and filled). */
  more: boolean;
}

/** Columns of NativeLockTable rows and its flag bits (native/core/shared_numbers.h). */
export interface LockFields {
  readonly address: number;
  readonly length: number;
  readonly start: number;
  readonly pages: number;
  readonly count: number;
  readonly threadId: number;
  readonly flags: number;
  readonly id: number;
  readonly fieldCount: number;
  readonly flagOnFault: number;
  readonly flagOwn: number;
}

/** Indices of a paging sample's slots (native/paging/paging_sample.h), and how many there are. */
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

/** Layouts of the paging monitor's samples and events (native/core/shared_numbers.h). */
export interface PagingLayout {
  readonly slots: PagingSlots;
  /** Event kinds. */
  readonly eventWake: number;
  readonly eventStall: number;
  readonly eventCounter: number;
  /** A counter: CLOCK_MONOTONIC ms, which of counterFds fired, the count read from its eventfd. */
  readonly counterTime: number;
  readonly counterIndex: number;
  readonly counterCount: number;
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
  /** Counter eventfds (cgroupEventfd), at most 8; each wake delivers its count. */
  counterFds?: number[];
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

/** What the platform's kernel offers (native/platform/platform.h Features). */
export interface PlatformFeatures {
  readonly backend: 'linux' | 'posix' | 'win32';
  readonly onFault: boolean;
  readonly lockAll: boolean;
  readonly dontDump: boolean;
  readonly wipeOnFork: boolean;
  readonly dropOnFork: boolean;
  readonly guardPages: boolean;
  readonly residency: boolean;
  readonly kernelAccount: boolean;
  readonly hugePages: boolean;
  readonly fork: boolean;
}

/** What the addon exports. Views are always a TypedArray or DataView. */
export interface NativeBinding {
  readonly numbers: SharedNumbers;
  readonly platform: PlatformFeatures;
  readonly pageSize: number;
  readonly physicalPages: number;
  /**
   * Secondary results of the last lock / allocSecret / residentPages call
   * (see binding.cc); after MAP_COUNT_EXCEEDED, [3] the mappings counted,
   * [4] vm.max_map_count, [5] the margin memlock keeps below it.
   */
  readonly scratch: Float64Array;
  /**
   * A lock id (> 0), -errno, LIMIT_EXCEEDED or MAP_COUNT_EXCEEDED; scratch =
   * [pages, newly sticky pages, failed syscall, ...]. `tag` comes back from releaseLatest.
   */
  lock(view: ArrayBufferView, onFault: boolean, tag: number, shared: boolean): number;
  /**
   * Locks views[0..count) all or none: count, or -errno, LIMIT_EXCEEDED or
   * MAP_COUNT_EXCEEDED with the refused view's index in scratch[0]. `io`,
   * three numbers a view: in [tag, shared (1/0), -], out [id, pages, newly
   * sticky pages] (after a refusal, the refused view's pages at its [1]).
   */
  lockMany(views: ArrayBufferView[], count: number, onFault: boolean, io: Float64Array): number;
  /** Releases ids[0..count) (skipping those not held): 0, or -errno with the refused lock's index in scratch[0]. */
  releaseMany(ids: Float64Array, count: number): number;
  /** 0 released, 1 not held, -errno if munlock was refused. */
  release(id: number): number;
  /** The id released (> 0), 0 if none is held on these bytes, or -errno; its tag in scratch. */
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
  /**
   * A secret of `size` bytes (flags: 1 guarded, 2 lock required, 4 drop on
   * fork): a Buffer; or -errno / LIMIT_EXCEEDED / MAP_COUNT_EXCEEDED; the
   * rest in scratch (its serial; after LIMIT_EXCEEDED: the pages of the new
   * mapping it tried to lock).
   */
  allocSecret(size: number, flags: number): Buffer | number;
  /** 0 wiped in place, 1 freed already: free() of a secret whose memory moved out of its Buffer. */
  wipeMovedSecret(address: number, serial: number): number;
  /** 0 freed, 2 freed and a slab is empty (trimSecrets), 1 not a live secret. */
  freeSecret(buffer: Buffer): number;
  trimSecrets(): void;
  secretStats(): NativeSecretStats;
  /** mprotect of a secret with pages of its own: 0, -errno, numbers.secret.protectShared, or -ENOENT. */
  protectSecret(buffer: Buffer, access: number): number;
  /** Whether 'auto' would use secretmem now: 0, or -errno with the refused syscall in scratch.fallbackSyscall. */
  probeSecretMemory(): number;
  /** 1 once V8 refused external buffers (its sandbox): secrets and pinned buffers are in V8's memory; else 0. */
  v8Sandbox(): number;
  /**
   * RLIMIT_CORE 0, PR_SET_DUMPABLE 0, PR_SET_PTRACER 0 as the flags ask:
   * [core, dumpable, ptracer] each 0, -errno or 1 (not asked), then PR_GET_DUMPABLE (or -errno).
   */
  hardenProcess(flags: number): [number, number, number, number];
  /**
   * A pinned buffer of `size` bytes (flags: numbers.pinned), on hugetlb
   * pages of `hugetlbPage` bytes or aligned to `thpAlign` for transparent
   * huge pages (0: neither): a Buffer; or -errno / LIMIT_EXCEEDED / MAP_COUNT_EXCEEDED with nothing left
   * mapped. Bytes mapped, or the failed syscall, in scratch.
   */
  allocPinned(size: number, flags: number, hugetlbPage: number, thpAlign: number, label: string): Buffer | number;
  /** 0 freed (the Buffer is detached), 1 not a live pinned buffer of this thread. */
  freePinned(buffer: Buffer): number;
  pinnedStats(): { live: number; mappedBytes: number };
  /**
   * One lock per [start, end) pair (whole pages), each labelled, all or
   * none: their ids (0 for a range no longer mapped), or -errno / LIMIT_EXCEEDED / MAP_COUNT_EXCEEDED with
   * the refused range's index and syscall in scratch.
   */
  lockRanges(ranges: Float64Array, labels: string[]): Float64Array | number;
  /** mlockall behind memlock's madvise hook (flags: 1 current, 2 future, 4 on fault): 0 or -errno. */
  lockAll(flags: number): number;
  /**
   * Ends whole-process locking without unlocking a counted page (locker.h):
   * 0, or -errno with nothing changed; the failed syscall in scratch.
   */
  unlockAll(): number;
  lockAllFlags(): number;
  madviseHookCounts(): { retriedLocked: number; retriedUnlock: number; failed: number };
  setThreadId(threadId: number): void;
  annotate(id: number, label: string | undefined, stack: string): void;
  /** The held locks, oldest first: those taken after sequence `after` (all when < 0), at most `limit` (all when < 0). */
  locks(after?: number, limit?: number): NativeLockTable;
  /**
   * [address, bytes, ...] of every counted run the kernel does not have
   * locked (smaps VmFlags), compared under the table's mutex; or -errno.
   * Pages counted in scratch.
   */
  verify(): Float64Array | number;
  /**
   * Fills out (numbers.paging.slots.count doubles; NaN where not available):
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
  /**
   * A cgroup v1 notification: a new eventfd registered by writing
   * "<eventfd> <targetFd> <args>" to cgroup.event_control (controlFd): the
   * eventfd, or -errno. The caller closes it (that ends the registration).
   */
  cgroupEventfd(controlFd: number, targetFd: number, args: string): number;
}

/** Every function the addon exports: the API's needs and nothing else. */
export const NATIVE_FUNCTIONS = [
  'lock',
  'release',
  'releaseLatest',
  'isHeld',
  'counts',
  'residentPages',
  'addressOf',
  'isDetached',
  'stats',
  'getLimit',
  'setLimit',
  'memlockRlimit',
  'mappingCount',
  'allocSecret',
  'freeSecret',
  'wipeMovedSecret',
  'trimSecrets',
  'secretStats',
  'protectSecret',
  'probeSecretMemory',
  'v8Sandbox',
  'hardenProcess',
  'allocPinned',
  'freePinned',
  'pinnedStats',
  'lockRanges',
  'lockMany',
  'releaseMany',
  'setThreadId',
  'annotate',
  'locks',
  'verify',
  'lockAll',
  'unlockAll',
  'lockAllFlags',
  'madviseHookCounts',
  'pagingSample',
  'pagingWatch',
  'pagingUnwatch',
  'cgroupEventfd',
] as const satisfies readonly (keyof NativeBinding)[];

// A stale build/ or prebuild from another version fails here, at load, with
// a message that says so, rather than later with "x is not a function".
function checkBinding(addon: unknown): asserts addon is NativeBinding {
  const record = addon as Record<string, unknown> | null;
  const missing: string[] = NATIVE_FUNCTIONS.filter((name) => typeof record?.[name] !== 'function');
  if (typeof record?.['pageSize'] !== 'number') missing.push('pageSize');
  if (typeof record?.['numbers'] !== 'object') missing.push('numbers');
  if (typeof record?.['platform'] !== 'object') missing.push('platform');
  if (!(record?.['scratch'] instanceof Float64Array)) missing.push('scratch');
  if (missing.length > 0) {
    throw new Error(
      `memlock: the native addon is out of date (missing ${missing.join(', ')}); rebuild it with "npm run build"`,
    );
  }
}

/**
 * The addon to load. Normally node-gyp-build finds the prebuild for this
 * platform or the build made at install. MEMLOCK_NATIVE_BINDING names
 * another build instead (an absolute path to a .node file: the testing and
 * sanitizer builds of CMakeLists.txt, or your own), as better-sqlite3's
 * `nativeBinding` option does; it must load and offer the whole API, be a
 * file, belong to root or this user, and be writable by no one else.
 */
function loadAddon(): unknown {
  const chosen = process.env['MEMLOCK_NATIVE_BINDING'];
  if (chosen === undefined || chosen === '') return nodeGypBuild(path.join(__dirname, '..'));
  const refuse = (why: string): never => {
    throw Object.assign(new Error(`memlock: MEMLOCK_NATIVE_BINDING ${why}`), { code: 'ERR_MEMLOCK_NATIVE_BINDING' });
  };
  if (!path.isAbsolute(chosen) || path.extname(chosen) !== '.node') {
    refuse(`must be the absolute path of a .node file, not ${JSON.stringify(chosen)}`);
  }
  // Native code runs with the process's rights: only a file that no other
  // user could have put there or changed, as sudo checks its plugins.
  let stat: Stats;
  try {
    stat = statSync(chosen);
  } catch (error) {
    return refuse(`names ${chosen}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const uid = process.getuid?.();
  if (!stat.isFile()) refuse(`names ${chosen}, which is not a file`);
  if (uid !== undefined && stat.uid !== 0 && stat.uid !== uid)
    refuse(`names ${chosen}, owned by another user (uid ${stat.uid})`);
  if (process.platform !== 'win32' && (stat.mode & 0o022) !== 0) refuse(`names ${chosen}, which others may write to`);
  return require(chosen);
}

const addon = loadAddon();
checkBinding(addon);
// The addon's exports object is in V8's dictionary mode (its properties were
// added one by one from C++), so every load from it was a hash lookup: ~30 ns
// per lock(). A copy made by spread has fast properties.
export const binding: NativeBinding = { ...addon };
binding.setThreadId(threadId);

/** Names of the native Syscall enum, by value. */
export const SYSCALL_NAMES = binding.numbers.syscalls;
/** Which scratch slot carries what. */
export const SCRATCH = binding.numbers.scratch;
/** Refused by the lockable-page limit. */
export const LIMIT_EXCEEDED = binding.numbers.results.limitExceeded;
/** Refused: too few mappings would be left below vm.max_map_count (the figures in scratch). */
export const MAP_COUNT_EXCEEDED = binding.numbers.results.mapCountExceeded;
