#include "core/page_table.h"

#include <algorithm>
#include <utility>

namespace memlock {

namespace {

// Appends a run to `runs`, extending the last one if they touch and match.
void append_run(std::vector<PageRun>& runs, uint64_t first, uint64_t pages, bool on_fault = false) {
  if (!runs.empty() && runs.back().end() == first && runs.back().on_fault == on_fault) {
    runs.back().pages += pages;
  } else {
    runs.push_back({first, pages, on_fault});
  }
}

bool bit(const uint64_t* bits, uint32_t i) { return (bits[i / 64] >> (i % 64)) & 1; }

void set_bit(uint64_t* bits, uint32_t i, bool on) {
  const uint64_t mask = uint64_t{1} << (i % 64);
  bits[i / 64] = on ? bits[i / 64] | mask : bits[i / 64] & ~mask;
}

struct Counted {
  uint16_t count;
  bool on_fault;
};

}  // namespace

// Calls f(piece) for the pieces covering [begin, end) of a chunk, in order,
// unlocked stretches included (count 0), each as long as it can be.
template <class F>
void PageTable::each_piece(const Chunk& chunk, uint32_t begin, uint32_t end, F&& f) {
  if (begin >= end) return;
  if (chunk.dense) {
    const Dense& d = *chunk.dense;
    for (uint32_t p = begin; p < end;) {
      const uint16_t count = d.counts[p];
      const bool on_fault = bit(d.on_fault, p);
      uint32_t q = p + 1;
      while (q < end && d.counts[q] == count && bit(d.on_fault, q) == on_fault) ++q;
      f(Piece{p, q, count, on_fault});
      p = q;
    }
    return;
  }
  uint32_t cursor = begin;
  for (const LocalRun& run : chunk.runs) {
    if (run.end <= cursor) continue;
    if (run.begin >= end) break;
    if (run.begin > cursor) {
      f(Piece{cursor, run.begin, 0, false});
      cursor = run.begin;
    }
    const uint32_t to = std::min<uint32_t>(run.end, end);
    f(Piece{cursor, to, run.count, run.on_fault});
    cursor = to;
  }
  if (cursor < end) f(Piece{cursor, end, 0, false});
}

// Calls f(key, chunk, begin, end) for each chunk held that [first, end)
// touches, in address order, with the part of it the range covers. A range
// wider than the table (memory forgotten in one sweep) walks the table
// instead of every chunk number in the range.
template <class ChunksT, class F>
void PageTable::each_chunk(ChunksT& chunks, uint64_t first, uint64_t end, F&& f) {
  if (first >= end) return;
  const uint64_t first_key = first >> kChunkShift, last_key = (end - 1) >> kChunkShift;
  auto visit = [&](uint64_t key, auto& chunk) {
    const uint64_t base = key << kChunkShift;
    const uint32_t from = static_cast<uint32_t>(std::max(first, base) - base);
    const uint32_t to = static_cast<uint32_t>(std::min(end, base + kChunkPages) - base);
    f(key, chunk, from, to);
  };
  if (last_key - first_key < 2 * chunks.size() + 8) {
    for (uint64_t key = first_key; key <= last_key; ++key) {
      auto it = chunks.find(key);
      if (it != chunks.end()) visit(key, it->second);
    }
    return;
  }
  std::vector<uint64_t> keys;
  for (const auto& entry : chunks) {
    if (entry.first >= first_key && entry.first <= last_key) keys.push_back(entry.first);
  }
  std::sort(keys.begin(), keys.end());
  for (uint64_t key : keys) visit(key, chunks.find(key)->second);
}

uint64_t PageTable::account(uint16_t before, uint16_t after, uint64_t pages) {
  if (before == 0 && after != 0) locked_pages_ += pages;
  if (before != 0 && after == 0) locked_pages_ -= pages;
  if (before != kStickyCount && after == kStickyCount) {
    sticky_pages_ += pages;
    return pages;
  }
  if (before == kStickyCount && after != kStickyCount) sticky_pages_ -= pages;
  return 0;
}

template <class Op>
uint64_t PageTable::rewrite(Chunk& chunk, uint32_t begin, uint32_t end, Op op) {
  uint64_t newly_sticky = 0;
  if (chunk.dense) {
    Dense& d = *chunk.dense;
    for (uint32_t p = begin; p < end; ++p) {
      const uint16_t before = d.counts[p];
      Counted after = op(before, bit(d.on_fault, p));
      newly_sticky += account(before, after.count, 1);
      d.locked += (after.count != 0) - (before != 0);
      d.counts[p] = after.count;
      set_bit(d.on_fault, p, after.count != 0 && after.on_fault);
    }
    return newly_sticky;
  }
  scratch_.clear();
  auto keep = [this](const Piece& piece) {
    if (piece.count == 0) return;
    if (!scratch_.empty()) {
      LocalRun& last = scratch_.back();
      if (last.end == piece.begin && last.count == piece.count && last.on_fault == piece.on_fault) {
        last.end = static_cast<uint16_t>(piece.end);
        return;
      }
    }
    scratch_.push_back(
        LocalRun{static_cast<uint16_t>(piece.begin), static_cast<uint16_t>(piece.end), piece.count, piece.on_fault});
  };
  each_piece(chunk, 0, begin, keep);
  each_piece(chunk, begin, end, [&](const Piece& piece) {
    Counted after = op(piece.count, piece.on_fault);
    newly_sticky += account(piece.count, after.count, piece.end - piece.begin);
    keep(Piece{piece.begin, piece.end, after.count, after.count != 0 && after.on_fault});
  });
  each_piece(chunk, end, kChunkPages, keep);
  if (scratch_.size() <= kMaxRuns) {
    chunk.runs.swap(scratch_);
    return newly_sticky;
  }
  auto dense = std::make_unique<Dense>();  // zeroed
  for (const LocalRun& run : scratch_) {
    for (uint32_t p = run.begin; p < run.end; ++p) {
      dense->counts[p] = run.count;
      set_bit(dense->on_fault, p, run.on_fault);
    }
    dense->locked += run.end - run.begin;
  }
  chunk.dense = std::move(dense);
  chunk.runs = std::vector<LocalRun>();
  return newly_sticky;
}

void PageTable::plan_lock(uint64_t first, uint64_t pages, bool on_fault, LockPlan& plan) const {
  plan.to_lock.clear();
  plan.to_populate.clear();
  plan.new_pages = 0;
  const uint64_t end = first + pages;
  uint64_t cursor = first;  // pages before it are planned
  auto unlocked = [&](uint64_t from, uint64_t to) {
    append_run(plan.to_lock, from, to - from);
    plan.new_pages += to - from;
  };
  each_chunk(chunks_, first, end, [&](uint64_t key, const Chunk& chunk, uint32_t from, uint32_t to) {
    const uint64_t base = key << kChunkShift;
    if (base + from > cursor) unlocked(cursor, base + from);
    each_piece(chunk, from, to, [&](const Piece& piece) {
      if (piece.count == 0) {
        unlocked(base + piece.begin, base + piece.end);
      } else if (!on_fault && piece.on_fault) {
        append_run(plan.to_populate, base + piece.begin, piece.end - piece.begin);
      }
    });
    cursor = base + to;
  });
  if (cursor < end) unlocked(cursor, end);
}

uint64_t PageTable::commit_lock(uint64_t first, uint64_t pages, bool on_fault) {
  const uint64_t end = first + pages;
  uint64_t newly_sticky = 0;
  auto lock = [on_fault](uint16_t count, bool was_on_fault) {
    if (count == 0) return Counted{1, on_fault};
    return Counted{count == kStickyCount ? count : static_cast<uint16_t>(count + 1), was_on_fault && on_fault};
  };
  for (uint64_t key = first >> kChunkShift; key <= (end - 1) >> kChunkShift; ++key) {
    const uint64_t base = key << kChunkShift;
    const uint32_t from = static_cast<uint32_t>(std::max(first, base) - base);
    const uint32_t to = static_cast<uint32_t>(std::min(end, base + kChunkPages) - base);
    newly_sticky += rewrite(chunks_[key], from, to, lock);
  }
  return newly_sticky;
}

void PageTable::plan_release(uint64_t first, uint64_t pages, ReleasePlan& plan) const {
  plan.to_unlock.clear();
  each_chunk(chunks_, first, first + pages, [&](uint64_t key, const Chunk& chunk, uint32_t from, uint32_t to) {
    const uint64_t base = key << kChunkShift;
    each_piece(chunk, from, to, [&](const Piece& piece) {
      if (piece.count == 1) append_run(plan.to_unlock, base + piece.begin, piece.end - piece.begin, piece.on_fault);
    });
  });
}

void PageTable::commit_release(uint64_t first, uint64_t pages) {
  auto release = [](uint16_t count, bool on_fault) {
    if (count == 0 || count == kStickyCount) return Counted{count, on_fault};
    return Counted{static_cast<uint16_t>(count - 1), on_fault};
  };
  each_chunk(chunks_, first, first + pages, [&](uint64_t key, Chunk& chunk, uint32_t from, uint32_t to) {
    rewrite(chunk, from, to, release);
    if (chunk.empty()) chunks_.erase(key);
  });
}

void PageTable::forget(uint64_t first, uint64_t pages) {
  auto drop = [](uint16_t, bool) { return Counted{0, false}; };
  each_chunk(chunks_, first, first + pages, [&](uint64_t key, Chunk& chunk, uint32_t from, uint32_t to) {
    rewrite(chunk, from, to, drop);
    if (chunk.empty()) chunks_.erase(key);
  });
}

void PageTable::clear() {
  chunks_.clear();
  locked_pages_ = 0;
  sticky_pages_ = 0;
}

uint16_t PageTable::count(uint64_t page) const {
  auto it = chunks_.find(page >> kChunkShift);
  if (it == chunks_.end()) return 0;
  const uint32_t offset = static_cast<uint32_t>(page & (kChunkPages - 1));
  const Chunk& chunk = it->second;
  if (chunk.dense) return chunk.dense->counts[offset];
  for (const LocalRun& run : chunk.runs) {
    if (offset < run.begin) break;
    if (offset < run.end) return run.count;
  }
  return 0;
}

void PageTable::counts(uint64_t first, uint64_t pages, uint16_t* out) const {
  std::fill(out, out + pages, 0);
  each_chunk(chunks_, first, first + pages, [&](uint64_t key, const Chunk& chunk, uint32_t from, uint32_t to) {
    const uint64_t base = key << kChunkShift;
    each_piece(chunk, from, to, [&](const Piece& piece) {
      if (piece.count != 0)
        std::fill(out + (base + piece.begin - first), out + (base + piece.end - first), piece.count);
    });
  });
}

uint16_t PageTable::max_count(uint64_t first, uint64_t pages) const {
  uint16_t max = 0;
  each_chunk(chunks_, first, first + pages, [&](uint64_t, const Chunk& chunk, uint32_t from, uint32_t to) {
    each_piece(chunk, from, to, [&](const Piece& piece) { max = std::max(max, piece.count); });
  });
  return max;
}

std::vector<PageRun> PageTable::locked_runs() const {
  std::vector<uint64_t> keys;
  keys.reserve(chunks_.size());
  for (const auto& entry : chunks_) keys.push_back(entry.first);
  std::sort(keys.begin(), keys.end());
  std::vector<PageRun> runs;
  for (uint64_t key : keys) {
    const uint64_t base = key << kChunkShift;
    each_piece(chunks_.find(key)->second, 0, kChunkPages, [&](const Piece& piece) {
      if (piece.count != 0) append_run(runs, base + piece.begin, piece.end - piece.begin, piece.on_fault);
    });
  }
  return runs;
}

size_t PageTable::dense_chunk_count() const {
  size_t dense = 0;
  for (const auto& entry : chunks_) dense += entry.second.dense ? 1 : 0;
  return dense;
}

bool PageTable::valid() const {
  uint64_t locked = 0, sticky = 0;
  for (const auto& [key, chunk] : chunks_) {
    if (chunk.empty()) return false;  // an empty chunk is erased
    if (chunk.dense) {
      if (!chunk.runs.empty()) return false;
      uint32_t counted = 0;
      for (uint32_t p = 0; p < kChunkPages; ++p) {
        const uint16_t count = chunk.dense->counts[p];
        if (count == 0 && bit(chunk.dense->on_fault, p)) return false;
        counted += count != 0;
        if (count == kStickyCount) ++sticky;
      }
      if (counted != chunk.dense->locked) return false;
      locked += counted;
      continue;
    }
    if (chunk.runs.size() > kMaxRuns) return false;
    const LocalRun* prev = nullptr;
    for (const LocalRun& run : chunk.runs) {
      if (run.begin >= run.end || run.end > kChunkPages || run.count == 0) return false;
      if (prev && prev->end > run.begin) return false;
      if (prev && prev->end == run.begin && prev->count == run.count && prev->on_fault == run.on_fault)
        return false;  // should have been merged
      locked += run.end - run.begin;
      if (run.count == kStickyCount) sticky += run.end - run.begin;
      prev = &run;
    }
  }
  return locked == locked_pages_ && sticky == sticky_pages_;
}

}  // namespace memlock
