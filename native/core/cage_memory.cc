#include "core/cage_memory.h"

#include <errno.h>

#include "core/locker.h"
#include "platform/platform.h"

namespace memlock {
namespace {

// The owner of these locks in the Locker, as the secret pool's are: never an
// environment, so an environment's teardown leaves them to their Buffers'
// finalizers (which run then too).
const char kCageOwner = 0;

}  // namespace

CageMemory& CageMemory::instance() {
  static CageMemory* memory = [] {
    CageMemory* created = new CageMemory();  // never destroyed, like the Locker
    register_fork_handlers();
    return created;
  }();
  return *memory;
}

CageResult CageMemory::adopt(const CageRequest& request, void* hold) {
  CageResult result;
  std::lock_guard<std::mutex> guard(mu_);
  const platform::Features& can = platform::features();
  // Best effort: V8's memory works without the advice; the secret reports
  // what took.
  result.dont_dump = request.advise && can.dont_dump && platform::advise_dont_dump(request.pages, request.len) == 0;
  result.wipe_on_fork =
      request.advise && can.wipe_on_fork && platform::advise_wipe_on_fork(request.pages, request.len) == 0;
  Locker& locker = Locker::instance();
  result.lock_pages = request.len / platform::page_size();
  LockOutcome lock = locker.lock(&kCageOwner, request.pages, request.len, request.on_fault, 0);
  if (lock.id == kMapCountExceeded) result.mappings = lock.mappings;
  if (lock.id < 0) {
    if (request.require_lock) {
      if (request.advise) platform::advise_defaults(request.pages, request.len);
      result.error = lock.id;
      result.failed = lock.failed;
      return result;
    }
    result.lock_error = lock.id;
  } else {
    locker.annotate(lock.id, true, request.label, "");
    result.locked = true;
  }
  result.serial = next_serial_++;
  live_[request.pages] = Entry{request.len, request.owner,    result.serial, lock.id > 0 ? lock.id : 0,
                               hold,        kAccessReadWrite, request.advise};
  bytes_ += request.len;
  if (request.advise) {
    secrets_ += 1;
    secret_bytes_ += request.len;
  }
  return result;
}

void CageMemory::release_locked(uintptr_t pages, const Entry& entry) {
  if (entry.access != kAccessReadWrite) platform::protect_range(pages, entry.len, kAccessReadWrite);
  platform::wipe(pages, entry.len);
  if (entry.lock_id > 0) Locker::instance().release(&kCageOwner, entry.lock_id);
  platform::advise_defaults(pages, entry.len);
  uncount(entry);
}

void CageMemory::uncount(const Entry& entry) {
  bytes_ -= entry.len;
  if (entry.secret) {
    secrets_ -= 1;
    secret_bytes_ -= entry.len;
  }
}

void* CageMemory::release_owned(uintptr_t pages, const void* owner) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(pages);
  if (it == live_.end() || it->second.owner != owner) return nullptr;
  void* hold = it->second.hold;
  release_locked(pages, it->second);
  live_.erase(it);
  return hold;
}

bool CageMemory::release_if_current(uintptr_t pages, uint64_t serial, bool memory_gone) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(pages);
  if (it == live_.end() || it->second.serial != serial) return false;
  if (memory_gone) {
    // No write, no munlock: the memory is another ArrayBuffer's now (or
    // freed). Protected pages are made accessible again all the same, so
    // that V8's allocator never meets them PROT_NONE.
    if (it->second.access != kAccessReadWrite) platform::protect_range(pages, it->second.len, kAccessReadWrite);
    Locker::instance().forget(pages, it->second.len);
    uncount(it->second);
  } else {
    release_locked(pages, it->second);
  }
  live_.erase(it);
  return true;
}

int CageMemory::protect(uintptr_t pages, const void* owner, int access) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(pages);
  if (it == live_.end() || it->second.owner != owner) return -ENOENT;
  int rc = platform::protect_range(pages, it->second.len, access);
  if (rc == 0) it->second.access = access;
  return rc;
}

CageStats CageMemory::stats() {
  std::lock_guard<std::mutex> guard(mu_);
  return CageStats{live_.size(), bytes_, secrets_, secret_bytes_};
}

}  // namespace memlock
