// Pinned buffers: memory memlock maps itself for real-time use, aligned,
// on huge pages where asked, locked under a counted lock and (by default)
// resident before it is handed out, so its first access costs what memory
// costs. Which page kind to try, and in which order, is decided in
// src/memory/pinned.ts; this maps one kind per call and undoes all of it on any
// refusal.
//
// Process-wide, behind its own mutex, never held across a Locker call (so
// it has no place in the order of the pool's and the Locker's mutexes);
// the fork handlers take it all the same, so a child never inherits it held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/shared_numbers.h"

namespace memlock {

struct PinnedRequest {
  size_t size;
  size_t hugetlb_page;  // > 0: MAP_HUGETLB pages of this many bytes
  size_t thp_align;     // > 0: aligned to this (the THP size) and MADV_HUGEPAGE
  bool on_fault;        // mlock2(MLOCK_ONFAULT) instead of mlock
  bool prefault;        // resident on return
  bool drop_on_fork;    // MADV_DONTFORK: no copy-on-write in this process after a fork
  const void* owner;    // the environment that allocated it
  int32_t thread_id;
  std::string label;
};

struct PinnedResult {
  uintptr_t addr = 0;   // 0 on failure
  size_t mapped = 0;    // bytes mapped (a whole number of pages of the kind)
  uint64_t serial = 0;  // tells this buffer from a later one at the same address
  int64_t error = 0;    // -errno, kLimitExceeded or kMapCountExceeded
  Syscall failed = Syscall::kNone;
  int64_t mappings = 0;  // after kMapCountExceeded: the mappings counted
  uint64_t lock_pages = 0;
};

struct PinnedStats {
  uint64_t live, mapped_bytes;
};

class PinnedMemory {
 public:
  static PinnedMemory& instance();

  PinnedResult allocate(const PinnedRequest& request);
  // Unmaps the live buffer at `addr` if `owner` allocated it: false if none.
  bool free_owned(uintptr_t addr, const void* owner);
  // Unmaps the buffer at `addr` if it is still the one `serial` names (its
  // Buffer was garbage-collected).
  void free_if_current(uintptr_t addr, uint64_t serial);
  // Unmaps every buffer `owner` allocated (its environment is going away).
  void free_owner(const void* owner);
  PinnedStats stats();

 private:
  friend void register_fork_handlers();
  struct Pinned {
    size_t mapped;
    int64_t lock_id;
    const void* owner;
    uint64_t serial;
  };
  PinnedMemory() = default;
  void unmap(uintptr_t addr, const Pinned& pinned);  // mu_ not held

  std::mutex mu_;
  std::unordered_map<uintptr_t, Pinned> live_;
  uint64_t next_serial_ = 1;
  uint64_t mapped_bytes_ = 0;
};

}  // namespace memlock
