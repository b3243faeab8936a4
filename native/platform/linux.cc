#include "platform/platform.h"

#include "core/shared_numbers.h"
#include "platform/fault_injection.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MADV_KEEPONFORK
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif

namespace memlock {
namespace platform {

const Features& features() {
  // mlock2 of nothing: 0 where it exists, ENOSYS where it does not (Linux
  // before 4.4, qemu-user 7.2, a seccomp filter).
  static const Features linux_features{
      "linux", syscall(SYS_mlock2, 0, 0, MLOCK_ONFAULT) == 0, true, true, true, true, true, true, true, true, true};
  return linux_features;
}

static int result(long rc) { return rc == 0 ? 0 : -errno; }

// The lock syscalls are made directly, not through libc: sanitizer runtimes
// (and other interposers) replace mlock and friends with no-ops, and memlock
// must do what it says under them too.

int lock_range(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMlock);
  return result(syscall(SYS_mlock, addr, len));
}

int lock_range_on_fault(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMlock2);
  // The raw syscall: glibc's mlock2 wrapper is missing before 2.27.
  return result(syscall(SYS_mlock2, addr, len, MLOCK_ONFAULT));
}

int unlock_range(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMunlock);
  return result(syscall(SYS_munlock, addr, len));
}

int lock_all(int flags) {
  MEMLOCK_INJECT(Syscall::kMlockall);
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
  int mcl = ((flags & kLockCurrent) ? MCL_CURRENT : 0) | ((flags & kLockFuture) ? MCL_FUTURE : 0) |
            ((flags & kLockOnFault) ? MCL_ONFAULT : 0);
  return result(syscall(SYS_mlockall, mcl));
}

int unlock_all() {
  MEMLOCK_INJECT(Syscall::kMunlockall);
  return result(syscall(SYS_munlockall));
}

int locked_ranges(std::vector<LockedRange>* out) {
  FILE* smaps = fopen("/proc/self/smaps", "r");
  if (smaps == nullptr) return -errno;
  char line[1024];
  unsigned long start = 0, end = 0;
  while (fgets(line, sizeof(line), smaps) != nullptr) {
    unsigned long s = 0, e = 0;
    if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {  // a mapping's header line
      start = s;
      end = e;
    } else if (strncmp(line, "VmFlags:", 8) == 0 &&
               (strstr(line, " lo") != nullptr || strstr(line, " ht") != nullptr)) {
      // hugetlb memory (ht) never leaves RAM, and mlock leaves its VmFlags alone.
      out->push_back(LockedRange{start, end, strstr(line, " lf") != nullptr});
    }
  }
  fclose(smaps);
  return 0;
}

int for_each_mapping(void (*fn)(uintptr_t start, uintptr_t end, void* context), void* context) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buffer[16384];
  // Each line starts "start-end ": parsed as it streams by, a line may
  // span two reads.
  enum { kStart, kEnd, kRest } state = kStart;
  uintptr_t start = 0, end = 0;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  int rc = 0;
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) rc = -errno;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      char c = buffer[i];
      if (c == '\n') {
        state = kStart;
        start = end = 0;
      } else if (state == kStart) {
        if (c == '-')
          state = kEnd;
        else
          start = start * 16 + static_cast<uintptr_t>(hex(c));
      } else if (state == kEnd) {
        if (c == ' ') {
          state = kRest;
          fn(start, end, context);
        } else {
          end = end * 16 + static_cast<uintptr_t>(hex(c));
        }
      }
    }
  }
  close(fd);
  return rc;
}

int64_t mapping_count() {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  char buffer[16384];
  int64_t lines = 0;
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) lines += buffer[i] == '\n';
  }
  close(fd);
  return lines;
}

int64_t max_map_count() {
  // Unreadable, empty or not a number (a container can hide or mask the
  // file): the kernel's default (DEFAULT_MAX_MAP_COUNT), so memlock keeps
  // its margin below the usual limit rather than none at all.
  constexpr int64_t kKernelDefault = 65530;
  int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kKernelDefault;
  char text[32];
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return kKernelDefault;
  text[n] = '\0';
  char* end = nullptr;
  long long value = strtoll(text, &end, 10);
  return end != text && value > 0 ? value : kKernelDefault;
}

int64_t map_memory(size_t len) {
  MEMLOCK_INJECT(Syscall::kMmap);
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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

// glibc names memfd_secret only from 2.35; the number is the same on x86_64
// and arm64.
#if !defined(SYS_memfd_secret) && (defined(__x86_64__) || defined(__aarch64__))
#define SYS_memfd_secret 447
#endif

static int64_t secret_memory_fault(Syscall syscall) {
  MEMLOCK_INJECT(syscall);
  return 0;
}

int64_t map_secret_memory(size_t len, uintptr_t at, Syscall* failed) {
#ifdef SYS_memfd_secret
  *failed = Syscall::kMemfdSecret;
  if (int64_t injected = secret_memory_fault(Syscall::kMemfdSecret)) return injected;
  int fd = static_cast<int>(syscall(SYS_memfd_secret, O_CLOEXEC));
  if (fd < 0) return -errno;
  *failed = Syscall::kFtruncate;
  if (ftruncate(fd, static_cast<off_t>(len)) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  *failed = Syscall::kMmap;
  int64_t injected = secret_memory_fault(Syscall::kMmap);
  void* addr = injected != 0 ? MAP_FAILED
                             : mmap(reinterpret_cast<void*>(at), len, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | (at != 0 ? MAP_FIXED : 0), fd, 0);
  int err = injected != 0 ? static_cast<int>(-injected) : errno;
  // The mapping holds the file: no descriptor is spent per slab.
  close(fd);
  if (addr == MAP_FAILED) return -err;
  *failed = Syscall::kNone;
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(addr));
#else
  (void)len;
  (void)at;
  *failed = Syscall::kMemfdSecret;
  return -ENOSYS;
#endif
}

int set_core_limit_zero() {
  struct rlimit none {};
  return result(setrlimit(RLIMIT_CORE, &none));
}

int set_not_dumpable() { return result(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)); }

#ifndef PR_SET_PTRACER
#define PR_SET_PTRACER 0x59616d61
#endif
int clear_ptracer() { return result(prctl(PR_SET_PTRACER, 0, 0, 0, 0)); }

int dumpable() {
  int rc = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  return rc < 0 ? -errno : rc;
}

static int advise(uintptr_t addr, size_t len, int advice) {
  MEMLOCK_INJECT(Syscall::kMadvise);
  return result(madvise(reinterpret_cast<void*>(addr), len, advice));
}

int advise_dont_dump(uintptr_t addr, size_t len) { return advise(addr, len, MADV_DONTDUMP); }
int advise_wipe_on_fork(uintptr_t addr, size_t len) { return advise(addr, len, MADV_WIPEONFORK); }
int advise_dont_fork(uintptr_t addr, size_t len) { return advise(addr, len, MADV_DONTFORK); }
int advise_defaults(uintptr_t addr, size_t len) {
  int rc = advise(addr, len, MADV_DODUMP);
  int keep = advise(addr, len, MADV_KEEPONFORK);
  return rc < 0 ? rc : keep;
}

int64_t map_hugetlb(size_t len, size_t huge_page) {
  MEMLOCK_INJECT(Syscall::kMmap);
  // The page size goes in as its log2 (MAP_HUGE_2MB, MAP_HUGE_1GB, ...).
  int log2 = __builtin_ctzll(huge_page);
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (log2 << MAP_HUGE_SHIFT), -1, 0);
  return addr == MAP_FAILED ? -errno : static_cast<int64_t>(reinterpret_cast<uintptr_t>(addr));
}

int advise_huge_pages(uintptr_t addr, size_t len) { return advise(addr, len, MADV_HUGEPAGE); }

int populate_write(uintptr_t addr, size_t len, size_t step) {
  int rc = advise(addr, len, MADV_POPULATE_WRITE);
  if (rc != -EINVAL) return rc;  // EINVAL: a kernel before 5.14
  for (uintptr_t p = addr; p < addr + len; p += step) {
    volatile unsigned char* byte = reinterpret_cast<volatile unsigned char*>(p);
    *byte = *byte;
  }
  return 0;
}

void wipe(uintptr_t addr, size_t len) { explicit_bzero(reinterpret_cast<void*>(addr), len); }

int64_t resident_pages(uintptr_t addr, size_t len) {
  MEMLOCK_INJECT(Syscall::kMincore);
  size_t pages = (len + page_size() - 1) / page_size();
  std::vector<unsigned char> vec(pages);
  if (mincore(reinterpret_cast<void*>(addr), len, vec.data()) != 0) return -errno;
  int64_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

}  // namespace platform
}  // namespace memlock
