// The per-page lock counts. Plain C++: no syscalls, no N-API, no locking of
// its own, so it can be tested and fuzzed alone.
//
// Two levels, so that both shapes of use stay cheap: pages are grouped in
// chunks of 512 (2 MiB of 4 KiB pages), found through a hash table. A chunk
// keeps its counts as a few runs of equal counts (locking 1 GiB costs 512
// one-run chunks, not 262,144 counters), and turns into one count per page
// once it holds more than kMaxRuns runs (pages locked one by one, re-locked
// at random): then a lookup is a hash probe and an array read, and a re-lock
// splits nothing, however many locks are held.
//
// Each change comes in two steps: plan_*() reads the table and says which
// page runs need a syscall; commit_*() applies the change once every syscall
// has succeeded. A refused syscall therefore leaves the table untouched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
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
  static constexpr unsigned kChunkShift = 9;
  static constexpr uint32_t kChunkPages = 1u << kChunkShift;
  // Past this many runs a chunk keeps a count per page (1 KiB and 64 bytes).
  static constexpr size_t kMaxRuns = 16;

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
  // Chunks held, and how many of them keep a count per page (for tests).
  size_t chunk_count() const { return chunks_.size(); }
  size_t dense_chunk_count() const;

  // Checks the internal invariants (for tests and the fuzzer).
  bool valid() const;

 private:
  // Pages [begin, end) of a chunk with one count; count 0 is unlocked.
  struct Piece {
    uint32_t begin, end;
    uint16_t count;
    bool on_fault;  // every lock on these pages asked for MLOCK_ONFAULT
  };
  struct LocalRun {
    uint16_t begin, end, count;
    bool on_fault;
  };
  struct Dense {
    uint16_t counts[kChunkPages];
    uint64_t on_fault[kChunkPages / 64];
    uint32_t locked;  // pages with a count > 0
  };
  struct Chunk {
    std::vector<LocalRun> runs;  // sorted, merged, counts > 0; while dense is null
    std::unique_ptr<Dense> dense;
    bool empty() const { return dense ? dense->locked == 0 : runs.empty(); }
  };
  using Chunks = std::unordered_map<uint64_t, Chunk>;

  template <class F>
  static void each_piece(const Chunk& chunk, uint32_t begin, uint32_t end, F&& f);
  template <class ChunksT, class F>
  static void each_chunk(ChunksT& chunks, uint64_t first, uint64_t end, F&& f);
  // Sets each page of [begin, end) from op(count, on_fault) and keeps the
  // totals; returns how many pages turned sticky.
  template <class Op>
  uint64_t rewrite(Chunk& chunk, uint32_t begin, uint32_t end, Op op);
  uint64_t account(uint16_t before, uint16_t after, uint64_t pages);

  Chunks chunks_;
  std::vector<LocalRun> scratch_;  // reused by rewrite(): no allocation per change
  uint64_t locked_pages_ = 0;
  uint64_t sticky_pages_ = 0;
};

}  // namespace memlock
