// Windows lets a process lock no more than its minimum working set (less a
// few pages of overhead); VirtualLock says ERROR_WORKING_SET_QUOTA past it.
// lock_with_growth raises the working set by what a refused lock needs and
// tries again. Plain C++ behind a table of calls, so the arithmetic is tested
// on Linux (test/native/working_set_test.cc) and platform_win32.cc plugs in
// VirtualLock, GetProcessWorkingSetSize and SetProcessWorkingSetSizeEx.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memlock {
namespace working_set {

// Each call returns false on failure and leaves the reason in last_error().
struct Api {
  bool (*lock)(uintptr_t addr, size_t len);
  bool (*get)(size_t* min, size_t* max);
  bool (*set)(size_t min, size_t max);
  uint32_t (*last_error)();
  uint32_t quota_error;  // ERROR_WORKING_SET_QUOTA
  size_t page_size;
};

// Kept above what a refused lock needs: page tables and other overhead
// count against the minimum too, and the next small lock needs no growth.
constexpr size_t kMarginPages = 64;
// Another thread may lock (and so spend the growth) between ours and the
// retry: a few rounds, not forever.
constexpr int kMaxGrowths = 3;

// The working set that lets `len` more bytes be locked: min and max each
// grown by len rounded up to pages plus the margin, max kept at least min.
// False if either would overflow (or reach SIZE_MAX, which Windows reads as
// "trim the working set").
bool grown(size_t min, size_t max, size_t len, size_t page_size, size_t* new_min, size_t* new_max);

// 0 once [addr, addr + len) is locked; otherwise the error of the lock that
// failed, of the growth that was refused, or quota_error when the working
// set cannot grow further. Never shrinks the working set: locked pages are
// still counted against it until they are unlocked, and other code may rely
// on the larger size.
uint32_t lock_with_growth(const Api& api, uintptr_t addr, size_t len);

}  // namespace working_set
}  // namespace memlock
