#include "core/secret_pool.h"

#include <errno.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#include <algorithm>
#include <new>

#include "core/cage_memory.h"
#include "core/pinned_memory.h"
#include "platform/platform.h"

namespace memlock {

namespace {

// The owner of the pool's own locks in the Locker: never an environment, so
// no worker's exit releases them.
const char kPoolOwner = 0;

size_t class_index(size_t size) {
  size_t index = 0;
  for (size_t cls = 16; cls < size; cls <<= 1) ++index;
  return index;
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

struct SecretPool::Slab {
  uintptr_t base;
  size_t bytes;
  size_t slot_size;
  uint32_t capacity;
  uint32_t used = 0;
  uint32_t fresh = 0;  // slots [fresh, capacity) were never handed out
  std::vector<uint32_t> free_slots;
  int64_t lock_id;
  Key key;
};

struct Secret {
  uintptr_t addr;
  size_t size;
  SecretPool::Slab* slab;  // nullptr: a dedicated mapping
  uint32_t slot;
  bool guarded;
  uintptr_t data;  // dedicated: the data pages
  size_t data_len;
  int64_t lock_id;
  const void* owner;
  uint64_t serial;
  SecretBackend backend;
  int access = kAccessReadWrite;  // protect(): dedicated secrets only
};

SecretPool& SecretPool::instance() {
  static SecretPool* pool = [] {
    SecretPool* created = new SecretPool();  // never destroyed, like the Locker
    register_fork_handlers();
    return created;
  }();
  return *pool;
}

void register_fork_handlers() {
#ifndef _WIN32  // Windows cannot fork: nothing to hand over
  // A function-local static: registered once, whichever singleton calls first.
  static const int registered = pthread_atfork(
      [] {
        SecretPool::instance().mu_.lock();    // the pool's first, as on every path
        PinnedMemory::instance().mu_.lock();  // held across no other: any place will do
        CageMemory::instance().mu_.lock();    // before the Locker's, as on every path
        Locker::before_fork();
      },
      [] {
        Locker::after_fork_parent();
        CageMemory::instance().mu_.unlock();
        PinnedMemory::instance().mu_.unlock();
        SecretPool::instance().mu_.unlock();
      },
      [] {
        Locker::after_fork_child();
        // Only the forking thread survives: a fresh mutex, not an unlock.
        new (&PinnedMemory::instance().mu_) std::mutex();
        // The Locker's table starts empty in the child: so do the adoptions
        // that were locked in it (the parent's state dropped, not freed).
        CageMemory& cage = CageMemory::instance();
        new (&cage.mu_) std::mutex();
        new (&cage.live_) decltype(cage.live_)();
        cage.bytes_ = 0;
        cage.secrets_ = 0;
        cage.secret_bytes_ = 0;
        new (&SecretPool::instance().mu_) std::mutex();
      });
  (void)registered;
#endif
}

std::vector<SecretPool::Slab*>& SecretPool::slabs_for(const Key& key) {
  return slabs_[key.size_class][key.locked][static_cast<int>(key.fork)][static_cast<int>(key.backend)];
}

namespace {

// A kernel that has no memfd_secret, or refuses it (secretmem.enable=0, a
// seccomp profile, an LSM), refuses it every time; a shortage may pass.
bool is_refusal(int64_t error) { return error == -ENOSYS || error == -EPERM || error == -EACCES || error == -EINVAL; }

}  // namespace

uintptr_t SecretPool::map_secret_memory(size_t len, bool guard, ForkMode fork, bool require_lock, SecretBackend backend,
                                        int64_t* lock_id, SecretResult& result) {
  const bool secretmem = backend == SecretBackend::kSecretMem;
  // The kernel locks secretmem itself: its memory is never best effort.
  if (secretmem) require_lock = true;
  const size_t ps = platform::page_size();
  const size_t total = len + (guard ? 2 * ps : 0);
  Locker& locker = Locker::instance();
  // A mapping of its own, three with guard pages: refused, like a lock,
  // while too few mappings would be left below vm.max_map_count.
  if (locker.reserve_mappings(guard ? 3 : 1, &result.mappings) < 0) {
    result.error = kMapCountExceeded;
    return 0;
  }
  Syscall map_failed = Syscall::kMmap;
  // Guarded secretmem: anonymous memory first, the secret mapped over its
  // middle, so the guard pages are neither locked nor charged to RLIMIT_MEMLOCK.
  int64_t mapped =
      secretmem && !guard ? platform::map_secret_memory(total, 0, &map_failed) : platform::map_memory(total);
  if (mapped >= 0 && secretmem && guard) {
    int64_t inner = platform::map_secret_memory(len, static_cast<uintptr_t>(mapped) + ps, &map_failed);
    if (inner < 0) {
      platform::unmap_memory(static_cast<uintptr_t>(mapped), total);
      mapped = inner;
    }
  }
  if (mapped < 0) {
    result.error = mapped;
    result.failed = map_failed;
    if (secretmem) {
      // The caller falls back (auto) or refuses (explicit secretmem).
      result.fallback_error = mapped;
      result.fallback_syscall = map_failed;
      result.error = kSecretMemUnavailable;
    }
    return 0;
  }
  uintptr_t base = static_cast<uintptr_t>(mapped);
  uintptr_t data = guard ? base + ps : base;
  auto fail = [&](int64_t rc, Syscall syscall) {
    platform::unmap_memory(base, total);
    result.error = rc;
    result.failed = syscall;
    return uintptr_t{0};
  };
  if (guard) {
    if (int rc = platform::protect_none(base, ps); rc < 0) return fail(rc, Syscall::kMprotect);
    if (int rc = platform::protect_none(data + len, ps); rc < 0) return fail(rc, Syscall::kMprotect);
  }
  // What the platform lacks is left out (src/memory/secret.ts warns, once, naming
  // it): no core-dump exclusion on macOS and Windows; a wipe on fork becomes
  // a drop where only that exists (macOS's minherit), and nothing where the
  // platform has neither (Windows cannot fork).
  const platform::Features& can = platform::features();
  if (can.dont_dump) {
    if (int rc = platform::advise_dont_dump(data, len); rc < 0) return fail(rc, Syscall::kMadvise);
  }
  int rc = 0;
  // A shared mapping cannot be wiped on fork (MADV_WIPEONFORK is for
  // private anonymous memory): secretmem is dropped from a child instead.
  if (secretmem)
    rc = platform::advise_dont_fork(data, len);
  else if (fork == ForkMode::kWipe && can.wipe_on_fork)
    rc = platform::advise_wipe_on_fork(data, len);
  else if (can.drop_on_fork)
    rc = platform::advise_dont_fork(data, len);
  if (rc < 0) return fail(rc, Syscall::kMadvise);

  // Memory the kernel just mapped cannot be under a lock: a count here is
  // left from memory that was unmapped behind memlock's back. It goes.
  locker.forget(data, len);
  result.lock_pages = len / ps;
  // secretmem is locked by the kernel from mmap on (VmLck, RLIMIT_MEMLOCK)
  // and refuses mlock (ENOMEM): only counted.
  LockOutcome lock = locker.lock(&kPoolOwner, data, len, false, 0, -1, true, secretmem);
  if (lock.id == kMapCountExceeded) result.mappings = lock.mappings;
  if (lock.id > 0) locker.annotate(lock.id, true, guard ? "memlock: guarded secret" : "memlock: secret memory", "");
  if (lock.id < 0) {
    if (require_lock) return fail(lock.id, lock.failed);
    result.lock_error = lock.id;
    *lock_id = 0;
    unlocked_bytes_ += len;
  } else {
    *lock_id = lock.id;
  }
  mapped_bytes_ += total;
  if (secretmem) secretmem_bytes_ += total;
  return data;
}

void SecretPool::unmap_secret_memory(uintptr_t data, size_t len, bool guard, int64_t lock_id, SecretBackend backend) {
  const size_t ps = platform::page_size();
#ifdef MEMLOCK_TESTING
  if (verify_wipe_) {
    const unsigned char* bytes = reinterpret_cast<const unsigned char*>(data);
    wipe_checks_.checked_unmaps += 1;
    if (std::any_of(bytes, bytes + len, [](unsigned char b) { return b != 0; })) wipe_checks_.dirty_unmaps += 1;
  }
#endif
  Locker& locker = Locker::instance();
  if (lock_id > 0)
    locker.release(&kPoolOwner, lock_id);
  else
    unlocked_bytes_ -= len;
  // Any lock a user took on the memory ends with it: unmapped memory is
  // implicitly unlocked, so every count on it goes, sticky ones included.
  locker.forget(data, len);
  platform::unmap_memory(guard ? data - ps : data, len + (guard ? 2 * ps : 0));
  mapped_bytes_ -= len + (guard ? 2 * ps : 0);
  if (backend == SecretBackend::kSecretMem) secretmem_bytes_ -= len + (guard ? 2 * ps : 0);
}

SecretPool::Slab* SecretPool::slab_with_room(const Key& key) {
  auto& slabs = slabs_for(key);
  // Newest first: it is the one most likely to have room.
  for (auto it = slabs.rbegin(); it != slabs.rend(); ++it) {
    if ((*it)->used < (*it)->capacity) return *it;
  }
  return nullptr;
}

SecretPool::Slab* SecretPool::new_slab(size_t size_class, ForkMode fork, bool require_lock, SecretBackend backend,
                                       SecretResult& result) {
  const size_t ps = platform::page_size();
  const size_t slot_size = size_t{16} << size_class;
  size_t& next = next_slab_bytes_[size_class][static_cast<int>(fork)][static_cast<int>(backend)];
  size_t bytes = std::max(ps, next == 0 ? ps : next);
  int64_t lock_id = 0;
  uintptr_t base = map_secret_memory(bytes, false, fork, require_lock, backend, &lock_id, result);
  if (base == 0) return nullptr;
  // Each new slab of a kind is twice the last, up to 1 MiB.
  next = std::min(kMaxSlab, bytes * 2);
  Slab* slab = new Slab{base, bytes, slot_size, static_cast<uint32_t>(bytes / slot_size),   0,
                        0,    {},    lock_id,   Key{size_class, lock_id > 0, fork, backend}};
  slabs_for(slab->key).push_back(slab);
  slab_count_ += 1;
  return slab;
}

SecretResult SecretPool::allocate_dedicated(const SecretRequest& request, SecretBackend backend) {
  SecretResult result;
  const size_t len = round_up(request.size, platform::page_size());
  int64_t lock_id = 0;
  uintptr_t data =
      map_secret_memory(len, request.guarded, request.fork, request.require_lock, backend, &lock_id, result);
  if (data == 0) return result;
  // Guarded: flush against the trailing guard page, so one byte over faults.
  uintptr_t addr = request.guarded ? data + len - request.size : data;
  Secret* secret = new Secret{addr,    request.size,  nullptr,        0,      request.guarded, data, len,
                              lock_id, request.owner, next_serial_++, backend};
  result.addr = addr;
  result.serial = secret->serial;
  result.locked = lock_id > 0;
  dedicated_ += 1;
  live_.emplace(addr, secret);
  return result;
}

SecretResult SecretPool::allocate(const SecretRequest& request) {
  std::lock_guard<std::mutex> guard(mu_);
  if (request.backend == BackendChoice::kMlock) return allocate_on(request, SecretBackend::kMlock);
  if (request.backend == BackendChoice::kSecretMem) return allocate_on(request, SecretBackend::kSecretMem);
  if (secretmem_refused_ == 0) {
    SecretResult result = allocate_on(request, SecretBackend::kSecretMem);
    if (result.addr != 0) return result;
    const bool unavailable = result.error == kSecretMemUnavailable;
    // The lockable-page limit and the mapping cap refuse mlock memory
    // alike; only best effort takes unlocked mlock memory then.
    if (!unavailable && request.require_lock) return result;
    if (unavailable && is_refusal(result.fallback_error)) {
      secretmem_refused_ = result.fallback_error;
      secretmem_refused_syscall_ = result.fallback_syscall;
    }
    SecretResult fallback = allocate_on(request, SecretBackend::kMlock);
    if (unavailable) {
      fallback.fallback_error = result.fallback_error;
      fallback.fallback_syscall = result.fallback_syscall;
    }
    return fallback;
  }
  SecretResult result = allocate_on(request, SecretBackend::kMlock);
  result.fallback_error = secretmem_refused_;
  result.fallback_syscall = secretmem_refused_syscall_;
  return result;
}

SecretResult SecretPool::allocate_on(const SecretRequest& request, SecretBackend backend) {
  SecretResult result = request.guarded || request.size > kMaxPooled ? allocate_dedicated(request, backend)
                                                                     : allocate_pooled(request, backend);
  result.backend = backend;
  if (result.addr != 0 && backend == SecretBackend::kSecretMem) secretmem_live_ += 1;
  return result;
}

SecretResult SecretPool::allocate_pooled(const SecretRequest& request, SecretBackend backend) {
  SecretResult result;
  const size_t size_class = class_index(request.size);
  // secretmem is locked by the kernel whatever the Locker said: one kind.
  Slab* slab = slab_with_room(Key{size_class, true, request.fork, backend});
  if (slab == nullptr && !request.require_lock && backend == SecretBackend::kMlock)
    slab = slab_with_room(Key{size_class, false, request.fork, backend});
  if (slab == nullptr) slab = new_slab(size_class, request.fork, request.require_lock, backend, result);
  if (slab == nullptr) return result;

  uint32_t slot;
  if (!slab->free_slots.empty()) {
    slot = slab->free_slots.back();
    slab->free_slots.pop_back();
  } else {
    slot = slab->fresh++;
  }
  slab->used += 1;
  uintptr_t addr = slab->base + slot * slab->slot_size;
  Secret* secret = new Secret{addr, request.size, slab, slot, false, 0, 0, 0, request.owner, next_serial_++, backend};
  result.addr = addr;
  result.serial = secret->serial;
  result.locked = slab->key.locked;
  live_.emplace(addr, secret);
  return result;
}

void SecretPool::free_locked(Secret* secret, bool* trim) {
  live_.erase(secret->addr);
  if (secret->backend == SecretBackend::kSecretMem) secretmem_live_ -= 1;
  if (secret->slab == nullptr) {
    // Protected (noaccess, readonly): writable again for the wipe.
    if (secret->access != kAccessReadWrite) platform::protect_range(secret->data, secret->data_len, kAccessReadWrite);
    platform::wipe(secret->data, secret->data_len);
    unmap_secret_memory(secret->data, secret->data_len, secret->guarded, secret->lock_id, secret->backend);
    dedicated_ -= 1;
  } else {
    Slab* slab = secret->slab;
    platform::wipe(secret->addr, slab->slot_size);
    slab->free_slots.push_back(secret->slot);
    slab->used -= 1;
    if (slab->used == 0) *trim = true;
  }
  delete secret;
}

bool SecretPool::free_owned(uintptr_t addr, const void* owner, bool* trim) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(addr);
  if (it == live_.end() || it->second->owner != owner) return false;
  free_locked(it->second, trim);
  return true;
}

bool SecretPool::wipe_if_current(uintptr_t addr, uint64_t serial) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(addr);
  if (it == live_.end() || it->second->serial != serial) return false;
  Secret* secret = it->second;
  if (secret->slab == nullptr && secret->access != kAccessReadWrite) {
    platform::protect_range(secret->data, secret->data_len, kAccessReadWrite);
    secret->access = kAccessReadWrite;
  }
  platform::wipe(secret->addr, secret->size);
  return true;
}

int SecretPool::protect(uintptr_t addr, const void* owner, int access) {
  std::lock_guard<std::mutex> guard(mu_);
  auto it = live_.find(addr);
  if (it == live_.end() || it->second->owner != owner) return -ENOENT;
  Secret* secret = it->second;
  // mprotect is per page: a slab's page holds other secrets too.
  if (secret->slab != nullptr) return kProtectShared;
  int rc = platform::protect_range(secret->data, secret->data_len, access);
  if (rc == 0) secret->access = access;
  return rc;
}

int64_t SecretPool::secretmem_refused(Syscall* syscall) {
  std::lock_guard<std::mutex> guard(mu_);
  *syscall = secretmem_refused_syscall_;
  return secretmem_refused_;
}

void SecretPool::free_if_current(uintptr_t addr, uint64_t serial) {
  bool trim_needed = false;
  {
    std::lock_guard<std::mutex> guard(mu_);
    auto it = live_.find(addr);
    if (it == live_.end() || it->second->serial != serial) return;  // freed already
    free_locked(it->second, &trim_needed);
  }
  if (trim_needed) trim();
}

void SecretPool::release_slab(Slab* slab) {
  // Slots were wiped when freed; wiping what was ever handed out again costs
  // little and makes the unmap safe even if a write raced a free.
  platform::wipe(slab->base, static_cast<size_t>(slab->fresh) * slab->slot_size);
  unmap_secret_memory(slab->base, slab->bytes, false, slab->lock_id, slab->key.backend);
  slab_count_ -= 1;
  delete slab;
}

void SecretPool::trim() {
  std::lock_guard<std::mutex> guard(mu_);
  for (auto& by_class : slabs_) {
    for (auto& by_locked : by_class) {
      for (auto& by_fork : by_locked) {
        for (auto& slabs : by_fork) {
          auto empty = std::stable_partition(slabs.begin(), slabs.end(), [](Slab* s) { return s->used > 0; });
          for (auto it = empty; it != slabs.end(); ++it) release_slab(*it);
          slabs.erase(empty, slabs.end());
        }
      }
    }
  }
  // With no slab left of a kind, the next starts small again.
  for (size_t cls = 0; cls < 8; ++cls) {
    for (size_t fork = 0; fork < 2; ++fork) {
      for (size_t backend = 0; backend < 2; ++backend) {
        if (slabs_[cls][0][fork][backend].empty() && slabs_[cls][1][fork][backend].empty())
          next_slab_bytes_[cls][fork][backend] = 0;
      }
    }
  }
}

SecretStats SecretPool::stats() {
  std::lock_guard<std::mutex> guard(mu_);
  return SecretStats{live_.size(),    slab_count_,     dedicated_,      mapped_bytes_,
                     unlocked_bytes_, secretmem_live_, secretmem_bytes_};
}

#ifdef MEMLOCK_TESTING
void SecretPool::set_verify_wipe(bool on) {
  std::lock_guard<std::mutex> guard(mu_);
  verify_wipe_ = on;
}

SecretPool::WipeChecks SecretPool::wipe_checks() {
  std::lock_guard<std::mutex> guard(mu_);
  return wipe_checks_;
}
#endif

}  // namespace memlock
