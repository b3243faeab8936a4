// Memory for secrets: mapped by memlock itself, locked (a counted lock held
// by the pool), excluded from core dumps, wiped (or absent) in forked
// children, and zeroed before it is reused or unmapped.
//
// Small secrets share slabs, one per size class (16 .. 2048 bytes), which
// grow from one page to 1 MiB: a million 32-byte secrets take about forty
// mappings, where one mapping per secret would hit vm.max_map_count.
// A guarded secret gets its own mapping between two PROT_NONE guard pages,
// flush against the trailing one, so an overrun faults at once.
//
// Process-wide, behind its own mutex (taken before the Locker's, never after).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/locker.h"

namespace memlock {

enum class ForkMode : uint8_t { kWipe = 0, kDrop = 1 };
// What allocSecret asked for: secretmem where it works, or one of the two.
enum class BackendChoice : uint8_t { kAuto = 0, kSecretMem = 1, kMlock = 2 };

struct SecretRequest {
  size_t size;
  bool guarded;
  bool require_lock;  // else best effort: unlocked memory when locking fails
  ForkMode fork;
  const void* owner;  // only the owner may free it by address
  BackendChoice backend = BackendChoice::kAuto;
};

struct Secret;

struct SecretResult {
  uintptr_t addr = 0;   // 0 on failure
  uint64_t serial = 0;  // tells this secret from a later one at the same address
  bool locked = false;
  int64_t error = 0;  // allocation failed: -errno, kLimitExceeded or kMapCountExceeded
  Syscall failed = Syscall::kNone;
  int64_t lock_error = 0;   // why a best-effort secret is not locked
  int64_t mappings = 0;     // kMapCountExceeded (either error): the mappings counted
  uint64_t lock_pages = 0;  // pages of the new mapping it tried to lock (0: it used a slab's room)
  SecretBackend backend = SecretBackend::kMlock;
  // Why secretmem was not used (auto: the mlock backend instead; explicit
  // secretmem: the failure itself, with error = kSecretMemUnavailable).
  int64_t fallback_error = 0;
  Syscall fallback_syscall = Syscall::kNone;
};

// allocate()'s error when an explicit secretmem request cannot be had: the
// reason is in fallback_error / fallback_syscall.
constexpr int64_t kSecretMemUnavailable = -1000003;

struct SecretStats {
  uint64_t live;             // secrets allocated and not freed
  uint64_t slabs;            // shared slabs mapped
  uint64_t dedicated;        // guarded or large secrets with a mapping each
  uint64_t mapped_bytes;     // all the pool has mapped, guard pages included
  uint64_t unlocked_bytes;   // of which not locked (best effort)
  uint64_t secretmem_live;   // live secrets on memfd_secret memory
  uint64_t secretmem_bytes;  // bytes mapped from memfd_secret, guard pages included
};

class SecretPool {
 public:
  static constexpr size_t kMaxPooled = 2048;  // larger secrets get a mapping each
  static constexpr size_t kMaxSlab = 1 << 20;

  static SecretPool& instance();

  SecretResult allocate(const SecretRequest& request);
  // Wipes and frees the live secret at `addr` if `owner` holds it. Returns
  // false if there is none. Sets *trim when a slab was left empty.
  bool free_owned(uintptr_t addr, const void* owner, bool* trim);
  // Wipes and frees the secret at `addr` if it is still the one `serial`
  // names (its Buffer was garbage-collected), then trims.
  void free_if_current(uintptr_t addr, uint64_t serial);
  // Wipes the secret at `addr` in place if it is still the one `serial`
  // names: its memory was moved into another ArrayBuffer (captured
  // ArrayBuffer.prototype.transfer, a byte stream's read), so it cannot be
  // unmapped under that buffer; it is freed when that buffer is collected.
  // Returns false if it was freed already.
  bool wipe_if_current(uintptr_t addr, uint64_t serial);
  // mprotect of a live secret `owner` holds that has pages of its own:
  // 0, -errno, kProtectShared (a pooled secret: its slab's pages are
  // shared), or 1 -> no such secret is returned as -ENOENT.
  int protect(uintptr_t addr, const void* owner, int access);
  // Why 'auto' gave up secretmem for good (a refusal, not a shortage): 0, or -errno.
  int64_t secretmem_refused(Syscall* syscall);
  void trim();  // unmaps empty slabs
  SecretStats stats();
#ifdef MEMLOCK_TESTING
  // The testing build checks that memory is zero before it is unmapped.
  struct WipeChecks {
    uint64_t checked_unmaps;  // unmaps whose memory was checked
    uint64_t dirty_unmaps;    // of those, found not zero: must stay 0
  };
  void set_verify_wipe(bool on);
  WipeChecks wipe_checks();
#endif

 private:
  friend struct Secret;
  friend void register_fork_handlers();
  SecretPool() = default;
  struct Slab;
  struct Key {
    size_t size_class;
    bool locked;
    ForkMode fork;
    SecretBackend backend;
  };

  Slab* slab_with_room(const Key& key);
  Slab* new_slab(size_t size_class, ForkMode fork, bool require_lock, SecretBackend backend, SecretResult& result);
  SecretResult allocate_on(const SecretRequest& request, SecretBackend backend);
  SecretResult allocate_dedicated(const SecretRequest& request, SecretBackend backend);
  SecretResult allocate_pooled(const SecretRequest& request, SecretBackend backend);
  // Maps `len` bytes, with guard pages around if `guard`, advised and
  // locked; returns the data address or fills result.error.
  uintptr_t map_secret_memory(size_t len, bool guard, ForkMode fork, bool require_lock, SecretBackend backend,
                              int64_t* lock_id, SecretResult& result);
  void unmap_secret_memory(uintptr_t data, size_t len, bool guard, int64_t lock_id, SecretBackend backend);
  void free_locked(Secret* secret, bool* trim);  // mu_ held
  void release_slab(Slab* slab);
  std::vector<Slab*>& slabs_for(const Key& key);

  std::mutex mu_;
#ifdef MEMLOCK_TESTING
  bool verify_wipe_ = false;
  WipeChecks wipe_checks_{};
#endif
  std::vector<Slab*> slabs_[8][2][2][2];  // [class][locked][fork][backend]
  size_t next_slab_bytes_[8][2][2] = {};  // [class][fork][backend]
  // 'auto' stops trying secretmem once the kernel refused it (ENOSYS,
  // EPERM, ...): a shortage (EAGAIN, ENOMEM, EMFILE) is tried again.
  int64_t secretmem_refused_ = 0;
  Syscall secretmem_refused_syscall_ = Syscall::kNone;
  uint64_t secretmem_live_ = 0, secretmem_bytes_ = 0;
  uint64_t next_serial_ = 1;
  std::unordered_map<uintptr_t, Secret*> live_;
  uint64_t dedicated_ = 0, mapped_bytes_ = 0, unlocked_bytes_ = 0, slab_count_ = 0;
};

}  // namespace memlock
