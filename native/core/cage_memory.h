// Memory V8 allocated, adopted by memlock: the fallback where V8's sandbox
// (Electron 21+) refuses memory from outside its cage (external buffers).
// The binding over-allocates a V8 Buffer by a page; its page-aligned
// interior, whole pages no other allocation shares, is locked here through
// the Locker (counted and limited like any lock) and advised in place
// (MADV_DONTDUMP, MADV_WIPEONFORK: private anonymous memory, whole pages).
// Release zeroes the bytes, undoes the advice and the lock before V8 gets
// the memory back. Process-wide, behind its own mutex (taken before the
// Locker's, never after).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "core/shared_numbers.h"

namespace memlock {

struct CageRequest {
  uintptr_t pages;  // page-aligned, inside the V8 allocation
  size_t len;       // whole pages
  const void* owner;
  bool require_lock;  // else best effort: unlocked when locking fails
  bool on_fault;      // lock pages as they are touched (pinned buffers)
  bool advise;        // secret memory: MADV_DONTDUMP and MADV_WIPEONFORK
  const char* label;  // locks() shows it
};

struct CageResult {
  int64_t error = 0;  // -errno, kLimitExceeded or kMapCountExceeded (nothing adopted)
  Syscall failed = Syscall::kNone;
  bool locked = false;
  int64_t lock_error = 0;  // why a best-effort adoption is not locked
  int64_t mappings = 0;    // kMapCountExceeded: the mappings counted
  uint64_t lock_pages = 0;
  uint64_t serial = 0;
  bool wipe_on_fork = false;  // MADV_WIPEONFORK took
  bool dont_dump = false;     // MADV_DONTDUMP took
};

struct CageStats {
  uint64_t live;
  uint64_t bytes;         // whole pages adopted
  uint64_t secrets;       // of those, secret memory (advised)
  uint64_t secret_bytes;  // and its whole pages
};

class CageMemory {
 public:
  static CageMemory& instance();

  CageResult adopt(const CageRequest& request, void* hold);
  // Zeroes, un-advises and unlocks the adoption at `pages` if `owner` holds
  // it: returns its hold (the binding's reference), or nullptr if none.
  void* release_owned(uintptr_t pages, const void* owner);
  // The same by serial (its Buffer was collected). `memory_gone`: the memory
  // moved out of memlock's ArrayBuffer (transferred) and may be freed: its
  // counts go without a syscall or a write. Returns false if released already.
  bool release_if_current(uintptr_t pages, uint64_t serial, bool memory_gone);
  // mprotect of the adoption at `pages` that `owner` holds (secret.protect()):
  // 0, -errno, or -ENOENT if there is none. Release makes it writable again.
  int protect(uintptr_t pages, const void* owner, int access);
  CageStats stats();

 private:
  struct Entry {
    size_t len;
    const void* owner;
    uint64_t serial;
    int64_t lock_id;
    void* hold;
    int access;
    bool secret;  // adopted as secret memory (CageRequest::advise)
  };
  void release_locked(uintptr_t pages, const Entry& entry);  // mu_ held
  void uncount(const Entry& entry);                          // mu_ held
  friend void register_fork_handlers();                      // holds mu_ across fork()

  std::mutex mu_;
  std::unordered_map<uintptr_t, Entry> live_;
  uint64_t next_serial_ = 1, bytes_ = 0, secrets_ = 0, secret_bytes_ = 0;
};

}  // namespace memlock
