// The page table against a plain model (one counter and one on-fault flag
// per page): random locks, releases, forgets and near-sticky counts, with
// every plan and every count compared after each step. Locks cover byte
// ranges that start and end mid-page, at an address where a 64-bit process
// maps memory, turned into pages as the Locker does for the page size given
// (4096 by default; arm64 kernels may use 16 KiB or 64 KiB). The arena
// straddles two of the table's chunks, and now and then a forget sweeps a
// range far wider than the table. Built and run
// by test/page-table.test.ts and test/page-size.test.ts:
//   page_table_model [steps] [seed] [page size]
// prints "ok <steps> sticky <transitions>" or the first divergence.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/page_table.h"

using memlock::kStickyCount;
using memlock::LockPlan;
using memlock::PageRun;
using memlock::PageTable;
using memlock::ReleasePlan;

namespace {

constexpr uint64_t kArena = 0x7f3a5c200000;  // where the pages start (page-aligned up to 2 MiB)
constexpr uint64_t kPages = 48;
uint64_t base_page = 0;  // the arena's first page number at the page size in force

struct Model {
  std::vector<uint32_t> count = std::vector<uint32_t>(kPages, 0);
  std::vector<bool> on_fault = std::vector<bool>(kPages, false);
};

struct Held {
  uint64_t first, pages;
};

[[noreturn]] void fail(uint64_t step, const char* what) {
  std::printf("diverged at step %llu: %s\n", static_cast<unsigned long long>(step), what);
  std::exit(1);
}

// Expands runs into a per-page mask over the model's pages.
std::vector<int> mask(const std::vector<PageRun>& runs) {
  std::vector<int> m(kPages, 0);
  for (const PageRun& r : runs) {
    for (uint64_t p = r.first; p < r.end(); ++p) m[p - base_page] += 1;
  }
  return m;
}

void check(const PageTable& table, const Model& model, uint64_t step) {
  if (!table.valid()) fail(step, "invariants broken");
  uint16_t counts[kPages];
  table.counts(base_page, kPages, counts);
  uint64_t locked = 0, sticky = 0;
  for (uint64_t p = 0; p < kPages; ++p) {
    if (counts[p] != model.count[p]) fail(step, "count differs");
    if (table.count(base_page + p) != model.count[p]) fail(step, "count(page) differs");
    locked += model.count[p] > 0;
    sticky += model.count[p] == kStickyCount;
  }
  // locked_runs(): exactly the counted pages, in order, merged where alike.
  std::vector<PageRun> runs = table.locked_runs();
  std::vector<int> listed = mask(runs);
  for (uint64_t p = 0; p < kPages; ++p) {
    if (listed[p] != (model.count[p] > 0 ? 1 : 0)) fail(step, "locked_runs differs");
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    for (uint64_t p = runs[i].first; p < runs[i].end(); ++p) {
      if (runs[i].on_fault != model.on_fault[p - base_page]) fail(step, "locked_runs on_fault differs");
    }
    if (i > 0 && runs[i - 1].end() == runs[i].first && runs[i - 1].on_fault == runs[i].on_fault)
      fail(step, "locked_runs not merged");
  }
  if (table.locked_pages() != locked) fail(step, "locked_pages differs");
  if (table.sticky_pages() != sticky) fail(step, "sticky_pages differs");
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t steps = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const unsigned seed = argc > 2 ? static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10)) : 1;
  const uint64_t page_size = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 4096;
  if (page_size == 0 || (page_size & (page_size - 1)) != 0 || kArena % page_size != 0) {
    std::printf("page size %llu: a power of two up to 2 MiB\n", static_cast<unsigned long long>(page_size));
    return 2;
  }
  // Half the arena in one chunk of the table, half in the next.
  const uint64_t chunk = PageTable::kChunkPages;
  base_page = (kArena / page_size) / chunk * chunk + chunk - kPages / 2;
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return static_cast<uint64_t>(rng() % n); };
  // A view of up to `max_pages` pages of bytes, anywhere in the arena: the
  // pages it covers, floor(start / page size) .. floor((end - 1) / page size).
  auto view = [&](uint64_t max_pages, uint64_t& first, uint64_t& pages) {
    uint64_t start = pick(kPages * page_size);
    uint64_t len = 1 + pick(std::min(kPages * page_size - start, max_pages * page_size));
    first = start / page_size;
    pages = (start + len - 1) / page_size - first + 1;
  };

  PageTable table;
  Model model;
  std::vector<Held> held;
  uint64_t sticky_transitions = 0;
  size_t dense_seen = 0;
  LockPlan lock_plan;
  ReleasePlan release_plan;

  for (uint64_t step = 0; step < steps; ++step) {
    uint64_t op = pick(100);
    if (op < 50 || held.empty()) {
      uint64_t first = 0, pages = 0;
      view(12, first, pages);
      bool on_fault = pick(3) == 0;
      // Now and then lock the range until its first page saturates (sticky).
      uint64_t repeat = pick(2000) == 0 ? std::max<uint64_t>(1, kStickyCount - model.count[first]) : 1;
      for (uint64_t r = 0; r < repeat; ++r) {
        // In a burst, plans are checked on its first and last lock only.
        if (r == 0 || r + 1 == repeat) {
          table.plan_lock(base_page + first, pages, on_fault, lock_plan);
          std::vector<int> to_lock = mask(lock_plan.to_lock), to_populate = mask(lock_plan.to_populate);
          uint64_t new_pages = 0;
          for (uint64_t p = first; p < first + pages; ++p) {
            bool zero = model.count[p] == 0;
            new_pages += zero;
            if (to_lock[p] != (zero ? 1 : 0)) fail(step, "to_lock differs");
            bool upgrade = !zero && !on_fault && model.on_fault[p];
            if (to_populate[p] != (upgrade ? 1 : 0)) fail(step, "to_populate differs");
          }
          if (lock_plan.new_pages != new_pages) fail(step, "new_pages differs");
        }
        uint64_t expect_sticky = 0;
        for (uint64_t p = first; p < first + pages; ++p) {
          if (model.count[p] == 0)
            model.on_fault[p] = on_fault;
          else if (!on_fault)
            model.on_fault[p] = false;
          if (model.count[p] < kStickyCount && ++model.count[p] == kStickyCount) ++expect_sticky;
        }
        if (table.commit_lock(base_page + first, pages, on_fault) != expect_sticky) fail(step, "newly sticky differs");
        sticky_transitions += expect_sticky;
        held.push_back({first, pages});
      }
    } else if (op < 95) {
      size_t i = pick(held.size());
      Held h = held[i];
      held[i] = held.back();
      held.pop_back();
      table.plan_release(base_page + h.first, h.pages, release_plan);
      std::vector<int> to_unlock = mask(release_plan.to_unlock);
      for (uint64_t p = h.first; p < h.first + h.pages; ++p) {
        if (to_unlock[p] != (model.count[p] == 1 ? 1 : 0)) fail(step, "to_unlock differs");
      }
      for (const PageRun& r : release_plan.to_unlock) {
        for (uint64_t p = r.first; p < r.end(); ++p) {
          if (r.on_fault != model.on_fault[p - base_page]) fail(step, "to_unlock on_fault differs");
        }
      }
      table.commit_release(base_page + h.first, h.pages);
      for (uint64_t p = h.first; p < h.first + h.pages; ++p) {
        if (model.count[p] != kStickyCount) --model.count[p];
        if (model.count[p] == 0) model.on_fault[p] = false;
      }
    } else {
      // Memory unmapped: every count in the range goes, and so do the locks
      // that covered any of it (as the locker drops their records).
      uint64_t first = pick(kPages), pages = 1 + pick(std::min<uint64_t>(kPages - first, 6));
      if (pick(20) == 0) {
        // A sweep over 8 GiB of pages around the arena: everything goes.
        const uint64_t wide = uint64_t{1} << 20;
        table.forget(base_page - wide, 2 * wide + kPages);
        first = 0;
        pages = kPages;
      } else {
        table.forget(base_page + first, pages);
      }
      for (uint64_t p = first; p < first + pages; ++p) {
        model.count[p] = 0;
        model.on_fault[p] = false;
      }
      std::vector<Held> kept;
      for (const Held& h : held) {
        if (h.first + h.pages <= first || h.first >= first + pages) kept.push_back(h);
      }
      // Releasing the survivors must not touch forgotten pages they share:
      // drop those too, by forgetting their whole range in model and table.
      held.clear();
      for (const Held& h : kept) {
        bool clean = true;
        for (uint64_t p = h.first; p < h.first + h.pages; ++p) clean = clean && model.count[p] > 0;
        if (clean) held.push_back(h);
      }
    }
    check(table, model, step);
    dense_seen = std::max(dense_seen, table.dense_chunk_count());
  }
  // Enough steps fragment a chunk past its runs: both layouts were checked.
  if (steps >= 10000 && dense_seen == 0) fail(steps, "no chunk ever kept a count per page");
  std::printf("ok %llu sticky %llu\n", static_cast<unsigned long long>(steps),
              static_cast<unsigned long long>(sticky_transitions));
  return 0;
}
