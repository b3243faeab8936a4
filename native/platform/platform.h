// The syscalls memlock makes, behind one small interface so the rest of the
// native code never touches errno. Every function returns 0 (or a count) on
// success and -errno on failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/shared_numbers.h"

namespace memlock {
namespace platform {

// What this platform's kernel offers memlock (capabilities() in
// src/capabilities.ts). A call the platform cannot honour returns -ENOSYS.
// One backend per platform: platform_linux.cc, platform_posix.cc (macOS and
// BSDs, also built on Linux so the suite runs it), platform_win32.cc.
struct Features {
  const char* backend;  // "linux", "posix" or "win32"
  bool on_fault;        // lock on first touch (mlock2 MLOCK_ONFAULT)
  bool lock_all;        // whole-process locking (mlockall behind the madvise hook)
  bool dont_dump;       // keep a range out of core dumps (MADV_DONTDUMP, MADV_NOCORE)
  bool wipe_on_fork;    // a forked child sees zeros (MADV_WIPEONFORK)
  bool drop_on_fork;    // a forked child has no mapping (MADV_DONTFORK, minherit VM_INHERIT_NONE)
  bool guard_pages;     // inaccessible pages (mprotect PROT_NONE, VirtualProtect PAGE_NOACCESS)
  bool residency;       // which pages are resident (mincore)
  bool kernel_account;  // the kernel's own account: /proc/self/smaps, status, maps
  bool huge_pages;      // hugetlb (MAP_HUGETLB) and transparent huge pages (MADV_HUGEPAGE)
  bool fork;            // the process can fork()
};
const Features& features();

size_t page_size();
uint64_t physical_pages();

int lock_range(uintptr_t addr, size_t len);           // mlock
int lock_range_on_fault(uintptr_t addr, size_t len);  // mlock2(MLOCK_ONFAULT)
int unlock_range(uintptr_t addr, size_t len);         // munlock

// mlockall / munlockall. Flags: kLockCurrent, kLockFuture, kLockOnFault (shared_numbers.h).
int lock_all(int flags);
int unlock_all();

// The ranges the kernel has locked now (smaps VmFlags lo, or ht: hugetlb
// pages never leave RAM), and which of them are locked on fault (lf): what
// verify() checks counts against and a failed unlockAll puts back.
struct LockedRange {
  uintptr_t start, end;
  bool on_fault;
};
int locked_ranges(std::vector<LockedRange>* out);

// Calls fn(start, end, context) for each mapping of /proc/self/maps, read
// through a fixed buffer (nothing allocated). fn may change the mappings:
// the kernel resumes each read after the last mapping it showed, so one
// merged meanwhile can come again. Returns 0 or -errno.
int for_each_mapping(void (*fn)(uintptr_t start, uintptr_t end, void* context), void* context);

// Lines of /proc/self/maps, read through a fixed buffer: it must work at
// vm.max_map_count, where any new mapping (a large allocation) fails.
int64_t mapping_count();
// vm.max_map_count, read through a fixed buffer; 0 where there is no such
// limit (macOS, Windows); on Linux the kernel's default (65530) when the
// file cannot be read or holds no number.
int64_t max_map_count();

// Anonymous private read-write memory: the address, or -errno.
int64_t map_memory(size_t len);
int unmap_memory(uintptr_t addr, size_t len);
int protect_none(uintptr_t addr, size_t len);  // PROT_NONE: a guard page
// mprotect to kAccessNone / kAccessRead / kAccessReadWrite (shared_numbers.h).
int protect_range(uintptr_t addr, size_t len, int access);
// memfd_secret(2) memory (Linux 5.14+): `len` bytes of a secretmem file,
// mapped shared read-write, its descriptor closed again (the mapping keeps
// the file). The kernel locks it (VmLck, RLIMIT_MEMLOCK), keeps it out of
// core dumps and removes it from its direct map. The address, or -errno
// with *failed naming the call refused (memfd_secret, ftruncate, mmap).
// `at` (non-zero): over memory already mapped there (MAP_FIXED), so that
// guard pages around it stay plain anonymous memory, neither locked nor counted.
int64_t map_secret_memory(size_t len, uintptr_t at, Syscall* failed);
int advise_dont_dump(uintptr_t addr, size_t len);     // MADV_DONTDUMP
int advise_wipe_on_fork(uintptr_t addr, size_t len);  // MADV_WIPEONFORK
int advise_dont_fork(uintptr_t addr, size_t len);     // MADV_DONTFORK
// Undoes advise_dont_dump and advise_wipe_on_fork (MADV_DODUMP, MADV_KEEPONFORK):
// for memory memlock advised in place and hands back (V8's, under its sandbox).
int advise_defaults(uintptr_t addr, size_t len);
// Anonymous memory on hugetlb pages of `huge_page` bytes (MAP_HUGETLB): the
// address, or -errno (ENOMEM when the pool has too few free pages: mmap
// reserves them, so touching the memory later cannot fail for want of one).
int64_t map_hugetlb(size_t len, size_t huge_page);
// Anonymous memory starting at a multiple of `align` (a power of two, for
// transparent huge pages): the address, or -errno.
int64_t map_aligned(size_t len, size_t align);
int advise_huge_pages(uintptr_t addr, size_t len);  // MADV_HUGEPAGE
// Faults every page in for writing: MADV_POPULATE_WRITE (Linux 5.14+), or a
// write to each `step` bytes where the kernel lacks it. Fresh memory only:
// the fallback writes the byte it reads.
int populate_write(uintptr_t addr, size_t len, size_t step);
// Zeroes memory in a way the compiler may not drop as a dead store.
void wipe(uintptr_t addr, size_t len);

// Number of resident pages in [addr, addr + len) by mincore, or -errno.
int64_t resident_pages(uintptr_t addr, size_t len);

// Process hardening (hardenProcess()): 0 or -errno, -ENOSYS where the
// platform has no such thing.
int set_core_limit_zero();  // RLIMIT_CORE 0, soft and hard
int set_not_dumpable();     // prctl(PR_SET_DUMPABLE, 0)
int clear_ptracer();        // prctl(PR_SET_PTRACER, 0): Yama's exception gone (EINVAL: no Yama)
int dumpable();             // prctl(PR_GET_DUMPABLE): 0, 1, 2, or -errno

// RLIMIT_MEMLOCK; -1 stands for RLIM_INFINITY.
int memlock_rlimit(int64_t* soft, int64_t* hard);

}  // namespace platform
}  // namespace memlock
