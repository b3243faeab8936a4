// The testing build's extra exports (native/testing/test_hooks.cc), typed. Load
// './testing-build' first so that the library runs on that build.
import { binding } from '../../src/binding';

export interface ForkProbeReport {
  lockedPages: number;
  heldLocks: number;
  vmLckKb: number;
}

export interface TestHooks {
  /** Bare mlock / munlock of the covered pages, behind memlock's back: 0 or -errno. */
  rawMlock(view: ArrayBufferView): number;
  rawMunlock(view: ArrayBufferView): number;
  /** Forks in native code and reports the child's table and VmLck. */
  forkProbe(): ForkProbeReport;
  /** The secret pool checks memory is zero before it unmaps it. */
  setVerifyWipe(on: boolean): void;
  wipeChecks(): { checkedUnmaps: number; dirtyUnmaps: number };
  /** A child forked in native code reads the view's bytes. */
  forkReadBytes(view: ArrayBufferView): { status: number; bytes: Buffer };
  /** Bare mlockall, without memlock's madvise hook. */
  rawLockAll(flags: number): number;
  /** Act as a kernel before 5.18 (no MADV_DONTNEED_LOCKED). */
  forceMadviseFallback(on: boolean): void;
  /** Writes a byte at view + offset (past its end if asked). */
  pokeByte(view: ArrayBufferView, offset: number): void;
  /** The nth call of a syscall fails with errno; clearFault says how many fired. */
  injectFault(syscall: number, nth: number, errno: number): void;
  clearFault(): number;
  /**
   * A read-only MAP_SHARED mapping of the file as a Buffer, its clean pages
   * first dropped from the page cache; `random`: MADV_RANDOM (no readahead).
   */
  mapFile(file: string, bytes: number, random: boolean): Buffer;
  /** napi_detach_arraybuffer, as another addon would call it: the napi_status (0 ok). */
  foreignDetach(buffer: ArrayBuffer): number;
  /** The vm.max_map_count the Locker read at load, and the mappings it keeps free below it. */
  mapGuard(): { cap: number; margin: number };
  /** A seccomp filter (every thread, for good) answering syscall `number` with `errno`: 0 or -errno. */
  denySyscall(number: number, errno: number): number;
  /** pread of /proc/self/mem at the address: the bytes, or -errno. */
  readSelfMem(address: number, length: number): Buffer | number;
}

const NAMES = [
  'rawMlock',
  'rawMunlock',
  'forkProbe',
  'setVerifyWipe',
  'wipeChecks',
  'forkReadBytes',
  'rawLockAll',
  'forceMadviseFallback',
  'pokeByte',
  'injectFault',
  'clearFault',
  'mapFile',
  'foreignDetach',
  'mapGuard',
  'denySyscall',
  'readSelfMem',
] as const satisfies readonly (keyof TestHooks)[];

/**
 * The hooks of the loaded addon; throws if it is not the testing build
 * (call it inside tests that skip with NO_TESTING_BUILD).
 */
export function hooks(): TestHooks {
  const record = binding as unknown as Record<string, unknown>;
  const missing = NAMES.filter((name) => typeof record[name] !== 'function');
  if (missing.length > 0) {
    throw new Error(
      `the loaded addon is not the testing build (missing ${missing.join(', ')}): import './testing-build' first`,
    );
  }
  return binding as unknown as TestHooks;
}
