// The Windows backend. VirtualLock locks pages, uncounted, like mlock; what
// bounds it is not an rlimit but the process's minimum working set, which
// lock_range grows on demand (working_set.h). Windows has no lock on fault,
// no whole-process lock, no fork and no core-dump exclusion a process can
// ask for, and no /proc: those calls return -ENOSYS and features() says so.
#include "platform/platform.h"

#include "core/shared_numbers.h"
#include "core/working_set.h"
#include "platform/fault_injection.h"

#include <errno.h>
#include <windows.h>
// QueryWorkingSetEx as kernel32's K32QueryWorkingSetEx (Windows 7 and
// later), whatever _WIN32_WINNT the build sets: no psapi library to link.
#define PSAPI_VERSION 2
#include <psapi.h>

#include <algorithm>
#include <vector>

namespace memlock {
namespace platform {

namespace {

// The C runtime's errno for a Win32 error, which src/native-failure.ts names
// by os.constants.errno (libuv numbers its own codes apart on Windows).
int posix_errno(DWORD error) {
  switch (error) {
    case ERROR_WORKING_SET_QUOTA:
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_COMMITMENT_LIMIT:
    case ERROR_NO_SYSTEM_RESOURCES:  // SetProcessWorkingSetSize: more than the system can give
      return ENOMEM;
    case ERROR_ACCESS_DENIED:
    case ERROR_PRIVILEGE_NOT_HELD:
      return EPERM;
    case ERROR_INVALID_ADDRESS:
    case ERROR_INVALID_PARAMETER:
      return EINVAL;
    default:
      return EIO;
  }
}

int result(BOOL ok) { return ok ? 0 : -posix_errno(GetLastError()); }

bool lock_pages(uintptr_t addr, size_t len) { return VirtualLock(reinterpret_cast<void*>(addr), len) != 0; }

bool get_working_set(size_t* min, size_t* max) { return GetProcessWorkingSetSize(GetCurrentProcess(), min, max) != 0; }

// The plain call changes the sizes and leaves how they are enforced alone.
bool set_working_set(size_t min, size_t max) { return SetProcessWorkingSetSize(GetCurrentProcess(), min, max) != 0; }

uint32_t last_error() { return GetLastError(); }

const SYSTEM_INFO& system_info() {
  static const SYSTEM_INFO info = [] {
    SYSTEM_INFO i;
    GetSystemInfo(&i);
    return i;
  }();
  return info;
}

}  // namespace

const Features& features() {
  static const Features win32{"win32", false, false, false, false, false, true, true, false, false, false};
  return win32;
}

size_t page_size() { return system_info().dwPageSize; }

uint64_t physical_pages() {
  MEMORYSTATUSEX status;
  status.dwLength = sizeof(status);
  if (!GlobalMemoryStatusEx(&status)) return 0;
  return status.ullTotalPhys / page_size();
}

int lock_range(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMlock);
  static const working_set::Api api{lock_pages, get_working_set,         set_working_set,
                                    last_error, ERROR_WORKING_SET_QUOTA, page_size()};
  uint32_t error = working_set::lock_with_growth(api, addr, len);
  return error == 0 ? 0 : -posix_errno(error);
}

int lock_range_on_fault(uintptr_t, size_t) { return -ENOSYS; }

int unlock_range(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMunlock);
  if (VirtualUnlock(reinterpret_cast<void*>(addr), len)) return 0;
  // memlock unlocks only what it locked: a page found unlocked was unlocked
  // already (munlock says 0 there too).
  DWORD error = GetLastError();
  return error == ERROR_NOT_LOCKED ? 0 : -posix_errno(error);
}

int lock_all(int) { return -ENOSYS; }
int unlock_all() { return -ENOSYS; }
int locked_ranges(std::vector<LockedRange>*) { return -ENOSYS; }
int for_each_mapping(void (*)(uintptr_t, uintptr_t, void*), void*) { return -ENOSYS; }
int64_t mapping_count() { return -ENOSYS; }
int64_t max_map_count() { return 0; }  // no mapping cap to keep a margin below

int64_t map_memory(size_t len) {
  MEMLOCK_INJECT(Syscall::kMmap);
  void* addr = VirtualAlloc(nullptr, len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  return addr == nullptr ? -posix_errno(GetLastError()) : static_cast<int64_t>(reinterpret_cast<uintptr_t>(addr));
}

// MEM_RELEASE frees a whole allocation and takes its base with size 0:
// memlock unmaps exactly the ranges map_memory and map_aligned returned.
int unmap_memory(uintptr_t addr, size_t) { return result(VirtualFree(reinterpret_cast<void*>(addr), 0, MEM_RELEASE)); }

int protect_none(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMprotect);
  DWORD old_protection = 0;
  return result(VirtualProtect(reinterpret_cast<void*>(addr), len, PAGE_NOACCESS, &old_protection));
}

int protect_range(uintptr_t addr, size_t len, int access) {
  MEMLOCK_INJECT(Syscall::kMprotect);
  DWORD old_protection = 0;
  DWORD protection = access == kAccessReadWrite ? PAGE_READWRITE
                     : access == kAccessRead    ? PAGE_READONLY
                                                : PAGE_NOACCESS;
  return result(VirtualProtect(reinterpret_cast<void*>(addr), len, protection, &old_protection));
}

int set_core_limit_zero() { return -ENOSYS; }
int set_not_dumpable() { return -ENOSYS; }
int clear_ptracer() { return -ENOSYS; }
int dumpable() { return -ENOSYS; }

// memfd_secret is Linux's alone.
int64_t map_secret_memory(size_t, uintptr_t, Syscall* failed) {
  *failed = Syscall::kMemfdSecret;
  return -ENOSYS;
}

int advise_dont_dump(uintptr_t, size_t) { return -ENOSYS; }
int advise_wipe_on_fork(uintptr_t, size_t) { return -ENOSYS; }
int advise_dont_fork(uintptr_t, size_t) { return -ENOSYS; }
int advise_defaults(uintptr_t, size_t) { return 0; }

int64_t map_hugetlb(size_t, size_t) { return -ENOSYS; }

// Windows cannot release part of an allocation, so no trimming a larger one
// as POSIX does: find an aligned address in a larger reservation, release
// it, and allocate there, again if another thread took it in between.
int64_t map_aligned(size_t len, size_t align) {
  if (align <= system_info().dwAllocationGranularity) return map_memory(len);
  MEMLOCK_INJECT(Syscall::kMmap);
  if (len > SIZE_MAX - align) return -ENOMEM;
  for (int attempt = 0; attempt < 8; ++attempt) {
    void* probe = VirtualAlloc(nullptr, len + align, MEM_RESERVE, PAGE_NOACCESS);
    if (probe == nullptr) return -posix_errno(GetLastError());
    uintptr_t start = (reinterpret_cast<uintptr_t>(probe) + align - 1) & ~(static_cast<uintptr_t>(align) - 1);
    VirtualFree(probe, 0, MEM_RELEASE);
    void* addr = VirtualAlloc(reinterpret_cast<void*>(start), len, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (addr != nullptr) return static_cast<int64_t>(start);
  }
  return -ENOMEM;
}

int advise_huge_pages(uintptr_t, size_t) { return -ENOSYS; }

int populate_write(uintptr_t addr, size_t len, size_t step) {
  for (uintptr_t p = addr; p < addr + len; p += step) {
    volatile unsigned char* byte = reinterpret_cast<volatile unsigned char*>(p);
    *byte = *byte;
  }
  return 0;
}

void wipe(uintptr_t addr, size_t len) { SecureZeroMemory(reinterpret_cast<void*>(addr), len); }

// Pages in the working set (VirtualAttributes.Valid): locked pages always
// are. A page trimmed to the standby list is still in RAM but not counted,
// where mincore would count it.
int64_t resident_pages(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMincore);
  const size_t ps = page_size();
  if (addr % ps != 0) return -EINVAL;  // as mincore
  const size_t pages = len / ps + (len % ps != 0);
  PSAPI_WORKING_SET_EX_INFORMATION batch[256];
  int64_t resident = 0;
  for (size_t done = 0; done < pages;) {
    const size_t count = std::min(pages - done, sizeof(batch) / sizeof(batch[0]));
    for (size_t i = 0; i < count; ++i) batch[i].VirtualAddress = reinterpret_cast<void*>(addr + (done + i) * ps);
    if (!QueryWorkingSetEx(GetCurrentProcess(), batch, static_cast<DWORD>(count * sizeof(batch[0])))) {
      return -posix_errno(GetLastError());
    }
    for (size_t i = 0; i < count; ++i) resident += batch[i].VirtualAttributes.Valid;
    done += count;
  }
  return resident;
}

int memlock_rlimit(int64_t*, int64_t*) { return -ENOSYS; }  // no rlimit: the working set bounds locking

}  // namespace platform
}  // namespace memlock
