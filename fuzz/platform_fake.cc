// platform.h over fake_kernel.h, for the fuzzer.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_kernel.h"
#include "platform/platform.h"

namespace memlock {
namespace fake {

namespace {
Kernel state;
}

Kernel& kernel() { return state; }
void reset() { memset(&state, 0, sizeof(state)); }
uint64_t page_size() {
  static const uint64_t size = [] {
    const char* setting = getenv("MEMLOCK_FAKE_PAGE_SIZE");
    uint64_t bytes = setting != nullptr ? strtoull(setting, nullptr, 10) : 4096;
    if (bytes < 4096 || (bytes & (bytes - 1)) != 0) {
      fprintf(stderr, "MEMLOCK_FAKE_PAGE_SIZE=%s: a power of two from 4096\n", setting);
      abort();
    }
    return bytes;
  }();
  return size;
}

uint64_t address_of_page(uint64_t page) { return (kBasePage + page) * page_size(); }

// Whether this call of `syscall` fails as armed.
static bool armed(Syscall syscall) {
  if (state.fail_syscall != syscall || --state.fail_after != 0) return false;
  state.fail_syscall = Syscall::kNone;
  state.fired += 1;
  return true;
}

// mlockall: MCL_CURRENT locks every page (on fault with MCL_ONFAULT) and
// clears MCL_FUTURE unless it is set again; without MCL_CURRENT it only sets
// MCL_FUTURE. Refused before it changes anything.
static int lock_all(int flags) {
  if (armed(Syscall::kMlockall)) return -state.fail_errno;
  state.future = (flags & kLockFuture) != 0;
  if (flags & kLockCurrent) {
    for (uint64_t p = 0; p < kPages; ++p) {
      state.locked[p] = true;
      state.on_fault[p] = (flags & kLockOnFault) != 0;
    }
  }
  return 0;
}

static int unlock_all() {
  if (armed(Syscall::kMunlockall)) return -state.fail_errno;
  state.future = false;
  memset(state.locked, 0, sizeof(state.locked));
  memset(state.on_fault, 0, sizeof(state.on_fault));
  return 0;
}

// Applies `lock`/`on_fault` to [addr, addr + len), or fails as armed.
static int apply(Syscall syscall, uintptr_t addr, size_t len, bool lock, bool on_fault) {
  uint64_t first = addr / page_size() - kBasePage;
  uint64_t end = (addr + len + page_size() - 1) / page_size() - kBasePage;
  if (first >= kPages || end <= first) return -ENOMEM;  // outside the arena: unmapped
  // Past the arena's end: munlock, like the kernel's, unlocks the mapped
  // pages up to the hole, then says ENOMEM; mlock is refused whole here.
  if (end > kPages) {
    if (lock) return -ENOMEM;
    int rc = apply(syscall, addr, (kPages - first) * page_size(), false, false);
    return rc < 0 ? rc : -ENOMEM;
  }
  uint64_t stop = end;
  int error = 0;
  if (armed(syscall)) {
    error = state.fail_errno;
    stop = state.fail_partial && lock ? first + (end - first) / 2 : first;
    if (!lock && error == ENOMEM && state.enomem_unmaps) stop = end;
  }
  for (uint64_t p = first; p < stop; ++p) {
    state.locked[p] = lock;
    state.on_fault[p] = lock && on_fault;
  }
  return -error;
}

}  // namespace fake

namespace platform {

// The fake kernel is a Linux one: secret memory and pinned buffers take the
// paths they take there.
const Features& features() {
  static const Features fake_linux{"linux", true, true, true, true, true, true, true, true, true, true};
  return fake_linux;
}

size_t page_size() { return fake::page_size(); }
uint64_t physical_pages() { return 1 << 20; }
int lock_range(uintptr_t addr, size_t len) { return fake::apply(Syscall::kMlock, addr, len, true, false); }
int lock_range_on_fault(uintptr_t addr, size_t len) { return fake::apply(Syscall::kMlock2, addr, len, true, true); }
int unlock_range(uintptr_t addr, size_t len) { return fake::apply(Syscall::kMunlock, addr, len, false, false); }
int lock_all(int flags) { return fake::lock_all(flags); }
int unlock_all() { return fake::unlock_all(); }
int64_t map_memory(size_t) { return -ENOMEM; }
int64_t map_hugetlb(size_t, size_t) { return -ENOMEM; }
int64_t map_aligned(size_t, size_t) { return -ENOMEM; }
int advise_huge_pages(uintptr_t, size_t) { return 0; }
int populate_write(uintptr_t, size_t, size_t) { return 0; }
int unmap_memory(uintptr_t, size_t) { return 0; }
int protect_none(uintptr_t, size_t) { return 0; }
int protect_range(uintptr_t, size_t, int) { return 0; }
int set_core_limit_zero() { return 0; }
int set_not_dumpable() { return 0; }
int clear_ptracer() { return 0; }
int dumpable() { return 1; }
int64_t map_secret_memory(size_t, uintptr_t, Syscall* failed) {
  *failed = Syscall::kMemfdSecret;
  return -ENOSYS;
}
int advise_dont_dump(uintptr_t, size_t) { return 0; }
int advise_wipe_on_fork(uintptr_t, size_t) { return 0; }
int advise_defaults(uintptr_t, size_t) { return 0; }
int advise_dont_fork(uintptr_t, size_t) { return 0; }
void wipe(uintptr_t, size_t) {}
int64_t resident_pages(uintptr_t, size_t) { return 0; }
int memlock_rlimit(int64_t* soft, int64_t* hard) {
  *soft = *hard = -1;
  return 0;
}
int locked_ranges(std::vector<LockedRange>* out) {
  // One range per run of pages locked alike, split at mapping boundaries.
  const fake::Kernel& k = fake::kernel();
  for (uint64_t p = 0; p < fake::kPages;) {
    if (!k.locked[p]) {
      ++p;
      continue;
    }
    uint64_t end = p + 1;
    while (end < fake::kPages && k.locked[end] && k.on_fault[end] == k.on_fault[p] && end % fake::kMappingPages != 0)
      ++end;
    out->push_back(LockedRange{fake::address_of_page(p), fake::address_of_page(end), k.on_fault[p]});
    p = end;
  }
  return 0;
}

int for_each_mapping(void (*fn)(uintptr_t, uintptr_t, void*), void* context) {
  fn(fake::address_of_page(0) - 8 * fake::page_size(), fake::address_of_page(0) - 4 * fake::page_size(), context);
  // The last mapping is listed by its first page only, as qemu-user's
  // emulated /proc/self/maps lists part of some mappings: unlock_all must
  // reach the rest all the same.
  for (uint64_t p = 0; p < fake::kPages; p += fake::kMappingPages) {
    const uint64_t listed = p + fake::kMappingPages < fake::kPages ? fake::kMappingPages : 1;
    fn(fake::address_of_page(p), fake::address_of_page(p + listed), context);
  }
  return 0;
}
int64_t mapping_count() { return 64; }
int64_t max_map_count() { return 65530; }

}  // namespace platform
}  // namespace memlock
