// A fake kernel for the fuzzer: which pages of a small arena are locked
// (and on fault), whole-process locking (mlockall), the arena's mappings as
// /proc/self/maps and smaps show them, and syscalls that fail on demand,
// part way if asked.
#pragma once

#include <cstdint>

#include "core/shared_numbers.h"

namespace memlock {
namespace fake {

constexpr uint64_t kBasePage = 0x100000;  // the arena's first page number
constexpr uint64_t kPages = 48;

// The arena is mapped as three mappings of kMappingPages pages; /proc/self/maps
// also shows one mapping outside it, which is gone by the time it is
// munlocked (ENOMEM, as for a mapping another thread unmapped meanwhile).
constexpr uint64_t kMappingPages = 16;

struct Kernel {
  bool locked[kPages];
  bool on_fault[kPages];
  bool future;  // MCL_FUTURE (nothing is mapped later here: only recorded)
  // The next failing call: which (1 mlock, 2 mlock2, 3 munlock, 4 mlockall,
  // 5 munlockall), after how many matching calls, with what errno, and
  // whether mlock locks the first half of its range before failing (as the
  // real one can).
  Syscall fail_syscall;  // kNone: nothing armed
  int fail_after;
  int fail_errno;
  bool fail_partial;
  // An injected munlock ENOMEM stands for a range another thread unmapped
  // meanwhile (as unlockAll reads it): its pages are left unlocked.
  bool enomem_unmaps;
  int fired;
};

Kernel& kernel();
void reset();
uint64_t address_of_page(uint64_t page);  // page: 0 .. kPages - 1
// 4096 as on x86_64, or MEMLOCK_FAKE_PAGE_SIZE from the environment: arm64
// kernels may use 16 KiB or 64 KiB pages (test/page-size.test.ts runs both).
uint64_t page_size();

}  // namespace fake
}  // namespace memlock
