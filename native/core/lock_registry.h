// The record of every held lock: which bytes, which owner (environment), and
// a tag the owner chose. Records live in reusable slots, so taking and
// dropping a lock allocates nothing (but when a table doubles); the locks on
// the same bytes are linked newest-first, and the newest is found through an
// open-addressing index of slot numbers (4 bytes a cell, at most half full:
// a node-based hash map cost ~64 bytes and a malloc per lock), so
// unlock(view) and out-of-order releases are O(1). Plain C++, no locking of
// its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace memlock {

struct LockRecord {
  const void* owner;
  uintptr_t addr;
  size_t len;
  uint64_t first_page;
  uint64_t pages;
  uint32_t tag;
  bool on_fault;
  int32_t thread_id;  // the owner's worker threadId (0: main thread, -1: memlock itself)
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
  // Locks covering any page of [first, first + pages).
  std::vector<int64_t> ids_touching(uint64_t first, uint64_t pages) const;
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
  // 80 bytes: a million locks hold a million of these.
  struct Slot {
    LockRecord record;
    uint32_t generation = 0;  // of the current or last lock in the slot (at most kMaxGeneration)
    bool live = false;
    uint32_t older = kNone;  // same bytes, same owner: the next older lock
    uint32_t newer = kNone;
  };
  static_assert(sizeof(Slot) <= 80, "a slot per lock: keep it small");
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

  // The index: cells hold the slot of the newest lock on each distinct
  // ViewKey, or kNone; linear probing, deletion by backward shift.
  size_t cell_of(const ViewKey& key) const;  // the key's cell, or the empty cell where it would go
  void index_insert(size_t cell, uint32_t slot);
  void index_erase(size_t cell);
  void index_grow();

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
  uint64_t next_sequence_ = 0;
  std::vector<uint32_t> index_;  // power-of-two size, or empty
  size_t indexed_ = 0;           // cells in use
};

}  // namespace memlock
