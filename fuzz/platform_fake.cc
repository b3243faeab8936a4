// platform.h over fake_kernel.h, for the fuzzer.
#include <errno.h>
#include <string.h>

#include "fake_kernel.h"
#include "platform.h"

namespace memlock {
namespace fake {

namespace {
Kernel state;
}

Kernel& kernel() { return state; }
void reset() { memset(&state, 0, sizeof(state)); }
uint64_t address_of_page(uint64_t page) { return (kBasePage + page) * kPageSize; }

// Applies `lock`/`on_fault` to [addr, addr + len), or fails as armed.
static int apply(int syscall, uintptr_t addr, size_t len, bool lock, bool on_fault) {
  uint64_t first = addr / kPageSize - kBasePage;
  uint64_t end = (addr + len + kPageSize - 1) / kPageSize - kBasePage;
  if (first >= kPages || end > kPages || end <= first) return -ENOMEM;  // outside the arena: unmapped
  uint64_t stop = end;
  int error = 0;
  if (state.fail_syscall == syscall && --state.fail_after == 0) {
    state.fail_syscall = 0;
    state.fired += 1;
    error = state.fail_errno;
    stop = state.fail_partial && lock ? first + (end - first) / 2 : first;
  }
  for (uint64_t p = first; p < stop; ++p) {
    state.locked[p] = lock;
    state.on_fault[p] = lock && on_fault;
  }
  return -error;
}

}  // namespace fake

namespace platform {

size_t page_size() { return fake::kPageSize; }
uint64_t physical_pages() { return 1 << 20; }
int lock_range(uintptr_t addr, size_t len) { return fake::apply(1, addr, len, true, false); }
int lock_range_on_fault(uintptr_t addr, size_t len) { return fake::apply(2, addr, len, true, true); }
int unlock_range(uintptr_t addr, size_t len) { return fake::apply(3, addr, len, false, false); }
int lock_all(int) { return -ENOSYS; }
int unlock_all() { return -ENOSYS; }
int64_t map_memory(size_t) { return -ENOMEM; }
int unmap_memory(uintptr_t, size_t) { return 0; }
int protect_none(uintptr_t, size_t) { return 0; }
int advise_dont_dump(uintptr_t, size_t) { return 0; }
int advise_wipe_on_fork(uintptr_t, size_t) { return 0; }
int advise_dont_fork(uintptr_t, size_t) { return 0; }
void wipe(uintptr_t, size_t) {}
int64_t resident_pages(uintptr_t, size_t) { return 0; }
int memlock_rlimit(int64_t* soft, int64_t* hard) {
  *soft = *hard = -1;
  return 0;
}
int fork_and_collect(int (*)(int), char*, size_t*) { return -ENOSYS; }
int locked_ranges(std::vector<LockedRange>*) { return -ENOSYS; }
int64_t mapping_count() { return 64; }
int64_t max_map_count() { return 65530; }

}  // namespace platform
}  // namespace memlock
