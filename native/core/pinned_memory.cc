#include "core/pinned_memory.h"

#include <new>
#include <vector>

#include "core/locker.h"
#include "platform/platform.h"

namespace memlock {

namespace {

// The owner of pinned buffers' locks in the Locker: memlock's own, so that no
// environment's release path can take them; the buffer's free takes them.
const char kPinnedOwner = 0;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

PinnedMemory& PinnedMemory::instance() {
  static PinnedMemory* memory = [] {
    PinnedMemory* created = new PinnedMemory();  // never destroyed, like the Locker
    register_fork_handlers();
    return created;
  }();
  return *memory;
}

PinnedResult PinnedMemory::allocate(const PinnedRequest& request) {
  PinnedResult result;
  const size_t ps = platform::page_size();
  const size_t unit = request.hugetlb_page > 0 ? request.hugetlb_page : request.thp_align > 0 ? request.thp_align : ps;
  const size_t len = round_up(request.size, unit);
  Locker& locker = Locker::instance();
  if (locker.reserve_mappings(1, &result.mappings) < 0) {
    result.error = kMapCountExceeded;
    return result;
  }
  int64_t mapped = request.hugetlb_page > 0 ? platform::map_hugetlb(len, request.hugetlb_page)
                   : request.thp_align > 0  ? platform::map_aligned(len, request.thp_align)
                                            : platform::map_memory(len);
  if (mapped < 0) {
    result.error = mapped;
    result.failed = Syscall::kMmap;
    return result;
  }
  const uintptr_t addr = static_cast<uintptr_t>(mapped);
  int64_t lock_id = 0;
  auto fail = [&](int64_t rc, Syscall syscall) {
    if (lock_id > 0) locker.release(&kPinnedOwner, lock_id);
    locker.forget(addr, len);
    platform::unmap_memory(addr, len);
    result.error = rc;
    result.failed = syscall;
    return result;
  };
  if (request.thp_align > 0) {
    if (int rc = platform::advise_huge_pages(addr, len); rc < 0) return fail(rc, Syscall::kMadvise);
  }
  if (request.drop_on_fork && platform::features().drop_on_fork) {
    if (int rc = platform::advise_dont_fork(addr, len); rc < 0) return fail(rc, Syscall::kMadvise);
  }
  // Memory the kernel just mapped cannot be under a lock: a count here is
  // left from memory that was unmapped behind memlock's back. It goes.
  locker.forget(addr, len);
  result.lock_pages = len / ps;
  // A plain mlock faults every page in itself, for writing (as fast as
  // MADV_POPULATE_WRITE here, and the same pages); mlock leaves hugetlb
  // memory alone (it never leaves RAM anyway), so that is populated apart.
  LockOutcome lock = locker.lock(&kPinnedOwner, addr, len, request.on_fault, 0, request.thread_id);
  if (lock.id < 0) {
    if (lock.id == kMapCountExceeded) result.mappings = lock.mappings;
    return fail(lock.id, lock.failed);
  }
  lock_id = lock.id;
  locker.annotate(lock_id, true, request.label, "");
  if (request.prefault && (request.on_fault || request.hugetlb_page > 0)) {
    if (int rc = platform::populate_write(addr, len, request.hugetlb_page > 0 ? request.hugetlb_page : ps); rc < 0) {
      return fail(rc, Syscall::kMadvise);
    }
  }
  std::lock_guard<std::mutex> guard(mu_);
  result.addr = addr;
  result.mapped = len;
  result.serial = next_serial_++;
  live_.emplace(addr, Pinned{len, lock_id, request.owner, result.serial});
  mapped_bytes_ += len;
  return result;
}

void PinnedMemory::unmap(uintptr_t addr, const Pinned& pinned) {
  Locker& locker = Locker::instance();
  locker.release(&kPinnedOwner, pinned.lock_id);
  // Any lock a user took on the memory ends with it: unmapped memory is
  // implicitly unlocked, so every count on it goes, sticky ones included.
  locker.forget(addr, pinned.mapped);
  platform::unmap_memory(addr, pinned.mapped);
}

bool PinnedMemory::free_owned(uintptr_t addr, const void* owner) {
  Pinned pinned;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = live_.find(addr);
    if (it == live_.end() || it->second.owner != owner) return false;
    pinned = it->second;
    live_.erase(it);
    mapped_bytes_ -= pinned.mapped;
  }
  unmap(addr, pinned);
  return true;
}

void PinnedMemory::free_if_current(uintptr_t addr, uint64_t serial) {
  Pinned pinned;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = live_.find(addr);
    if (it == live_.end() || it->second.serial != serial) return;  // freed already
    pinned = it->second;
    live_.erase(it);
    mapped_bytes_ -= pinned.mapped;
  }
  unmap(addr, pinned);
}

void PinnedMemory::free_owner(const void* owner) {
  std::vector<std::pair<uintptr_t, Pinned>> gone;
  {
    std::lock_guard<std::mutex> guard(mu_);
    for (auto it = live_.begin(); it != live_.end();) {
      if (it->second.owner == owner) {
        gone.emplace_back(it->first, it->second);
        mapped_bytes_ -= it->second.mapped;
        it = live_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& [addr, pinned] : gone) unmap(addr, pinned);
}

PinnedStats PinnedMemory::stats() {
  std::lock_guard<std::mutex> guard(mu_);
  return PinnedStats{live_.size(), mapped_bytes_};
}

}  // namespace memlock
