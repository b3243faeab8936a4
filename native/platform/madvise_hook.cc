#include "platform/madvise_hook.h"

#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

// Only its address: N-API is defined where V8 is (the node executable, or
// libnode), and this layer includes no node header.
extern "C" void napi_module_register(void*);

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

namespace memlock {
namespace madvise_hook {
namespace {

// The relocations through which an object calls madvise: its PLT slot
// (JUMP_SLOT) and a GOT entry (GLOB_DAT: -fno-plt, or an address taken).
// Elsewhere the numbers mean other things, so the hook patches nothing and
// lockAll is ENOSYS.
#if defined(__x86_64__)
constexpr bool kKnownArchitecture = true;
constexpr unsigned long kJumpSlot = R_X86_64_JUMP_SLOT, kGlobDat = R_X86_64_GLOB_DAT;
#elif defined(__aarch64__)
constexpr bool kKnownArchitecture = true;
constexpr unsigned long kJumpSlot = R_AARCH64_JUMP_SLOT, kGlobDat = R_AARCH64_GLOB_DAT;
#else
constexpr bool kKnownArchitecture = false;
constexpr unsigned long kJumpSlot = ~0ul, kGlobDat = ~0ul;
#endif

bool is_slot(unsigned long type) { return kKnownArchitecture && (type == kJumpSlot || type == kGlobDat); }

std::atomic<bool> active{false};
std::atomic<bool> relock_on_fault{false};
#ifdef MEMLOCK_TESTING
std::atomic<bool> force_fallback{false};
#endif
std::atomic<uint64_t> retried_locked{0}, retried_unlock{0}, failed{0};

// Straight to the kernel: the hook must not call itself through a slot.
long sys(long number, void* addr, size_t len, long arg) { return syscall(number, addr, len, arg); }

extern "C" int memlock_madvise(void* addr, size_t len, int advice) {
  if (sys(SYS_madvise, addr, len, advice) == 0) return 0;
  int error = errno;
  if (error != EINVAL || !active.load(std::memory_order_relaxed) || (advice != MADV_DONTNEED && advice != MADV_FREE)) {
    errno = error;
    return -1;
  }
#ifdef MEMLOCK_TESTING
  if (force_fallback.load(std::memory_order_relaxed)) {
    errno = EINVAL;  // as a kernel before 5.18 answers MADV_DONTNEED_LOCKED
  } else
#endif
      if (sys(SYS_madvise, addr, len, MADV_DONTNEED_LOCKED) == 0) {
    retried_locked.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  // Before Linux 5.18: release the range unlocked, then lock it again so
  // whole-process locking still covers it when V8 reuses it.
  if (errno == EINVAL && sys(SYS_munlock, addr, len, 0) == 0) {
    long rc = sys(SYS_madvise, addr, len, MADV_DONTNEED);
    sys(SYS_mlock2, addr, len, relock_on_fault.load(std::memory_order_relaxed) ? MLOCK_ONFAULT : 0);
    if (rc == 0) {
      retried_unlock.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
  }
  failed.fetch_add(1, std::memory_order_relaxed);
  errno = error;
  return -1;
}

// The protection of the page holding `addr`, from /proc/self/maps.
int protection_of(uintptr_t addr) {
  FILE* maps = fopen("/proc/self/maps", "r");
  if (maps == nullptr) return -1;
  char line[512];
  int prot = -1;
  while (fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long start = 0, end = 0;
    char perms[5] = {};
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3) continue;
    if (addr >= start && addr < end) {
      prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) | (perms[2] == 'x' ? PROT_EXEC : 0);
      break;
    }
  }
  fclose(maps);
  return prot;
}

bool patch_slot(void** slot) {
  if (*slot == reinterpret_cast<void*>(&memlock_madvise)) return true;
  uintptr_t page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t page = reinterpret_cast<uintptr_t>(slot) & ~(page_size - 1);
  int prot = protection_of(reinterpret_cast<uintptr_t>(slot));
  if (prot < 0) return false;
  // Full RELRO leaves the GOT read-only after start-up: open it briefly.
  if (!(prot & PROT_WRITE) && mprotect(reinterpret_cast<void*>(page), page_size, prot | PROT_WRITE) != 0) return false;
  __atomic_store_n(slot, reinterpret_cast<void*>(&memlock_madvise), __ATOMIC_RELEASE);
  if (!(prot & PROT_WRITE)) mprotect(reinterpret_cast<void*>(page), page_size, prot);
  return true;
}

// Dynamic-section pointers are usually relocated by ld.so; some are not.
template <typename T>
T* at(const dl_phdr_info* info, ElfW(Addr) value) {
  return reinterpret_cast<T*>(value < info->dlpi_addr ? info->dlpi_addr + value : value);
}

struct Patched {
  int slots = 0;    // every object's
  int in_node = 0;  // the slots of the object that holds node and V8
};

bool contains(const dl_phdr_info* info, uintptr_t addr) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && addr >= info->dlpi_addr + ph.p_vaddr &&
        addr < info->dlpi_addr + ph.p_vaddr + ph.p_memsz)
      return true;
  }
  return false;
}

int visit(dl_phdr_info* info, size_t, void* data) {
  Patched* patched = static_cast<Patched*>(data);
  const ElfW(Dyn)* dynamic = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_DYNAMIC) dynamic = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr);
  }
  bool is_self = contains(info, reinterpret_cast<uintptr_t>(&memlock_madvise));
  // N-API is defined where V8 is: the node executable, or libnode.
  bool is_node = contains(info, reinterpret_cast<uintptr_t>(&napi_module_register));
  if (dynamic == nullptr || is_self || strstr(info->dlpi_name, "linux-vdso") != nullptr) return 0;

  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const ElfW(Rela) * tables[2] = {nullptr, nullptr};
  size_t sizes[2] = {0, 0};
  for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB:
        symtab = at<const ElfW(Sym)>(info, d->d_un.d_ptr);
        break;
      case DT_STRTAB:
        strtab = at<const char>(info, d->d_un.d_ptr);
        break;
      case DT_JMPREL:
        tables[0] = at<const ElfW(Rela)>(info, d->d_un.d_ptr);
        break;
      case DT_PLTRELSZ:
        sizes[0] = d->d_un.d_val;
        break;
      case DT_RELA:
        tables[1] = at<const ElfW(Rela)>(info, d->d_un.d_ptr);
        break;
      case DT_RELASZ:
        sizes[1] = d->d_un.d_val;
        break;
    }
  }
  if (symtab == nullptr || strtab == nullptr) return 0;
  for (int t = 0; t < 2; ++t) {
    if (tables[t] == nullptr) continue;
    for (size_t i = 0; i < sizes[t] / sizeof(ElfW(Rela)); ++i) {
      const ElfW(Rela)& r = tables[t][i];
      if (!is_slot(ELF64_R_TYPE(r.r_info))) continue;
      if (strcmp(strtab + symtab[ELF64_R_SYM(r.r_info)].st_name, "madvise") != 0) continue;
      if (!patch_slot(reinterpret_cast<void**>(info->dlpi_addr + r.r_offset))) continue;
      patched->slots += 1;
      patched->in_node += is_node;
    }
  }
  return 0;
}

}  // namespace

int install() {
  if (!kKnownArchitecture) return 0;
  Patched patched;
  dl_iterate_phdr(visit, &patched);
  // Other objects' slots do not save node: without its own, V8 would abort.
  return patched.in_node > 0 ? patched.slots : 0;
}

void set_active(bool on, bool on_fault) {
  relock_on_fault.store(on_fault, std::memory_order_relaxed);
  active.store(on, std::memory_order_release);
}

#ifdef MEMLOCK_TESTING
void set_force_fallback(bool on) { force_fallback.store(on, std::memory_order_relaxed); }
#endif

Counts counts() { return Counts{retried_locked.load(), retried_unlock.load(), failed.load()}; }

}  // namespace madvise_hook
}  // namespace memlock
