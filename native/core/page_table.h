// The per-page lock counts, stored as runs of equal counts so that locking
// 1 GiB costs one map entry, not 262,144 counters. Plain C++: no syscalls, no
// N-API, no locking of its own, so it can be tested and fuzzed alone.
//
// Each change comes in two steps: plan_*() reads the table and says which
// page runs need a syscall; commit_*() applies the change once every syscall
// has succeeded. A refused syscall therefore leaves the table untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace memlock {

constexpr uint16_t kStickyCount = 0xFFFF;

// Pages [first, first + pages).
struct PageRun {
  uint64_t first;
  uint64_t pages;
  bool on_fault;  // in a ReleasePlan: how the run was locked, for a rollback
  uint64_t end() const { return first + pages; }
};

// Plans are filled in place so that a caller can keep one and reuse its
// storage: the common lock and release then allocate nothing.
struct LockPlan {
  std::vector<PageRun> to_lock;      // count 0 -> 1: need mlock / mlock2
  std::vector<PageRun> to_populate;  // locked on fault only, now fully: mlock
  uint64_t new_pages = 0;            // pages whose count is 0 now
};

struct ReleasePlan {
  std::vector<PageRun> to_unlock;  // count 1 -> 0: need munlock
};

class PageTable {
 public:
  void plan_lock(uint64_t first, uint64_t pages, bool on_fault, LockPlan& plan) const;
  // Returns how many pages turned sticky.
  uint64_t commit_lock(uint64_t first, uint64_t pages, bool on_fault);

  void plan_release(uint64_t first, uint64_t pages, ReleasePlan& plan) const;
  void commit_release(uint64_t first, uint64_t pages);

  // Drops every count in the range at once (memory that was unmapped).
  void forget(uint64_t first, uint64_t pages);
  void clear();

  uint16_t count(uint64_t page) const;
  void counts(uint64_t first, uint64_t pages, uint16_t* out) const;
  // The highest count in the range.
  uint16_t max_count(uint64_t first, uint64_t pages) const;
  // Every run of pages with a count > 0, merged where they touch and were
  // locked alike (on_fault).
  std::vector<PageRun> locked_runs() const;

  uint64_t locked_pages() const { return locked_pages_; }
  uint64_t sticky_pages() const { return sticky_pages_; }

  // Checks the internal invariants (for tests and the fuzzer).
  bool valid() const;

 private:
  struct Run {
    uint64_t end;
    uint16_t count;  // 1..0xFFFF; pages with count 0 have no run
    bool on_fault;   // every lock on these pages asked for MLOCK_ONFAULT
  };
  using Map = std::map<uint64_t, Run>;

  // Makes `page` the start of a run if a run spans it.
  void split_at(uint64_t page);
  // Merges equal neighbouring runs from the run before `first` to `end`.
  void merge_around(uint64_t first, uint64_t end);
  // Merges the run at `it` with its neighbours if they are equal to it.
  void merge_neighbours(Map::iterator it);
  // The run that is exactly [first, end), or runs_.end().
  Map::iterator exact_run(uint64_t first, uint64_t end);
  // Adds 1 to a run's count; returns its pages if it turned sticky.
  uint64_t increment(Run& run, uint64_t first, bool on_fault);
  Map::const_iterator first_run_touching(uint64_t page) const;

  Map runs_;
  uint64_t locked_pages_ = 0;
  uint64_t sticky_pages_ = 0;
};

}  // namespace memlock
