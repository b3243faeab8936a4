// Pinned buffers: allocPinned() and the PinnedBuffer handle. Memory memlock
// maps itself for real-time use: page-aligned, on huge pages where asked,
// locked under a counted lock and resident on return (native/core/pinned_memory.h).
import { constants as bufferConstants } from 'node:buffer';
import { binding, MAP_COUNT_EXCEEDED, SCRATCH, SYSCALL_NAMES } from '../binding';
import { unsupported } from '../capabilities';
import {
  checkInternal,
  formatBytes,
  INTERNAL,
  invalidArgType,
  invalidArgValue,
  MemlockError,
  oneOf,
  outOfRange,
} from '../errors';
import { OwnedMemory } from './owned';
import { hugePageSupport, type HugePageSupport } from './huge-pages';
import { procMappings } from '../proc';
import { pinnedLosses, reportV8Sandbox, type V8SandboxLoss } from './v8-sandbox';
import { errnoName, nativeFailure } from '../native-failure';

/** The largest pinned buffer: the largest Buffer this Node line makes. */
export const MAX_PINNED_SIZE = bufferConstants.MAX_LENGTH;

export type HugePageKind = 'none' | 'transparent' | 'hugetlb';

export interface PinnedOptions {
  /**
   * 'off' (default): base pages. 'try': hugetlb pages from a pool with
   * enough free pages (largest size first, none larger than the buffer
   * needs), else transparent huge pages, else base pages. 'require': the
   * same without base pages; refused with ERR_MEMLOCK_HUGE_PAGES if the
   * kernel gives none.
   */
  hugePages?: 'off' | 'try' | 'require';
  /** Only huge pages of this many bytes (2 MiB, 1 GiB, ...). Default: any. */
  hugePageSize?: number;
  /**
   * Only from a hugetlb pool ('hugetlb') or only transparent huge pages
   * ('transparent'). Default 'any': a pool first, then transparent ones.
   */
  hugePageSource?: 'any' | 'hugetlb' | 'transparent';
  /**
   * Every page resident (and written once, so private) on return: the first
   * access costs what memory costs. Default true, unless onFault.
   */
  prefault?: boolean;
  /** Lock pages as they are first touched (mlock2 MLOCK_ONFAULT) instead. Default false. */
  onFault?: boolean;
  /**
   * What a fork()ed child gets: 'drop' (default, MADV_DONTFORK) nothing, so
   * the parent never takes copy-on-write faults on the buffer afterwards;
   * 'keep' a copy-on-write copy, as for any other memory.
   */
  onFork?: 'drop' | 'keep';
  /** A name shown by locks() and on the diagnostics channels. */
  label?: string;
}

/** The pinned buffers alive in the process. */
export interface PinnedStats {
  live: number;
  mappedBytes: number;
}

/** A buffer memlock mapped, locked and keeps in place until free(). */
export class PinnedBuffer extends OwnedMemory {
  /** Bytes asked for: `buffer.length`. */
  readonly size: number;
  /** Bytes mapped and locked: `size` rounded up to whole pages of `pageSize`. */
  readonly mappedBytes: number;
  /**
   * The pages the kernel gave, read back from it (smaps) when huge pages
   * were asked for: 'hugetlb' (KernelPageSize), 'transparent' (some of the
   * buffer in AnonHugePages), or 'none'.
   */
  readonly hugePages: HugePageKind;
  /** Bytes per page of that kind: 4 KiB, 2 MiB, 1 GiB, ... */
  readonly pageSize: number;
  /** Of mappedBytes, bytes on huge pages when it was allocated. */
  readonly hugePageBytes: number;
  readonly onFault: boolean;
  readonly prefaulted: boolean;
  readonly onFork: 'drop' | 'keep';
  readonly label: string;
  /**
   * Whole pages of a Buffer V8 allocated, locked in place: V8's sandbox
   * (Electron 21+) refused memory memlock maps itself. Then `sandboxLosses`
   * names what it lacks of what it asked for ('huge-pages', 'drop-on-fork').
   */
  readonly inV8Heap: boolean;
  readonly sandboxLosses: readonly V8SandboxLoss[];

  /** @internal Made by allocPinned(); `new PinnedBuffer()` throws ERR_ILLEGAL_CONSTRUCTOR. */
  constructor(token: typeof INTERNAL, buffer: Buffer, facts: PinnedFacts) {
    checkInternal(token, 'PinnedBuffer', 'allocPinned()');
    super(buffer);
    this.size = buffer.length;
    this.mappedBytes = facts.mappedBytes;
    this.hugePages = facts.hugePages;
    this.pageSize = facts.pageSize;
    this.hugePageBytes = facts.hugePageBytes;
    this.onFault = facts.onFault;
    this.prefaulted = facts.prefaulted;
    this.onFork = facts.onFork;
    this.label = facts.label;
    this.inV8Heap = facts.sandboxLosses !== undefined;
    this.sandboxLosses = facts.sandboxLosses ?? [];
  }

  /**
   * Detaches the Buffer and unmaps the memory: its lock and every count on
   * it go. Freeing twice is harmless. If the memory was moved out of this
   * Buffer behind memlock's back (a byte stream's read, a transfer function
   * captured before memlock loaded, another addon detaching it), it cannot
   * be unmapped under the buffer that has it now: it stays mapped, locked
   * and counted until that buffer is collected (or was already, if it was
   * detached).
   */
  override free(): void {
    super.free();
  }

  protected freeMapped(buffer: Buffer): void {
    binding.freePinned(buffer);
  }

  protected freeMoved(): void {
    // Its finalizer unmaps it once the buffer that has it now is collected.
  }
}

interface PinnedFacts {
  mappedBytes: number;
  hugePages: HugePageKind;
  pageSize: number;
  hugePageBytes: number;
  onFault: boolean;
  prefaulted: boolean;
  onFork: 'drop' | 'keep';
  label: string;
  sandboxLosses?: readonly V8SandboxLoss[];
}

interface Checked {
  hugePages: 'off' | 'try' | 'require';
  hugePageSize: number | undefined;
  hugePageSource: 'any' | 'hugetlb' | 'transparent';
  prefault: boolean;
  onFault: boolean;
  onFork: 'drop' | 'keep';
  label: string;
}

function flag(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

function checkOptions(size: unknown, options: PinnedOptions | undefined): Checked {
  if (typeof size !== 'number') throw invalidArgType('size', 'of type number', size);
  if (!Number.isInteger(size) || size < 1 || size > MAX_PINNED_SIZE) {
    throw outOfRange('size', `an integer >= 1 and <= ${MAX_PINNED_SIZE}`, size);
  }
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw invalidArgType('options', 'of type object', options);
  }
  const hugePages = oneOf('options.hugePages', options?.hugePages, ['off', 'try', 'require'], 'off');
  const hugePageSize = options?.hugePageSize;
  if (hugePageSize !== undefined) {
    if (typeof hugePageSize !== 'number') throw invalidArgType('options.hugePageSize', 'of type number', hugePageSize);
    if (
      !Number.isInteger(hugePageSize) ||
      hugePageSize <= binding.pageSize ||
      !Number.isInteger(Math.log2(hugePageSize))
    ) {
      throw outOfRange(
        'options.hugePageSize',
        `a power of two larger than the page size (${binding.pageSize})`,
        hugePageSize,
      );
    }
    if (hugePages === 'off') {
      throw invalidArgValue('options.hugePageSize', "needs options.hugePages 'try' or 'require'");
    }
  }
  const hugePageSource = oneOf(
    'options.hugePageSource',
    options?.hugePageSource,
    ['any', 'hugetlb', 'transparent'],
    'any',
  );
  if (options?.hugePageSource !== undefined && hugePages === 'off') {
    throw invalidArgValue('options.hugePageSource', "needs options.hugePages 'try' or 'require'");
  }
  const onFault = flag('options.onFault', options?.onFault) ?? false;
  const prefault = flag('options.prefault', options?.prefault);
  // A lock that is not on fault faults every page in: prefault: false means onFault.
  if (prefault === false && options?.onFault === false) {
    throw invalidArgValue(
      'options.prefault',
      'false needs onFault: a lock made now (onFault false) faults every page in',
    );
  }
  const label = options?.label;
  if (label !== undefined && typeof label !== 'string') throw invalidArgType('options.label', 'of type string', label);
  if ((onFault || prefault === false) && !binding.platform.onFault) {
    throw unsupported(
      'allocPinned with onFault',
      'mlock2(MLOCK_ONFAULT) is Linux-only; allocate with prefault instead',
    );
  }
  return {
    hugePages,
    hugePageSize,
    hugePageSource,
    onFault: onFault || prefault === false,
    prefault: prefault ?? !onFault,
    onFork: oneOf('options.onFork', options?.onFork, ['drop', 'keep'], 'drop'),
    label: label ?? 'memlock: pinned buffer',
  };
}

interface Attempt {
  kind: HugePageKind;
  pageSize: number;
}

// Where to look, in order: hugetlb pools that have the pages (largest size
// first, none larger than the buffer rounded up to the smallest huge page),
// then transparent huge pages, then base pages ('try' only).
function attempts(size: number, checked: Checked, support: HugePageSupport): Attempt[] {
  const base: Attempt = { kind: 'none', pageSize: binding.pageSize };
  if (checked.hugePages === 'off') return [base];
  const wanted = (pageSize: number) => checked.hugePageSize === undefined || checked.hugePageSize === pageSize;
  const smallest = Math.min(...support.hugetlb.map((pool) => pool.pageSize), support.transparent.pageSize || Infinity);
  const needed = Math.ceil(size / smallest) * smallest;
  const list: Attempt[] = support.hugetlb
    .filter(() => checked.hugePageSource !== 'transparent')
    .filter((pool) => wanted(pool.pageSize) && (checked.hugePageSize !== undefined || pool.pageSize <= needed))
    .filter((pool) => pool.available >= Math.ceil(size / pool.pageSize))
    .map((pool) => ({ kind: 'hugetlb', pageSize: pool.pageSize }));
  const thp = support.transparent;
  if (
    thp.mode !== 'never' &&
    thp.pageSize > binding.pageSize &&
    wanted(thp.pageSize) &&
    checked.hugePageSource !== 'hugetlb'
  ) {
    // With onFault nothing is faulted in, so there is nothing to read back:
    // required huge pages must then come from a pool.
    if (!(checked.onFault && !checked.prefault && checked.hugePages === 'require')) {
      list.push({ kind: 'transparent', pageSize: thp.pageSize });
    }
  }
  if (checked.hugePages === 'try') list.push(base);
  return list;
}

// Read back from the kernel: the mapping's page size and huge page bytes.
// Neighbouring mappings with the same flags merge with this one, so what
// is certain of this buffer's own range is counted, no more.
function readBack(address: number, mappedBytes: number): { kernelPageBytes: number; hugeBytes: number } {
  const mapping = procMappings('self').find((m) => m.start <= address && address < m.end);
  if (mapping === undefined) return { kernelPageBytes: binding.pageSize, hugeBytes: 0 };
  const others = mapping.end - mapping.start - mappedBytes;
  return { kernelPageBytes: mapping.kernelPageBytes, hugeBytes: Math.max(0, mapping.anonHugeBytes - others) };
}

/**
 * Maps `size` bytes for real-time use: page-aligned, on huge pages as
 * `options.hugePages` says, locked under a counted lock (lockCounts, stats,
 * locks() with its label) and, by default, every page resident on return.
 * Free it with free() or `using`; otherwise when its Buffer is collected.
 */
export function allocPinned(size: number, options?: PinnedOptions): PinnedBuffer {
  const checked = checkOptions(size, options);
  const support = checked.hugePages === 'off' ? undefined : hugePageSupport();
  const list =
    support === undefined ? [{ kind: 'none' as const, pageSize: binding.pageSize }] : attempts(size, checked, support);
  const bits = binding.numbers.pinned;
  const flags =
    (checked.onFault ? bits.onFault : 0) |
    (checked.prefault ? bits.prefault : 0) |
    (checked.onFork === 'drop' ? bits.dropOnFork : 0);
  const refusals: string[] = [];
  for (const attempt of list) {
    const result = binding.allocPinned(
      size,
      flags,
      attempt.kind === 'hugetlb' ? attempt.pageSize : 0,
      attempt.kind === 'transparent' ? attempt.pageSize : 0,
      checked.label,
    );
    const scratch = binding.scratch;
    if (typeof result === 'number') {
      const syscall = SYSCALL_NAMES[scratch[SCRATCH.failedSyscall]!] ?? 'none';
      // What this attempt mapped and tried to lock: size in whole pages of its kind.
      const tried = Math.ceil(size / attempt.pageSize) * attempt.pageSize;
      if (attempt.kind !== 'none' && result !== MAP_COUNT_EXCEEDED) {
        // Mapping or advising huge pages can fail where base pages would not.
        if (syscall === 'mmap' || syscall === 'madvise') {
          refusals.push(`${describeAttempt(attempt)}: ${syscall} failed with ${errnoName(result)}`);
          continue;
        }
        // A lock refused (the lockable-page limit, RLIMIT_MEMLOCK) may fit
        // in size rounded to base pages rather than huge ones: 'try' tries.
        if (checked.hugePages === 'try') continue;
      }
      throw allocFailure(result, syscall, tried, checked.label);
    }
    const buffer = result;
    if (scratch[SCRATCH.inV8Heap] === 1) return inV8Heap(buffer, size, checked);
    const mappedBytes = scratch[SCRATCH.mappedBytes]!;
    const facts: PinnedFacts = {
      mappedBytes,
      hugePages: 'none',
      pageSize: binding.pageSize,
      hugePageBytes: 0,
      onFault: checked.onFault,
      prefaulted: checked.prefault,
      label: checked.label,
      // Where the platform has no way to keep it from a child, a child gets a copy.
      onFork: checked.onFork === 'drop' && binding.platform.dropOnFork ? 'drop' : 'keep',
    };
    if (attempt.kind !== 'none') {
      const { kernelPageBytes, hugeBytes } = readBack(binding.addressOf(buffer), mappedBytes);
      if (kernelPageBytes > binding.pageSize) {
        Object.assign(facts, { hugePages: 'hugetlb', pageSize: kernelPageBytes, hugePageBytes: mappedBytes });
      } else if (hugeBytes > 0) {
        Object.assign(facts, { hugePages: 'transparent', pageSize: attempt.pageSize, hugePageBytes: hugeBytes });
      }
      const short = checked.hugePages === 'require' && facts.hugePageBytes < mappedBytes;
      if (short) {
        binding.freePinned(buffer);
        refusals.push(
          `${describeAttempt(attempt)}: the kernel gave ${formatBytes(facts.hugePageBytes)} of ` +
            `${formatBytes(mappedBytes)} on huge pages`,
        );
        continue;
      }
    }
    return new PinnedBuffer(INTERNAL, buffer, facts);
  }
  throw hugePagesError(size, checked, support!, refusals);
}

// V8's sandbox: no huge pages, and a child gets a copy (the pages are in V8's heap).
function inV8Heap(buffer: Buffer, size: number, checked: Checked): PinnedBuffer {
  if (checked.hugePages === 'require') {
    binding.freePinned(buffer);
    throw hugePagesError(size, checked, hugePageSupport(), [
      "V8's sandbox refuses memory from outside its cage: pinned buffers are in V8's heap, on base pages",
    ]);
  }
  reportV8Sandbox();
  return new PinnedBuffer(INTERNAL, buffer, {
    mappedBytes: Math.ceil(size / binding.pageSize) * binding.pageSize,
    hugePages: 'none',
    pageSize: binding.pageSize,
    hugePageBytes: 0,
    onFault: checked.onFault,
    prefaulted: checked.prefault,
    label: checked.label,
    onFork: 'keep',
    sandboxLosses: pinnedLosses(checked.hugePages === 'try', checked.onFork),
  });
}

function describeAttempt(attempt: Attempt): string {
  return attempt.kind === 'hugetlb'
    ? `hugetlb ${formatBytes(attempt.pageSize)} pages`
    : `transparent ${formatBytes(attempt.pageSize)} pages`;
}

function allocFailure(result: number, syscall: string, size: number, label: string): Error {
  const pages = binding.scratch[SCRATCH.lockPages]!;
  return nativeFailure({
    operation: 'allocPinned',
    result,
    syscall,
    bytes: size,
    limit: {
      pages,
      newPages: pages,
      what: ' for a pinned buffer',
      label,
      remedy: 'free buffers or raise it with setLockablePageLimit()',
    },
  });
}

// 'require' and the kernel had none to give: why, per kind, and the remedy.
function hugePagesError(size: number, checked: Checked, support: HugePageSupport, refusals: string[]): MemlockError {
  const pools =
    support.hugetlb.length === 0
      ? 'this kernel has no hugetlb pools'
      : support.hugetlb
          .map((pool) => `${formatBytes(pool.pageSize)} pool: ${pool.available} of ${pool.pages} page(s) available`)
          .join(', ');
  const thp =
    support.transparent.mode === 'never'
      ? 'transparent huge pages are off (never)'
      : `transparent huge pages: ${support.transparent.mode}`;
  const smallest = support.hugetlb.at(-1)?.pageSize ?? 2 * 1024 * 1024;
  const pages = Math.ceil(size / (checked.hugePageSize ?? smallest));
  const onFault =
    checked.onFault && !checked.prefault
      ? '; with onFault only a pool can be required (transparent huge pages are known once faulted in)'
      : '';
  const tried = refusals.length > 0 ? `; tried ${refusals.join('; ')}` : '';
  return new MemlockError(
    `no huge pages for ${formatBytes(size)} (${pools}; ${thp}${tried}${onFault}). Reserve a pool as root ` +
      `(sysctl -w vm.nr_hugepages=${pages}, or /sys/kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages; ` +
      'hugepages= at boot for 1 GiB pages), or enable transparent huge pages ' +
      "(echo madvise > /sys/kernel/mm/transparent_hugepage/enabled), or ask with hugePages: 'try'",
    { code: 'ERR_MEMLOCK_HUGE_PAGES' },
  );
}

/** The pinned buffers alive in the process and the bytes they map (their locks also show in stats()). */
export function pinnedStats(): PinnedStats {
  const { live, mappedBytes } = binding.pinnedStats();
  return { live, mappedBytes };
}
