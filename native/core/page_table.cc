#include "core/page_table.h"

#include <algorithm>

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

}  // namespace

PageTable::Map::const_iterator PageTable::first_run_touching(uint64_t page) const {
  auto it = runs_.upper_bound(page);
  if (it != runs_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end > page) return prev;
  }
  return it;
}

void PageTable::plan_lock(uint64_t first, uint64_t pages, bool on_fault, LockPlan& plan) const {
  plan.to_lock.clear();
  plan.to_populate.clear();
  plan.new_pages = 0;
  const uint64_t end = first + pages;
  uint64_t cursor = first;
  for (auto it = first_run_touching(first); cursor < end; ++it) {
    uint64_t run_start = it == runs_.end() ? end : std::max(it->first, cursor);
    if (run_start > cursor) {
      uint64_t gap_end = std::min(run_start, end);
      append_run(plan.to_lock, cursor, gap_end - cursor);
      plan.new_pages += gap_end - cursor;
      cursor = gap_end;
      if (cursor >= end) break;
    }
    uint64_t run_end = std::min(it->second.end, end);
    if (!on_fault && it->second.on_fault) append_run(plan.to_populate, cursor, run_end - cursor);
    cursor = run_end;
  }
}

void PageTable::plan_release(uint64_t first, uint64_t pages, ReleasePlan& plan) const {
  plan.to_unlock.clear();
  const uint64_t end = first + pages;
  for (auto it = first_run_touching(first); it != runs_.end() && it->first < end; ++it) {
    if (it->second.count != 1) continue;
    uint64_t from = std::max(it->first, first);
    uint64_t to = std::min(it->second.end, end);
    append_run(plan.to_unlock, from, to - from, it->second.on_fault);
  }
}

void PageTable::split_at(uint64_t page) {
  auto it = runs_.upper_bound(page);
  if (it == runs_.begin()) return;
  --it;
  if (it->first < page && it->second.end > page) {
    Run tail = it->second;
    it->second.end = page;
    runs_.emplace_hint(std::next(it), page, tail);
  }
}

void PageTable::merge_around(uint64_t first, uint64_t end) {
  // Callers split at `first`, so the run before it ends at or before `first`.
  auto it = runs_.lower_bound(first);
  if (it != runs_.begin()) --it;
  while (it != runs_.end() && it->first <= end) {
    auto next = std::next(it);
    if (next == runs_.end()) break;
    if (it->second.end == next->first && it->second.count == next->second.count &&
        it->second.on_fault == next->second.on_fault) {
      it->second.end = next->second.end;
      runs_.erase(next);
    } else {
      it = next;
    }
  }
}

PageTable::Map::iterator PageTable::exact_run(uint64_t first, uint64_t end) {
  auto it = runs_.find(first);
  return it != runs_.end() && it->second.end == end ? it : runs_.end();
}

void PageTable::merge_neighbours(Map::iterator it) {
  auto same = [](const Run& a, const Run& b) { return a.count == b.count && a.on_fault == b.on_fault; };
  auto next = std::next(it);
  if (next != runs_.end() && it->second.end == next->first && same(it->second, next->second)) {
    it->second.end = next->second.end;
    runs_.erase(next);
  }
  if (it != runs_.begin()) {
    auto prev = std::prev(it);
    if (prev->second.end == it->first && same(prev->second, it->second)) {
      prev->second.end = it->second.end;
      runs_.erase(it);
    }
  }
}

uint64_t PageTable::increment(Run& run, uint64_t first, bool on_fault) {
  if (!on_fault) run.on_fault = false;
  if (run.count == kStickyCount || ++run.count != kStickyCount) return 0;
  sticky_pages_ += run.end - first;
  return run.end - first;
}

uint64_t PageTable::commit_lock(uint64_t first, uint64_t pages, bool on_fault) {
  const uint64_t end = first + pages;
  // Fast paths: the range is exactly one run (a re-lock), or touches none.
  if (auto it = exact_run(first, end); it != runs_.end()) {
    uint64_t sticky = increment(it->second, first, on_fault);
    merge_neighbours(it);
    return sticky;
  }
  if (auto it = first_run_touching(first); it == runs_.end() || it->first >= end) {
    auto inserted = runs_.emplace_hint(it, first, Run{end, 1, on_fault});
    locked_pages_ += pages;
    merge_neighbours(inserted);
    return 0;
  }
  split_at(first);
  split_at(end);
  uint64_t newly_sticky = 0;
  uint64_t cursor = first;
  auto it = runs_.lower_bound(first);
  while (cursor < end) {
    if (it == runs_.end() || it->first > cursor) {
      uint64_t gap_end = it == runs_.end() ? end : std::min(it->first, end);
      it = runs_.emplace_hint(it, cursor, Run{gap_end, 1, on_fault});
      locked_pages_ += gap_end - cursor;
    } else {
      newly_sticky += increment(it->second, it->first, on_fault);
    }
    cursor = it->second.end;
    ++it;
  }
  merge_around(first, end);
  return newly_sticky;
}

void PageTable::commit_release(uint64_t first, uint64_t pages) {
  const uint64_t end = first + pages;
  if (auto it = exact_run(first, end); it != runs_.end()) {  // fast path
    Run& run = it->second;
    if (run.count == kStickyCount) return;
    if (--run.count == 0) {
      locked_pages_ -= pages;
      runs_.erase(it);
    } else {
      merge_neighbours(it);
    }
    return;
  }
  split_at(first);
  split_at(end);
  for (auto it = runs_.lower_bound(first); it != runs_.end() && it->first < end;) {
    Run& run = it->second;
    if (run.count == kStickyCount) {
      ++it;
    } else if (--run.count == 0) {
      locked_pages_ -= run.end - it->first;
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  merge_around(first, end);
}

void PageTable::forget(uint64_t first, uint64_t pages) {
  const uint64_t end = first + pages;
  split_at(first);
  split_at(end);
  for (auto it = runs_.lower_bound(first); it != runs_.end() && it->first < end;) {
    uint64_t len = it->second.end - it->first;
    locked_pages_ -= len;
    if (it->second.count == kStickyCount) sticky_pages_ -= len;
    it = runs_.erase(it);
  }
  merge_around(first, end);
}

void PageTable::clear() {
  runs_.clear();
  locked_pages_ = 0;
  sticky_pages_ = 0;
}

uint16_t PageTable::count(uint64_t page) const {
  auto it = first_run_touching(page);
  return it != runs_.end() && it->first <= page ? it->second.count : 0;
}

void PageTable::counts(uint64_t first, uint64_t pages, uint16_t* out) const {
  std::fill(out, out + pages, 0);
  const uint64_t end = first + pages;
  for (auto it = first_run_touching(first); it != runs_.end() && it->first < end; ++it) {
    uint64_t from = std::max(it->first, first);
    uint64_t to = std::min(it->second.end, end);
    std::fill(out + (from - first), out + (to - first), it->second.count);
  }
}

uint16_t PageTable::max_count(uint64_t first, uint64_t pages) const {
  uint16_t max = 0;
  const uint64_t end = first + pages;
  for (auto it = first_run_touching(first); it != runs_.end() && it->first < end; ++it) {
    max = std::max(max, it->second.count);
  }
  return max;
}

std::vector<PageRun> PageTable::locked_runs() const {
  std::vector<PageRun> runs;
  for (const auto& [start, run] : runs_) append_run(runs, start, run.end - start, run.on_fault);
  return runs;
}

bool PageTable::valid() const {
  uint64_t locked = 0, sticky = 0, prev_end = 0;
  const Run* prev = nullptr;
  for (const auto& [start, run] : runs_) {
    if (run.end <= start || run.count == 0 || start < prev_end) return false;
    if (prev && prev_end == start && prev->count == run.count && prev->on_fault == run.on_fault)
      return false;  // should have been merged
    locked += run.end - start;
    if (run.count == kStickyCount) sticky += run.end - start;
    prev_end = run.end;
    prev = &run;
  }
  return locked == locked_pages_ && sticky == sticky_pages_;
}

}  // namespace memlock
