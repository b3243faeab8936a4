// What the Linux and the portable backend do alike: sysconf, getrlimit, and
// aligned anonymous memory out of plain mmap (each backend's map_memory).
#include "platform/platform.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

namespace memlock {
namespace platform {

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t physical_pages() {
  long pages = sysconf(_SC_PHYS_PAGES);
  return pages > 0 ? static_cast<uint64_t>(pages) : 0;
}

int64_t map_aligned(size_t len, size_t align) {
  if (align <= page_size()) return map_memory(len);
  // Over-map by the alignment and give back the ends: mmap takes no alignment.
  int64_t mapped = map_memory(len + align);
  if (mapped < 0) return mapped;
  uintptr_t base = static_cast<uintptr_t>(mapped);
  uintptr_t start = (base + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
  if (start > base) munmap(reinterpret_cast<void*>(base), start - base);
  uintptr_t end = base + len + align;
  if (end > start + len) munmap(reinterpret_cast<void*>(start + len), end - (start + len));
  return static_cast<int64_t>(start);
}

int memlock_rlimit(int64_t* soft, int64_t* hard) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return -errno;
  *soft = rl.rlim_cur == RLIM_INFINITY ? -1 : static_cast<int64_t>(rl.rlim_cur);
  *hard = rl.rlim_max == RLIM_INFINITY ? -1 : static_cast<int64_t>(rl.rlim_max);
  return 0;
}

}  // namespace platform
}  // namespace memlock
