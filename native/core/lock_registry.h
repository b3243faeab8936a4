// The record of every held lock: which bytes, which owner (environment), and
// a tag the owner chose. Records live in reusable slots, so taking and
// dropping a lock allocates nothing (but when a table doubles); the locks on
// the same bytes are linked newest-first, and the newest is found through an
// open-addressing index (a node-based hash map cost ~64 bytes and a malloc
// per lock), so unlock(view) and out-of-order releases are O(1). Plain C++,
// no locking of its own.
//
// Shaped for a million locks, where every slot and cell touched is a cache
// (and TLB) miss: a slot is one 64-byte line, and an index cell keeps its
// key's hash beside the slot number, so a probe compares a record only when
// the hashes match, and growing or deleting moves cells without reading
// records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/table_memory.h"

namespace memlock {

// The pages a lock covers follow from addr and len (Locker::page_index and
// pages_spanned), so they are not kept: 16 bytes a lock.
struct LockRecord {
  const void* owner;
  uintptr_t addr;
  size_t len;  // > 0
  uint32_t tag;
  int32_t thread_id;  // the owner's worker threadId (0: main thread, -1: memlock itself)
  bool on_fault;
  // Set by LockRegistry::add: the order locks were taken in. Ids are not:
  // a reused slot's id can be lower than an older lock's.
  uint64_t sequence = 0;
};

class LockRegistry {
 public:
  // Ids are generation * 2^24 + slot: a released id never names a later lock
  // (until a slot is reused 2^29 times, after which it is retired).
  static constexpr uint32_t kSlotBits = 24;
  static constexpr uint32_t kMaxSlots = 1u << kSlotBits;

  bool full() const { return free_.empty() && slots_.size() >= kMaxSlots; }
  int64_t add(const LockRecord& record);     // > 0; the caller checks full() first
  const LockRecord* find(int64_t id) const;  // nullptr unless held
  void remove(int64_t id);                   // id must be held
  // The newest lock `owner` holds on exactly [addr, addr + len), or 0.
  int64_t newest(const void* owner, uintptr_t addr, size_t len) const;
  std::vector<int64_t> ids_of(const void* owner) const;
  // Locks whose bytes overlap [begin, end) (the caller passes page bounds
  // to ask for locks covering any of those pages).
  std::vector<int64_t> ids_touching(uintptr_t begin, uintptr_t end) const;
  size_t size() const { return live_; }
  // Calls fn(id, record) for every held lock.
  template <typename Fn>
  void for_each(Fn fn) const {
    for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
      if (slots_[slot].live) fn(id_of(slot), slots_[slot].record);
    }
  }

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFF;
  static constexpr uint64_t kMaxGeneration = (1ull << (53 - kSlotBits)) - 1;
  static_assert(kMaxGeneration <= UINT32_MAX, "a slot's generation is kept in 32 bits");
  // One cache line: a million locks hold a million of these, and reading a
  // cold one costs a single miss.
  struct alignas(64) Slot {
    LockRecord record;
    uint32_t generation = 0;  // of the current or last lock in the slot (at most kMaxGeneration)
    bool live = false;
    uint32_t older = kNone;  // same bytes, same owner: the next older lock
    uint32_t newer = kNone;
  };
  static_assert(sizeof(Slot) == 64, "a slot per lock: one cache line");
  // The slot of the newest lock on one distinct ViewKey, and the key's hash
  // (its low bits are the home cell; all 32 bits filter probes).
  struct Cell {
    uint32_t slot = kNone;
    uint32_t hash = 0;
  };
  struct ViewKey {
    const void* owner;
    uintptr_t addr;
    size_t len;
    bool operator==(const ViewKey& o) const { return owner == o.owner && addr == o.addr && len == o.len; }
  };
  struct ViewKeyHash {
    size_t operator()(const ViewKey& k) const;
  };
  static ViewKey key_of(const LockRecord& r) { return ViewKey{r.owner, r.addr, r.len}; }
  int64_t id_of(uint32_t slot) const {
    return static_cast<int64_t>((static_cast<uint64_t>(slots_[slot].generation) << kSlotBits) | slot);
  }
  uint32_t live_slot(int64_t id) const;  // kNone unless id is held

  // The index: linear probing, at most half full, deletion by backward
  // shift. At most 2^25 cells (2 * kMaxSlots), so 32 bits of hash place a cell.
  static uint32_t hash_of(const ViewKey& key) { return static_cast<uint32_t>(ViewKeyHash{}(key)); }
  // The key's cell, or the empty cell where it would go.
  size_t cell_of(const ViewKey& key, uint32_t hash) const;
  size_t cell_of(const ViewKey& key) const { return cell_of(key, hash_of(key)); }
  void index_insert(size_t cell, uint32_t slot, uint32_t hash);
  void index_erase(size_t cell);
  void index_grow();

  std::vector<Slot, TableAllocator<Slot>> slots_;
  std::vector<uint32_t, TableAllocator<uint32_t>> free_;
  size_t live_ = 0;
  uint64_t next_sequence_ = 0;
  std::vector<Cell, TableAllocator<Cell>> index_;  // power-of-two size, or empty
  size_t indexed_ = 0;                             // cells in use
};

}  // namespace memlock
