// Whole-process locking (mlockall) that Node survives: see
// native/platform/madvise_hook.h for why plain mlockall makes V8 abort.
import { capabilities, unsupported } from '../capabilities';
import { binding } from '../binding';
import { formatBytes, invalidArgType, invalidArgValue, MemlockError } from '../errors';
import { procStatus } from '../proc';
import { memlockRemedies, memlockRlimit, nativeFailure } from '../native-failure';

export interface LockAllOptions {
  /** Lock every page mapped now (MCL_CURRENT). Default true. */
  current?: boolean;
  /** Lock every page mapped from now on (MCL_FUTURE). Default false. */
  future?: boolean;
  /** Lock pages as they are first touched instead of faulting them in (MCL_ONFAULT). Default false. */
  onFault?: boolean;
}

export interface LockAllState {
  current: boolean;
  future: boolean;
  onFault: boolean;
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(`options.${name}`, 'of type boolean', value);
  return value;
}

/**
 * Locks the whole process in memory (mlockall). Counted locks keep their
 * counts; while whole-process locking is on, a count reaching 0 does not
 * unlock its page. Calling it again replaces the flags.
 */
export function lockAll(options: LockAllOptions = {}): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options);
  }
  const current = flag('current', options.current, true);
  const future = flag('future', options.future, false);
  const onFault = flag('onFault', options.onFault, false);
  if (!current && !future) throw invalidArgValue('options', 'must set current or future (or both)');
  if (!capabilities().lockAll) throw noLockAll('lockAll()');

  // MCL_FUTURE under a binding RLIMIT_MEMLOCK succeeds, and then every later
  // mapping past the limit fails: V8 would die of "out of memory" at its
  // next heap growth. Refuse it up front instead.
  const rlimit = memlockRlimit();
  const status = procStatus('self');
  if (future && rlimit !== undefined && rlimit.soft !== Infinity && !status.hasIpcLock) {
    throw new MemlockError(
      `${describeCall(options)} refused: RLIMIT_MEMLOCK is ${formatBytes(rlimit.soft)} and this process lacks ` +
        'CAP_IPC_LOCK, so every mapping made after it would fail once the limit is reached, and Node would abort. ' +
        `Raise the limit to unlimited (or grant CAP_IPC_LOCK): ${memlockRemedies().join('; ')}.`,
      { code: 'ENOMEM', errno: -12, syscall: 'mlockall' },
    );
  }
  const bits = binding.numbers.lockAll;
  const rc = binding.lockAll((current ? bits.current : 0) | (future ? bits.future : 0) | (onFault ? bits.onFault : 0));
  if (rc === -38) {
    throw new MemlockError(
      'lockAll is not available: memlock could not hook the madvise calls V8 makes, so whole-process ' +
        'locking would make Node abort. Nothing was locked.',
      { code: 'ENOSYS', errno: rc, syscall: 'mlockall' },
    );
  }
  // What it tried to lock: everything mapped (VmSize, read before the call).
  if (rc < 0) throw nativeFailure({ operation: 'lockAll', result: rc, syscall: 'mlockall', bytes: status.vmSizeBytes });
}

// The call as it was made, with the options actually passed.
function describeCall(options: LockAllOptions): string {
  const passed = (['current', 'future', 'onFault'] as const)
    .filter((name) => options[name] !== undefined)
    .map((name) => `${name}: ${options[name]}`);
  return `lockAll(${passed.length === 0 ? '' : `{ ${passed.join(', ')} }`})`;
}

/**
 * Ends whole-process locking: MCL_FUTURE is cleared and every page without
 * a count is unlocked. Counted locks survive it: their pages are never
 * unlocked, so it cannot leave a held lock's pages unlocked, even where
 * locking them again would be refused. All or nothing: if it throws,
 * nothing changed.
 */
export function unlockAll(): void {
  if (!capabilities().lockAll) throw noLockAll('unlockAll()');
  // What it keeps locked: the counted pages.
  const keptBytes = binding.stats().lockedPages * binding.pageSize;
  const rc = binding.unlockAll();
  // No syscall named: /proc/self/maps could not be read (open).
  if (rc < 0) throw nativeFailure({ operation: 'unlockAll', result: rc, syscall: 'open', bytes: keptBytes });
}

/** The whole-process locking in force, or null. */
export function lockAllState(): LockAllState | null {
  const flags = binding.lockAllFlags();
  if (flags === 0) return null;
  const bits = binding.numbers.lockAll;
  return {
    current: (flags & bits.current) !== 0,
    future: (flags & bits.future) !== 0,
    onFault: (flags & bits.onFault) !== 0,
  };
}

function noLockAll(call: string): MemlockError {
  return unsupported(
    `${call} (whole-process locking)`,
    'macOS has no mlockall, Windows no equivalent, and elsewhere node cannot survive it without the Linux madvise ' +
      'hook; lock() what must stay resident, or allocate it with allocPinned()',
  );
}
