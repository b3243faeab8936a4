#include "core/lock_registry.h"

namespace memlock {

size_t LockRegistry::ViewKeyHash::operator()(const ViewKey& k) const {
  // Addresses differ in their middle bits; mix all three words.
  uint64_t h = reinterpret_cast<uintptr_t>(k.owner) * 0x9E3779B97F4A7C15ull;
  h ^= (k.addr + (h << 6) + (h >> 2)) * 0xC2B2AE3D27D4EB4Full;
  h ^= (k.len + (h << 6) + (h >> 2)) * 0x165667B19E3779F9ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

int64_t LockRegistry::add(const LockRecord& record) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.record = record;
  s.record.sequence = next_sequence_++;
  s.generation += 1;
  s.live = true;
  s.newer = kNone;
  auto [it, inserted] = newest_.try_emplace(key_of(record), slot);
  s.older = inserted ? kNone : it->second;
  if (!inserted) {
    slots_[it->second].newer = slot;
    it->second = slot;
  }
  live_ += 1;
  return id_of(slot);
}

uint32_t LockRegistry::live_slot(int64_t id) const {
  if (id <= 0) return kNone;
  uint64_t slot = static_cast<uint64_t>(id) & (kMaxSlots - 1);
  uint64_t generation = static_cast<uint64_t>(id) >> kSlotBits;
  if (slot >= slots_.size()) return kNone;
  const Slot& s = slots_[slot];
  return s.live && s.generation == generation ? static_cast<uint32_t>(slot) : kNone;
}

const LockRecord* LockRegistry::find(int64_t id) const {
  uint32_t slot = live_slot(id);
  return slot == kNone ? nullptr : &slots_[slot].record;
}

void LockRegistry::remove(int64_t id) {
  uint32_t slot = live_slot(id);
  if (slot == kNone) return;
  Slot& s = slots_[slot];
  if (s.older != kNone) slots_[s.older].newer = s.newer;
  if (s.newer != kNone) {
    slots_[s.newer].older = s.older;
  } else if (s.older != kNone) {
    newest_[key_of(s.record)] = s.older;
  } else {
    newest_.erase(key_of(s.record));
  }
  s.live = false;
  live_ -= 1;
  if (s.generation < kMaxGeneration) free_.push_back(slot);
}

int64_t LockRegistry::newest(const void* owner, uintptr_t addr, size_t len) const {
  auto it = newest_.find(ViewKey{owner, addr, len});
  return it == newest_.end() ? 0 : id_of(it->second);
}

std::vector<int64_t> LockRegistry::ids_of(const void* owner) const {
  std::vector<int64_t> ids;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (slots_[slot].live && slots_[slot].record.owner == owner) ids.push_back(id_of(slot));
  }
  return ids;
}

std::vector<int64_t> LockRegistry::ids_touching(uint64_t first, uint64_t pages) const {
  std::vector<int64_t> ids;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Slot& s = slots_[slot];
    if (s.live && s.record.first_page < first + pages && first < s.record.first_page + s.record.pages) {
      ids.push_back(id_of(slot));
    }
  }
  return ids;
}

}  // namespace memlock
