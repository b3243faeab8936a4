// Every number memlock's native code and its TypeScript share: syscall ids,
// the scratch slots that carry a call's secondary results, flag bits and
// result codes, the paging monitor's layouts. Defined once, here; binding.cc exports them (`numbers`) and
// src/binding.ts reads them from there, never retyping them.
#pragma once

#include <cstdint>

namespace memlock {

// The syscalls memlock makes, as a failure reports the one refused (and as
// the testing build's fault injection names them).
enum class Syscall : int {
  kNone,
  kMlock,
  kMlock2,
  kMunlock,
  kMmap,
  kMprotect,
  kMadvise,
  kMlockall,
  kMunlockall,
  kMincore,
  kMemfdSecret,
  kFtruncate,
  kCount
};
constexpr const char* kSyscallNames[] = {"none",    "mlock",    "mlock2",     "munlock", "mmap",         "mprotect",
                                         "madvise", "mlockall", "munlockall", "mincore", "memfd_secret", "ftruncate"};
static_assert(sizeof(kSyscallNames) / sizeof(kSyscallNames[0]) == static_cast<int>(Syscall::kCount));

// Slots of each environment's scratch array (binding.cc): a call returns
// one number and leaves the rest here. Which slots a call sets is in its
// comment in binding.cc.
enum ScratchSlot : int {
  kScratchPages = 0,             // lock, residentPages: pages covered; verify: pages counted
  kScratchMappedBytes = 0,       // allocPinned: bytes mapped
  kScratchFailedRange = 0,       // lockRanges: the index of the range refused
  kScratchTag = 0,               // releaseLatest: the released lock's tag
  kScratchLocked = 0,            // allocSecret: 1 if the memory is locked
  kScratchNewlySticky = 1,       // lock: pages that turned sticky
  kScratchLockError = 1,         // allocSecret: why a best-effort secret is not locked
  kScratchFailedSyscall = 2,     // lock, allocSecret, allocPinned, lockRanges, unlockAll: the Syscall refused
  kScratchMappings = 3,          // after kMapCountExceeded: mappings counted,
  kScratchMapCap = 4,            //   vm.max_map_count,
  kScratchMapMargin = 5,         //   and the margin memlock keeps below it
  kScratchLockPages = 6,         // allocSecret, allocPinned after kLimitExceeded: pages it tried to lock
  kScratchSerial = 7,            // allocSecret: the secret's serial (wipeMovedSecret)
  kScratchBackend = 8,           // allocSecret: the SecretBackend used
  kScratchInV8Heap = 8,          // allocPinned: 1 if in V8's memory (its sandbox refused external buffers)
  kScratchFallbackError = 9,     // allocSecret: why secretmem was not (-errno; 0: it was, or not asked)
  kScratchFallbackSyscall = 10,  //   and the Syscall that refused it
  kScratchSlots = 11
};

// lockAll flags (mlockall's MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT).
constexpr int kLockCurrent = 1, kLockFuture = 2, kLockOnFault = 4;
// allocSecret flags.
constexpr int kSecretGuarded = 1, kSecretRequireLock = 2, kSecretDropOnFork = 4;
// allocSecret's backend bits: neither is 'auto' (secretmem where it works).
constexpr int kSecretBackendSecretMem = 8, kSecretBackendMlock = 16;
// Where a secret's pages come from: memfd_secret(2) (out of the kernel's
// direct map), anonymous memory, mlocked and advised, or (where V8's sandbox
// refuses external buffers) whole pages of a Buffer V8 allocated, mlocked
// and advised in place.
enum class SecretBackend : int { kMlock = 0, kSecretMem = 1, kV8Heap = 2 };
// secret.protect(): what the pages allow.
enum SecretAccess : int { kAccessNone = 0, kAccessRead = 1, kAccessReadWrite = 2 };
// hardenProcess flags: RLIMIT_CORE 0; PR_SET_DUMPABLE 0; PR_SET_PTRACER 0 (Yama).
constexpr int kHardenNoCore = 1, kHardenNotDumpable = 2, kHardenClearPtracer = 4;
// protectSecret's result when the secret shares its pages (a pool slab).
constexpr int kProtectShared = 1;

// allocPinned flags.
constexpr int kPinnedOnFault = 1, kPinnedPrefault = 2, kPinnedDropOnFork = 4;

// locks(): one row of kLockFieldCount numbers per held lock in a Float64Array
// (building a million objects natively took seconds; JavaScript builds them
// from the rows in a tenth of that).
enum LockField : int {
  kLockAddress = 0,  // the locked view's first byte
  kLockLength,       // and its length
  kLockStart,        // first byte of its first page
  kLockPages,
  kLockCount,  // the highest count among its pages
  kLockThreadId,
  kLockFlags,  // kLockFlag* bits
  kLockId,     // its id (ids are no order: slots are reused)
  kLockFieldCount
};
constexpr int kLockFlagOnFault = 1, kLockFlagOwn = 2;

// Negative results that are not errnos.
constexpr int64_t kLimitExceeded = -1000001;
// Refused: too few mappings would be left below vm.max_map_count.
constexpr int64_t kMapCountExceeded = -1000002;

namespace paging {

// Slots of the Float64Array a paging sample fills (paging_sample.h). NaN
// where a figure is not available here.
enum Slot : int {
  kThreadMajor = 0,    // getrusage(RUSAGE_THREAD) ru_majflt
  kThreadMinor,        // ru_minflt
  kThreadCpuUs,        // ru_utime + ru_stime
  kThreadVoluntary,    // ru_nvcsw: the thread slept (a page-in, I/O, a lock, an idle loop)
  kThreadInvoluntary,  // ru_nivcsw: the thread was preempted
  kRunNs,              // /proc/thread-self/schedstat: time on a CPU
  kWaitNs,             //   and time runnable, waiting for a CPU
  kProcessMajor,       // getrusage(RUSAGE_SELF)
  kProcessMinor,
  kSomeTotalUs,  // memory PSI "some" total
  kFullTotalUs,  //   and "full" total
  kTimeMs,       // CLOCK_MONOTONIC, the clock performance.now() counts on
  kSlotCount
};

// The kinds of event a paging monitor delivers (paging_binding.cc).
enum EventKind : int32_t { kWake = 0, kStall = 1, kCounter = 2 };
// A stall event's Float64Array: its window, the stalled iteration's busy
// time, idle time in the window, when the PSI totals of `before` were read,
// then the samples before and after.
enum StallSlot : int { kStallStart = 0, kStallEnd, kStallBusy, kStallIdle, kStallPsiStart, kStallBefore };
constexpr int kStallAfter = kStallBefore + kSlotCount;
constexpr int kStallLength = kStallBefore + 2 * kSlotCount;
// A wake event's: when, the PSI totals then, and errno (non-zero: the watch ended).
enum WakeSlot : int { kWakeTime = 0, kWakeSome, kWakeFull, kWakeErrno, kWakeLength };
// A counter event's: when, which of the counter fds fired, and the count read from it.
enum CounterSlot : int { kCounterTime = 0, kCounterIndex, kCounterCount, kCounterLength };

}  // namespace paging

}  // namespace memlock
