// The portable backend: what POSIX and the BSD family (macOS included) offer
// memlock, with no Linux interface. Built for macOS, and on Linux by the
// CMake target memlock_portable, which the suite runs (test/portable.test.ts)
// so that the code macOS runs is code the tests have run. Whatever is not
// here returns -ENOSYS and features() says so: locking on fault,
// whole-process locking, the kernel's own account (/proc), huge pages.
//
// Not counted by any of these kernels either: memlock's page table does the
// counting, as on Linux. macOS caps wired memory (vm.user_wire_limit): mlock
// fails with EAGAIN once it is spent.
#include "platform/platform.h"

#include "core/shared_numbers.h"
#include "platform/fault_injection.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <vector>

#if defined(__APPLE__)
#include <mach/vm_inherit.h>
#endif

namespace memlock {
namespace platform {

namespace {

int result(int rc) { return rc == 0 ? 0 : -errno; }

// A forked child gets no mapping there: minherit where the kernel has it.
int inherit_none(uintptr_t addr, size_t len) {
#if defined(__APPLE__)
  return result(minherit(reinterpret_cast<void*>(addr), len, VM_INHERIT_NONE));
#elif defined(INHERIT_NONE)      // FreeBSD, NetBSD
  return result(minherit(reinterpret_cast<void*>(addr), len, INHERIT_NONE));
#elif defined(MAP_INHERIT_NONE)  // OpenBSD
  return result(minherit(reinterpret_cast<void*>(addr), len, MAP_INHERIT_NONE));
#else
  (void)addr;
  (void)len;
  return -ENOSYS;
#endif
}

#if defined(__APPLE__) || defined(INHERIT_NONE) || defined(MAP_INHERIT_NONE)
constexpr bool kInheritNone = true;
#else
constexpr bool kInheritNone = false;
#endif

#if defined(INHERIT_ZERO)  // FreeBSD 12+
constexpr bool kInheritZero = true;
#else
constexpr bool kInheritZero = false;
#endif

#if defined(MADV_NOCORE)  // FreeBSD, DragonFly
constexpr bool kNoCore = true;
#else
constexpr bool kNoCore = false;
#endif

}  // namespace

const Features& features() {
  static const Features posix{"posix", false, false, kNoCore, kInheritZero, kInheritNone,
                              true,    true,  false, false,   true};
  return posix;
}

int lock_range(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMlock);
  return result(mlock(reinterpret_cast<void*>(addr), len));
}

int lock_range_on_fault(uintptr_t, size_t) { return -ENOSYS; }

int unlock_range(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMunlock);
  return result(munlock(reinterpret_cast<void*>(addr), len));
}

// mlockall is either missing (macOS: ENOSYS) or would crash node the way
// plain mlockall does on Linux (its madvise hook is Linux-only).
int lock_all(int) { return -ENOSYS; }
int unlock_all() { return -ENOSYS; }
int locked_ranges(std::vector<LockedRange>*) { return -ENOSYS; }
int for_each_mapping(void (*)(uintptr_t, uintptr_t, void*), void*) { return -ENOSYS; }
int64_t mapping_count() { return -ENOSYS; }
int64_t max_map_count() { return 0; }  // unknown: no mapping cap to keep a margin below

int64_t map_memory(size_t len) {
  MEMLOCK_INJECT(Syscall::kMmap);
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
  return addr == MAP_FAILED ? -errno : static_cast<int64_t>(reinterpret_cast<uintptr_t>(addr));
}

int unmap_memory(uintptr_t addr, size_t len) { return result(munmap(reinterpret_cast<void*>(addr), len)); }

int protect_none(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMprotect);
  return result(mprotect(reinterpret_cast<void*>(addr), len, PROT_NONE));
}

int protect_range(uintptr_t addr, size_t len, int access) {
  MEMLOCK_INJECT(Syscall::kMprotect);
  int prot = access == kAccessReadWrite ? PROT_READ | PROT_WRITE : access == kAccessRead ? PROT_READ : PROT_NONE;
  return result(mprotect(reinterpret_cast<void*>(addr), len, prot));
}

int set_core_limit_zero() {
  struct rlimit none {};
  return result(setrlimit(RLIMIT_CORE, &none));
}
// macOS's PT_DENY_ATTACH is one-way and kills a debugger already attached: not done.
int set_not_dumpable() { return -ENOSYS; }
int clear_ptracer() { return -ENOSYS; }
int dumpable() { return -ENOSYS; }

// memfd_secret is Linux's alone.
int64_t map_secret_memory(size_t, uintptr_t, Syscall* failed) {
  *failed = Syscall::kMemfdSecret;
  return -ENOSYS;
}

int advise_dont_dump(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMadvise);
#if defined(MADV_NOCORE)
  return result(madvise(reinterpret_cast<void*>(addr), len, MADV_NOCORE));
#else
  (void)addr;
  (void)len;
  return -ENOSYS;
#endif
}

int advise_wipe_on_fork(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMadvise);
#if defined(INHERIT_ZERO)
  return result(minherit(reinterpret_cast<void*>(addr), len, INHERIT_ZERO));
#else
  (void)addr;
  (void)len;
  return -ENOSYS;
#endif
}

int advise_dont_fork(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMadvise);
  return inherit_none(addr, len);
}

int advise_defaults(uintptr_t addr, size_t len) {
  int rc = 0;
#if defined(MADV_CORE)
  rc = result(madvise(reinterpret_cast<void*>(addr), len, MADV_CORE));
#endif
#if defined(INHERIT_ZERO)
  int inherit = result(minherit(reinterpret_cast<void*>(addr), len, INHERIT_COPY));
  if (rc == 0) rc = inherit;
#endif
  (void)addr;
  (void)len;
  return rc;
}

int64_t map_hugetlb(size_t, size_t) { return -ENOSYS; }

int advise_huge_pages(uintptr_t, size_t) { return -ENOSYS; }

int populate_write(uintptr_t addr, size_t len, size_t step) {
  for (uintptr_t p = addr; p < addr + len; p += step) {
    volatile unsigned char* byte = reinterpret_cast<volatile unsigned char*>(p);
    *byte = *byte;
  }
  return 0;
}

void wipe(uintptr_t addr, size_t len) {
  // A store through volatile the compiler may not drop (explicit_bzero is
  // not everywhere; memset_s needs __STDC_WANT_LIB_EXT1__).
  volatile unsigned char* bytes = reinterpret_cast<volatile unsigned char*>(addr);
  for (size_t i = 0; i < len; ++i) bytes[i] = 0;
}

// mincore's address is void* or const void*, its vector unsigned char* or
// char*, by system: whichever this one declares.
template <typename Address, typename Vector>
int call_mincore(int (*fn)(Address, size_t, Vector*), uintptr_t addr, size_t len, std::vector<unsigned char>& vec) {
  return fn(reinterpret_cast<Address>(addr), len, reinterpret_cast<Vector*>(vec.data()));
}

int64_t resident_pages(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMincore);
  std::vector<unsigned char> vec((len + page_size() - 1) / page_size());
  if (call_mincore(&mincore, addr, len, vec) != 0) return -errno;
  int64_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

}  // namespace platform
}  // namespace memlock
