// The lock registry against a plain model (a list of held locks in the order
// they were taken): random adds and removes over few distinct views, so
// chains of locks on the same bytes, probe runs and backward-shift deletions
// are common, with every query compared after each step; then a growth phase
// over many distinct views (the index and the slots grow past 1 MiB, where
// their memory is mapped, not taken from the heap), released in random
// order. Built and run by test/lock-registry.test.ts:
//   lock_registry_model [steps] [seed]
// prints "ok <steps> chains <longest> grown <slots>" or the first divergence.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include <sys/mman.h>

#include "core/lock_registry.h"
#include "platform/platform.h"

using memlock::LockRecord;
using memlock::LockRegistry;

// The registry's tables map their memory through the platform interface:
// here, plain mmap, counted, so the run shows every mapping handed back.
namespace {
size_t mapped_now = 0, mapped_ever = 0;
}  // namespace

namespace memlock::platform {
int64_t map_memory(size_t len) {
  void* addr = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED) return -1;
  mapped_now += 1;
  mapped_ever += 1;
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(addr));
}
int unmap_memory(uintptr_t addr, size_t len) {
  mapped_now -= 1;
  return munmap(reinterpret_cast<void*>(addr), len);
}
}  // namespace memlock::platform

namespace {

struct Held {
  int64_t id;
  LockRecord record;
};

[[noreturn]] void fail(uint64_t step, const char* what) {
  std::printf("diverged at step %llu: %s\n", static_cast<unsigned long long>(step), what);
  std::exit(1);
}

const char kOwners[2] = {0, 0};  // two distinct addresses stand for two environments

bool same_key(const LockRecord& a, const LockRecord& b) {
  return a.owner == b.owner && a.addr == b.addr && a.len == b.len;
}

int64_t model_newest(const std::vector<Held>& held, const LockRecord& key) {
  for (size_t i = held.size(); i-- > 0;) {
    if (same_key(held[i].record, key)) return held[i].id;
  }
  return 0;
}

std::vector<int64_t> sorted(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

void check(const LockRegistry& registry, const std::vector<Held>& held, const std::vector<int64_t>& gone,
           const LockRecord& probe, uint64_t step) {
  if (registry.size() != held.size()) fail(step, "size");
  if (registry.newest(probe.owner, probe.addr, probe.len) != model_newest(held, probe)) fail(step, "newest");
  for (const Held& h : held) {
    const LockRecord* r = registry.find(h.id);
    if (r == nullptr || !same_key(*r, h.record) || r->tag != h.record.tag) fail(step, "find of a held lock");
  }
  for (int64_t id : gone) {
    if (registry.find(id) != nullptr) fail(step, "find of a released lock");
  }
  std::vector<int64_t> own, touching;
  const uintptr_t begin = probe.addr, end = probe.addr + 3 * probe.len;
  for (const Held& h : held) {
    if (h.record.owner == probe.owner) own.push_back(h.id);
    if (h.record.addr < end && begin < h.record.addr + h.record.len) touching.push_back(h.id);
  }
  if (sorted(registry.ids_of(probe.owner)) != sorted(own)) fail(step, "ids_of");
  if (sorted(registry.ids_touching(begin, end)) != sorted(touching)) fail(step, "ids_touching");
  uint64_t last = 0;
  bool first = true;
  for (const Held& h : held) {  // the model's order is the order taken
    const uint64_t sequence = registry.find(h.id)->sequence;
    if (!first && sequence <= last) fail(step, "sequence out of order");
    last = sequence;
    first = false;
  }
}

LockRecord random_record(std::mt19937_64& rng, uint32_t tag) {
  // 2 owners x 24 addresses x 3 lengths: 144 distinct views, overlapping.
  LockRecord r{};
  r.owner = &kOwners[rng() % 2];
  r.addr = 0x7f3a5c200000 + (rng() % 24) * 2048;
  r.len = 1024 * (1 + rng() % 3);
  r.tag = tag;
  r.thread_id = static_cast<int32_t>(rng() % 3);
  r.on_fault = rng() % 2 == 0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t steps = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const unsigned seed = argc > 2 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : 1;
  std::mt19937_64 rng(seed);
  LockRegistry registry;
  std::vector<Held> held;
  std::vector<int64_t> gone;
  size_t longest_chain = 0;

  for (uint64_t step = 0; step < steps; ++step) {
    const unsigned op = rng() % 10;
    if (op < 5 || held.empty()) {
      LockRecord r = random_record(rng, static_cast<uint32_t>(step));
      const int64_t id = registry.add(r);
      if (id <= 0) fail(step, "add gave no id");
      held.push_back(Held{id, r});
      const auto chain = std::count_if(held.begin(), held.end(), [&](const Held& o) { return same_key(o.record, r); });
      longest_chain = std::max(longest_chain, static_cast<size_t>(chain));
    } else if (op < 8) {
      const size_t i = rng() % held.size();
      registry.remove(held[i].id);
      gone.push_back(held[i].id);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      // unlock(view): the newest lock on exactly these bytes.
      const LockRecord key = random_record(rng, 0);
      const int64_t id = registry.newest(key.owner, key.addr, key.len);
      if (id != model_newest(held, key)) fail(step, "newest before a release");
      if (id != 0) {
        registry.remove(id);
        gone.push_back(id);
        held.erase(std::find_if(held.begin(), held.end(), [id](const Held& h) { return h.id == id; }));
      }
    }
    if (gone.size() > 64) gone.erase(gone.begin(), gone.begin() + 32);
    if (held.size() > 200) {  // keep chains long but the model small
      registry.remove(held.front().id);
      gone.push_back(held.front().id);
      held.erase(held.begin());
    }
    check(registry, held, gone, random_record(rng, 0), step);
  }
  for (const Held& h : held) registry.remove(h.id);
  held.clear();
  if (registry.size() != 0) fail(steps, "locks left after releasing all");

  // Growth: 40,000 distinct one-page views (2.5 MiB of slots, 256 Ki index
  // cells), each locked twice, then released in random order.
  const size_t kGrown = 40000;
  std::vector<Held> many;
  for (size_t i = 0; i < 2 * kGrown; ++i) {
    LockRecord r{};
    r.owner = &kOwners[i % 2];
    r.addr = 0x7f0000000000 + (i % kGrown) * 4096;
    r.len = 4096;
    r.tag = static_cast<uint32_t>(i);
    many.push_back(Held{registry.add(r), r});
  }
  std::shuffle(many.begin(), many.end(), rng);
  for (size_t i = 0; i < many.size(); ++i) {
    const LockRecord* r = registry.find(many[i].id);
    if (r == nullptr || r->tag != many[i].record.tag) fail(steps + i, "find after growth");
    registry.remove(many[i].id);
    if (registry.find(many[i].id) != nullptr) fail(steps + i, "find after remove");
    if (i % 997 == 0) {
      // Every view still held answers newest() with its newest remaining lock.
      for (size_t j = i + 1; j < many.size(); j += 101) {
        const LockRecord& k = many[j].record;
        const int64_t newest = registry.newest(k.owner, k.addr, k.len);
        if (newest == 0 || registry.find(newest) == nullptr || !same_key(*registry.find(newest), k)) {
          fail(steps + i, "newest after growth");
        }
      }
    }
  }
  if (registry.size() != 0) fail(steps, "locks left after the growth phase");
  if (mapped_ever == 0) fail(steps, "no table grew past 1 MiB into a mapping of its own");
  { LockRegistry gone_registry = std::move(registry); }
  if (mapped_now != 0) fail(steps, "a table's mapping was not handed back");
  std::printf("ok %llu chains %zu grown %zu mappings %zu\n", static_cast<unsigned long long>(steps), longest_chain,
              2 * kGrown, mapped_ever);
  return 0;
}
