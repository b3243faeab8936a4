#include "core/lock_registry.h"

namespace memlock {

size_t LockRegistry::ViewKeyHash::operator()(const ViewKey& k) const {
  // Addresses differ in their middle bits; mix all three words.
  uint64_t h = reinterpret_cast<uintptr_t>(k.owner) * 0x9E3779B97F4A7C15ull;
  h ^= (k.addr + (h << 6) + (h >> 2)) * 0xC2B2AE3D27D4EB4Full;
  h ^= (k.len + (h << 6) + (h >> 2)) * 0x165667B19E3779F9ull;
  return static_cast<size_t>(h ^ (h >> 32));
}

size_t LockRegistry::cell_of(const ViewKey& key, uint32_t hash) const {
  const size_t mask = index_.size() - 1;
  for (size_t cell = hash & mask;; cell = (cell + 1) & mask) {
    const Cell& c = index_[cell];
    if (c.slot == kNone || (c.hash == hash && key_of(slots_[c.slot].record) == key)) return cell;
  }
}

void LockRegistry::index_grow() {
  std::vector<Cell, TableAllocator<Cell>> old(index_.size() < 16 ? 32 : index_.size() * 2);
  old.swap(index_);
  const size_t mask = index_.size() - 1;
  // Keys are distinct, so a cell's new place needs only its hash.
  for (const Cell& c : old) {
    if (c.slot == kNone) continue;
    size_t cell = c.hash & mask;
    while (index_[cell].slot != kNone) cell = (cell + 1) & mask;
    index_[cell] = c;
  }
}

void LockRegistry::index_insert(size_t cell, uint32_t slot, uint32_t hash) {
  index_[cell] = Cell{slot, hash};
  indexed_ += 1;
}

void LockRegistry::index_erase(size_t cell) {
  const size_t mask = index_.size() - 1;
  indexed_ -= 1;
  // Backward shift: move later cells of the probe run into the hole when
  // their home cell is not between the hole and them.
  size_t hole = cell;
  for (size_t next = (hole + 1) & mask; index_[next].slot != kNone; next = (next + 1) & mask) {
    const size_t home = index_[next].hash & mask;
    if (((next - home) & mask) >= ((next - hole) & mask)) {
      index_[hole] = index_[next];
      hole = next;
    }
  }
  index_[hole] = Cell{};
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
  if (2 * (indexed_ + 1) > index_.size()) index_grow();
  const ViewKey key = key_of(record);
  const uint32_t hash = hash_of(key);
  const size_t cell = cell_of(key, hash);
  s.older = index_[cell].slot;
  if (s.older == kNone) {
    index_insert(cell, slot, hash);
  } else {
    slots_[s.older].newer = slot;
    index_[cell].slot = slot;
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
    index_[cell_of(key_of(s.record))].slot = s.older;
  } else {
    index_erase(cell_of(key_of(s.record)));
  }
  s.live = false;
  live_ -= 1;
  if (s.generation < kMaxGeneration) free_.push_back(slot);
}

int64_t LockRegistry::newest(const void* owner, uintptr_t addr, size_t len) const {
  if (index_.empty()) return 0;
  const uint32_t slot = index_[cell_of(ViewKey{owner, addr, len})].slot;
  return slot == kNone ? 0 : id_of(slot);
}

std::vector<int64_t> LockRegistry::ids_of(const void* owner) const {
  std::vector<int64_t> ids;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (slots_[slot].live && slots_[slot].record.owner == owner) ids.push_back(id_of(slot));
  }
  return ids;
}

std::vector<int64_t> LockRegistry::ids_touching(uintptr_t begin, uintptr_t end) const {
  std::vector<int64_t> ids;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Slot& s = slots_[slot];
    if (s.live && s.record.addr < end && begin < s.record.addr + s.record.len) {
      ids.push_back(id_of(slot));
    }
  }
  return ids;
}

}  // namespace memlock
