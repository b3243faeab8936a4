#include "core/locker.h"

#include <errno.h>

#include <algorithm>
#include <new>

#include "platform/madvise_hook.h"
#include "platform/platform.h"

namespace memlock {

Locker& Locker::instance() {
  // Never destroyed: worker threads may still release locks while the main
  // thread runs static destructors at exit.
  static Locker* locker = [] {
    Locker* created = new Locker();
    register_fork_handlers();
    return created;
  }();
  return *locker;
}

Locker::Locker()
    : page_size_(platform::page_size()),
      // Solaris keeps a 10% margin of physical memory unlockable; so do we.
      limit_pages_(platform::physical_pages() / 10 * 9),
      max_map_count_(platform::max_map_count()),
      // At vm.max_map_count the next mmap or mprotect fails, and V8 aborts
      // when one of its heap growths fails. Every separately locked range
      // can split a mapping in three, so locks alone can take a process
      // there; memlock refuses them while fewer than this margin would be
      // left. V8 commits its heap in 256 KiB pages, each of which may take
      // a mapping or two of its own, and each worker needs a few more: a
      // sixteenth of the cap (4,095 at the default 65,530) leaves room for
      // about 0.5-1 GiB of fragmented heap growth and several workers; at
      // least 1,024 when the cap is small.
      map_margin_(std::max<int64_t>(1024, max_map_count_ / 16)) {}

int64_t Locker::reserve_mappings(int64_t more, int64_t* counted) {
  std::lock_guard<std::mutex> guard(mu_);
  return reserve_mappings_locked(more, counted);
}

int64_t Locker::reserve_mappings_locked(int64_t more, int64_t* counted) {
  if (max_map_count_ <= 0) return 0;
  const int64_t ceiling = max_map_count_ - map_margin_;
  if (mappings_ + more > recount_at_) {
    int64_t now = platform::mapping_count();
    if (now < 0) {  // no /proc: nothing to go by; try again a margin later
      recount_at_ = mappings_ + map_margin_;
      return 0;
    }
    if (now + more > ceiling) {
      mappings_ = now;
      *counted = now;
      return kMapCountExceeded;
    }
    // Count again halfway to the ceiling: a few reads on the way up to it
    // (about sixteen from an empty process), none on most locks.
    mappings_ = now;
    recount_at_ = now + std::max(more, (ceiling - now) / 2);
  }
  mappings_ += more;
  return 0;
}

// The kernel does not pass memory locks to a forked child, so the child's
// table starts empty. Holding the mutex across fork() means no other thread
// is half-way through a change when the child's copy is taken. Run by the
// one atfork registration (register_fork_handlers), after the pool's.
void Locker::before_fork() { instance().mu_.lock(); }
void Locker::after_fork_parent() { instance().mu_.unlock(); }
void Locker::after_fork_child() {
  Locker& self = instance();
  // Only the forking thread survives: make a fresh mutex rather than unlock
  // one whose owner may be gone, and drop the parent's state without freeing
  // (allocator state in a child of a threaded process is best left alone).
  new (&self.mu_) std::mutex();
  new (&self.table_) PageTable();
  new (&self.records_) LockRegistry();
  new (&self.notes_) decltype(self.notes_)();
  self.lock_all_flags_ = 0;  // the kernel does not pass mlockall to a child
  new (&self.watched_) decltype(self.watched_)();
  self.watched_shared_ = 0;
  self.watched_max_pages_ = 0;
  new (&self.lock_plan_) LockPlan();
  new (&self.release_plan_) ReleasePlan();
}

int Locker::lock_run(const PageRun& run, bool on_fault) {
  uintptr_t addr = run.first * page_size_;
  size_t len = run.pages * page_size_;
  return on_fault ? platform::lock_range_on_fault(addr, len) : platform::lock_range(addr, len);
}

int Locker::unlock_mapped_pages(const PageRun& run, bool strict) {
  for (uint64_t p = run.first; p < run.end(); ++p) {
    int rc = platform::unlock_range(p * page_size_, page_size_);
    if (rc == 0 || (rc == -ENOMEM && (!strict || platform::resident_pages(p * page_size_, page_size_) == -ENOMEM))) {
      continue;
    }
    // A refusal, or ENOMEM for a page that is still mapped: unlocking it would
    // split its mapping past vm.max_map_count (one-page locks of one range
    // released in random order get there). The page stays locked, so its
    // count stays too: this run's pages are locked again and the release fails.
    for (uint64_t q = run.first; q < p; ++q) lock_run(PageRun{q, 1, run.on_fault}, run.on_fault);
    return rc;
  }
  return 0;
}

void Locker::unlock_runs(const std::vector<PageRun>& runs, size_t count) {
  if (lock_all_flags_ != 0) return;  // whole-process locking holds them
  for (size_t i = 0; i < count; ++i) platform::unlock_range(runs[i].first * page_size_, runs[i].pages * page_size_);
}

LockOutcome Locker::lock(const void* owner, uintptr_t addr, size_t len, bool on_fault, uint32_t tag, int32_t thread_id,
                         bool check_watched, bool kernel_locked) {
  std::lock_guard<std::mutex> guard(mu_);
  return lock_locked(owner, addr, len, on_fault, tag, thread_id, check_watched, kernel_locked);
}

BatchOutcome Locker::lock_many(const void* owner, const BatchView* views, size_t count, bool on_fault,
                               int32_t thread_id, LockOutcome* locks) {
  BatchOutcome out;
  std::lock_guard<std::mutex> guard(mu_);
  for (size_t i = 0; i < count; ++i) {
    locks[i] = lock_locked(owner, views[i].addr, views[i].len, on_fault, views[i].tag, thread_id, true, false);
    if (locks[i].id > 0) continue;
    out.refusal = locks[i];
    out.failed_view = i;
    // Newest first: each release restores the state before its lock, so no
    // munlock needs a mapping the batch did not already have.
    for (size_t j = i; j-- > 0;) release_locked(locks[j].id, false);
    return out;
  }
  return out;
}

int64_t Locker::release_many(const void* owner, const int64_t* ids, size_t count, size_t* failed_index) {
  std::lock_guard<std::mutex> guard(mu_);
  for (size_t i = 0; i < count; ++i) {
    const LockRecord* rec = records_.find(ids[i]);
    if (rec == nullptr || rec->owner != owner) continue;
    ReleaseOutcome out = release_locked(ids[i], true);
    if (out.status < 0) {
      *failed_index = i;
      return out.status;
    }
  }
  return 0;
}

LockOutcome Locker::lock_locked(const void* owner, uintptr_t addr, size_t len, bool on_fault, uint32_t tag,
                                int32_t thread_id, bool check_watched, bool kernel_locked) {
  LockOutcome out;
  const uint64_t first = page_index(addr);
  const uint64_t pages = pages_spanned(addr, len);
  if (records_.full()) {
    out.id = -ENOMEM;  // 16.7 million locks held at once
    return out;
  }
  // A count on memory that went away unseen must not pass for a lock here.
  if (check_watched && !watched_.empty()) settle_watched_if_overlapping(first, pages);
  LockPlan& plan = lock_plan_;
  table_.plan_lock(first, pages, on_fault, plan);
  if (plan.new_pages > 0 && table_.locked_pages() + plan.new_pages > limit_pages_) {
    out.id = kLimitExceeded;
    return out;
  }
  if (kernel_locked) {
    plan.to_lock.clear();
    plan.to_populate.clear();
  }
  // Only new kernel locks (and on-fault runs locked outright) change a
  // mapping's flags: each run may split one mapping into three.
  if (size_t runs = plan.to_lock.size() + plan.to_populate.size(); runs > 0) {
    if (reserve_mappings_locked(2 * static_cast<int64_t>(runs), &out.mappings) < 0) {
      out.id = kMapCountExceeded;
      return out;
    }
  }

  // mlock can fail after locking part of its range, so a rollback unlocks the
  // failed run too: its pages had count 0 before this call.
  for (size_t i = 0; i < plan.to_lock.size(); ++i) {
    int rc = lock_run(plan.to_lock[i], on_fault);
    if (rc < 0) {
      unlock_runs(plan.to_lock, i + 1);
      out.id = rc;
      out.failed = on_fault ? Syscall::kMlock2 : Syscall::kMlock;
      return out;
    }
  }
  for (size_t i = 0; i < plan.to_populate.size(); ++i) {
    int rc = lock_run(plan.to_populate[i], false);
    if (rc < 0) {
      for (size_t j = 0; j <= i; ++j) lock_run(plan.to_populate[j], true);  // back to on-fault
      unlock_runs(plan.to_lock, plan.to_lock.size());
      out.id = rc;
      out.failed = Syscall::kMlock;
      return out;
    }
  }

  out.newly_sticky = table_.commit_lock(first, pages, on_fault);
  out.id = records_.add(LockRecord{owner, addr, len, tag, thread_id, on_fault});
  return out;
}

ReleaseOutcome Locker::release_locked(int64_t id, bool strict) {
  ReleaseOutcome out;
  out.id = id;
  const LockRecord* rec = records_.find(id);
  if (rec == nullptr) {
    out.status = 1;
    return out;
  }
  out.tag = rec->tag;

  const PageRun covered = pages_of(*rec);
  ReleasePlan& plan = release_plan_;
  table_.plan_release(covered.first, covered.pages, plan);
  // Under whole-process locking a count reaching 0 leaves the page locked.
  if (lock_all_flags_ != 0) plan.to_unlock.clear();
  for (size_t i = 0; i < plan.to_unlock.size(); ++i) {
    const PageRun& run = plan.to_unlock[i];
    int rc = platform::unlock_range(run.first * page_size_, run.pages * page_size_);
    // ENOMEM: part of the run is no longer mapped. An unmapped page is
    // implicitly unlocked, so its count goes with it; munlock stopped at the
    // hole, so the rest is unlocked page by page.
    if (rc == -ENOMEM) rc = unlock_mapped_pages(run, strict);
    if (rc < 0) {
      for (size_t j = 0; j < i; ++j) lock_run(plan.to_unlock[j], plan.to_unlock[j].on_fault);
      out.status = rc;
      return out;
    }
  }
  table_.commit_release(covered.first, covered.pages);
  drop_record(id);
  return out;
}

ReleaseOutcome Locker::release(const void* owner, int64_t id) {
  std::lock_guard<std::mutex> guard(mu_);
  const LockRecord* rec = records_.find(id);
  if (rec == nullptr || rec->owner != owner) return ReleaseOutcome{1, id, 0};
  return release_locked(id, true);
}

ReleaseOutcome Locker::release_latest(const void* owner, uintptr_t addr, size_t len) {
  std::lock_guard<std::mutex> guard(mu_);
  int64_t id = records_.newest(owner, addr, len);
  if (id == 0) return ReleaseOutcome{1, 0, 0};
  return release_locked(id, true);
}

void Locker::release_owner(const void* owner) {
  std::lock_guard<std::mutex> guard(mu_);
  for (int64_t id : records_.ids_of(owner)) release_locked(id, false);
}

size_t Locker::forget(uintptr_t addr, size_t len) {
  std::lock_guard<std::mutex> guard(mu_);
  return forget_locked(page_index(addr), pages_spanned(addr, len));
}

size_t Locker::forget_locked(uint64_t first, uint64_t pages) {
  std::vector<int64_t> ids = ids_on_pages(first, pages);
  for (int64_t id : ids) {
    // A lock reaching past the forgotten pages releases its other pages.
    const PageRun covered = pages_of(*records_.find(id));
    const uint64_t end = first + pages;
    if (covered.first < first) release_pages(covered.first, first - covered.first);
    if (covered.end() > end) release_pages(end, covered.end() - end);
    drop_record(id);
  }
  table_.forget(first, pages);
  return ids.size();
}

void Locker::drop_sticky(uintptr_t addr, size_t len) {
  std::lock_guard<std::mutex> guard(mu_);
  const uint64_t first = page_index(addr);
  const uint64_t pages = pages_spanned(addr, len);
  std::vector<uint16_t> counts(pages);
  table_.counts(first, pages, counts.data());
  // A page under a held lock keeps its count: that lock's view keeps it mapped.
  std::vector<bool> held(pages, false);
  for (int64_t id : ids_on_pages(first, pages)) {
    const PageRun covered = pages_of(*records_.find(id));
    const uint64_t from = std::max(covered.first, first), to = std::min(covered.end(), first + pages);
    for (uint64_t p = from; p < to; ++p) held[p - first] = true;
  }
  for (uint64_t i = 0; i < pages;) {
    if (counts[i] != kStickyCount || held[i]) {
      ++i;
      continue;
    }
    uint64_t end = i;
    while (end < pages && counts[end] == kStickyCount && !held[end]) ++end;
    if (lock_all_flags_ == 0) platform::unlock_range((first + i) * page_size_, (end - i) * page_size_);
    table_.forget(first + i, end - i);
    i = end;
  }
}

std::vector<int64_t> Locker::ids_on_pages(uint64_t first, uint64_t pages) const {
  return records_.ids_touching(first * page_size_, (first + pages) * page_size_);
}

void Locker::drop_record(int64_t id) {
  records_.remove(id);
  if (!notes_.empty()) notes_.erase(id);
}

void Locker::annotate(int64_t id, bool labelled, std::string label, std::string stack) {
  std::lock_guard<std::mutex> guard(mu_);
  if (records_.find(id) != nullptr) notes_[id] = Note{std::move(label), std::move(stack), labelled};
}

bool Locker::locks(std::vector<LockInfo>* out, std::vector<LockNote>* notes, int64_t after, size_t limit,
                   uint64_t* last) {
  std::lock_guard<std::mutex> guard(mu_);
  // Oldest first: ids are no order (slots are reused), sequences are.
  std::vector<std::pair<uint64_t, int64_t>> order;
  order.reserve(after == kFromStart ? records_.size() : 0);
  records_.for_each([&](int64_t id, const LockRecord& rec) {
    if (after == kFromStart || rec.sequence > static_cast<uint64_t>(after)) order.emplace_back(rec.sequence, id);
  });
  const bool more = order.size() > limit;
  if (more) {
    // A page: the `limit` oldest, without sorting the rest.
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(limit), order.end());
    order.resize(limit);
  }
  std::sort(order.begin(), order.end());
  out->reserve(order.size());
  for (const auto& entry : order) {
    const LockRecord& rec = *records_.find(entry.second);
    const PageRun covered = pages_of(rec);
    out->push_back(LockInfo{entry.second, rec, covered, table_.max_count(covered.first, covered.pages)});
    if (notes_.empty()) continue;
    if (auto note = notes_.find(entry.second); note != notes_.end()) {
      notes->push_back(LockNote{out->size() - 1, note->second.labelled, note->second.label, note->second.stack});
    }
  }
  if (last != nullptr && !order.empty()) *last = order.back().first;
  return more;
}

void Locker::watch_unmapping(uintptr_t addr, size_t len, bool shared) {
  std::lock_guard<std::mutex> guard(mu_);
  const PageRun run{page_index(addr), pages_spanned(addr, len), false};
  for (const Watched& w : watched_) {
    if (w.run.first == run.first && w.run.pages == run.pages && w.shared == shared) return;  // watched already
  }
  // Kept sorted by first page, for the lookup on every lock.
  auto at = std::upper_bound(watched_.begin(), watched_.end(), run.first,
                             [](uint64_t page, const Watched& w) { return page < w.run.first; });
  watched_.insert(at, Watched{run, shared});
  if (shared) watched_shared_ += 1;
  watched_max_pages_ = std::max(watched_max_pages_, run.pages);
}

int64_t Locker::settle_watched() {
  std::vector<platform::LockedRange> kernel;
  std::lock_guard<std::mutex> guard(mu_);
  if (watched_.empty()) return 0;
  if (int rc = platform::locked_ranges(&kernel); rc < 0) return rc;
  return static_cast<int64_t>(settle_watched_locked(kernel));
}

int64_t Locker::settle_watched_if_overlapping(uint64_t first, uint64_t pages) {
  // Only runs that start less than the longest run before `first` can reach
  // it: a binary search, not a scan, on the hot path of lock().
  const uint64_t from = first > watched_max_pages_ ? first - watched_max_pages_ : 0;
  auto it = std::lower_bound(watched_.begin(), watched_.end(), from,
                             [](const Watched& w, uint64_t page) { return w.run.first < page; });
  for (; it != watched_.end() && it->run.first < first + pages; ++it) {
    const Watched& w = *it;
    if (first < w.run.end()) {
      std::vector<platform::LockedRange> kernel;
      if (int rc = platform::locked_ranges(&kernel); rc < 0) return rc;
      return static_cast<int64_t>(settle_watched_locked(kernel));
    }
  }
  return 0;
}

uint64_t Locker::settle_watched_locked(const std::vector<platform::LockedRange>& kernel) {
  uint64_t dropped = 0;
  std::vector<Watched> still;
  for (const Watched& w : watched_) {
    // The parts of the watched run the kernel still has locked stay watched
    // (and counted); the rest was unmapped, so its counts go (rule 9).
    uint64_t cursor = w.run.first;
    auto gone = [&](uint64_t from, uint64_t to) {
      if (to <= from) return;
      std::vector<uint16_t> counts(to - from);
      table_.counts(from, to - from, counts.data());
      for (uint16_t c : counts) dropped += c > 0 ? 1 : 0;
      forget_locked(from, to - from);
    };
    for (const platform::LockedRange& k : kernel) {
      uint64_t start = k.start / page_size_, end = k.end / page_size_;
      if (end <= cursor) continue;
      if (start >= w.run.end()) break;
      gone(cursor, start);
      uint64_t kept_to = std::min(end, w.run.end());
      uint64_t kept_from = std::max(start, cursor);
      still.push_back(Watched{PageRun{kept_from, kept_to - kept_from, false}, w.shared});
      cursor = kept_to;
    }
    gone(cursor, w.run.end());
  }
  std::sort(still.begin(), still.end(), [](const Watched& a, const Watched& b) { return a.run.first < b.run.first; });
  // Runs whose counts are all gone need no watching.
  watched_.clear();
  watched_shared_ = 0;
  watched_max_pages_ = 0;
  for (const Watched& w : still) {
    std::vector<uint16_t> counts(w.run.pages);
    table_.counts(w.run.first, w.run.pages, counts.data());
    bool counted = false;
    for (uint16_t c : counts) counted = counted || c > 0;
    if (!counted) continue;
    watched_.push_back(w);
    if (w.shared) watched_shared_ += 1;
    watched_max_pages_ = std::max(watched_max_pages_, w.run.pages);
  }
  return dropped;
}

int64_t Locker::verify(std::vector<PageRun>* missing) {
  std::vector<platform::LockedRange> kernel;
  std::lock_guard<std::mutex> guard(mu_);
  if (int rc = platform::locked_ranges(&kernel); rc < 0) return rc;
  if (!watched_.empty()) settle_watched_locked(kernel);
  uint64_t counted = 0;
  size_t k = 0;  // both lists are in address order: one pass over each
  for (const PageRun& run : table_.locked_runs()) {
    counted += run.pages;
    while (k < kernel.size() && kernel[k].end / page_size_ <= run.first) ++k;
    uint64_t cursor = run.first;
    // Walk the run, skipping what locked mappings cover; a mapping that
    // reaches past the run may cover the next one too, so k stays on it.
    for (size_t i = k; i < kernel.size() && cursor < run.end(); ++i) {
      uint64_t start = kernel[i].start / page_size_, end = kernel[i].end / page_size_;
      if (start >= run.end()) break;
      if (start > cursor) missing->push_back(PageRun{cursor, start - cursor, false});
      if (end > cursor) cursor = end;
    }
    if (cursor < run.end()) missing->push_back(PageRun{cursor, run.end() - cursor, false});
  }
  return static_cast<int64_t>(counted);
}

void Locker::release_pages(uint64_t first, uint64_t pages) {
  table_.plan_release(first, pages, release_plan_);
  unlock_runs(release_plan_.to_unlock, release_plan_.to_unlock.size());
  table_.commit_release(first, pages);
}

bool Locker::is_held(const void* owner, int64_t id) {
  std::lock_guard<std::mutex> guard(mu_);
  const LockRecord* rec = records_.find(id);
  return rec != nullptr && rec->owner == owner;
}

void Locker::counts(uintptr_t addr, size_t len, uint16_t* out) {
  std::lock_guard<std::mutex> guard(mu_);
  table_.counts(page_index(addr), pages_spanned(addr, len), out);
}

Stats Locker::stats() {
  std::lock_guard<std::mutex> guard(mu_);
  // Sticky memory of a SharedArrayBuffer whose locking thread exited goes
  // whenever the last thread holding it lets go: checked on every call while
  // there is any (a read of smaps, about a millisecond).
  if (watched_shared_ > 0) {
    std::vector<platform::LockedRange> kernel;
    if (platform::locked_ranges(&kernel) == 0) settle_watched_locked(kernel);
  }
  return Stats{table_.locked_pages(), table_.sticky_pages(), limit_pages_, records_.size()};
}

uint64_t Locker::limit() {
  std::lock_guard<std::mutex> guard(mu_);
  return limit_pages_;
}

int Locker::guard_code_releases() {
  std::lock_guard<std::mutex> guard(mu_);
  if (guard_code_) return 0;
  if (madvise_hook::install() == 0) return -ENOSYS;
  guard_code_ = true;
  refresh_madvise_hook();
  return 0;
}

void Locker::refresh_madvise_hook() {
  madvise_hook::set_active(lock_all_flags_ != 0 || guard_code_, (lock_all_flags_ & kLockOnFault) != 0);
}

int Locker::lock_all(int flags) {
  std::lock_guard<std::mutex> guard(mu_);
  if (madvise_hook::install() == 0) return -ENOSYS;
  // The hook goes live before mlockall: no window in which V8's page
  // releases are refused.
  madvise_hook::set_active(true, (flags & kLockOnFault) != 0);
  int rc = platform::lock_all(flags);
  if (rc < 0) {
    refresh_madvise_hook();
    return rc;
  }
  lock_all_flags_ = flags;
  return 0;
}

namespace {

struct UnlockExcept {
  const std::vector<PageRun>* keep;
  size_t page_size;
  int error;
  uintptr_t last_end;  // end of the previous mapping listed, 0 before the first
};

void unlock_gap(UnlockExcept& u, uint64_t first, uint64_t end) {
  int rc = platform::unlock_range(first * u.page_size, (end - first) * u.page_size);
  // munlock is never refused for limits; ENOMEM means part of the range was
  // unmapped meanwhile (another thread), which unlocks it just as well.
  if (rc < 0 && rc != -ENOMEM) u.error = rc;
}

// Unlocks [start, end) but the kept runs in it.
void unlock_span_except(UnlockExcept& u, uintptr_t start, uintptr_t end) {
  if (u.error < 0) return;  // stop at the first refusal: less to put back
  const uint64_t first = start / u.page_size, stop = end / u.page_size;
  const std::vector<PageRun>& keep = *u.keep;
  auto it = std::lower_bound(keep.begin(), keep.end(), first,
                             [](const PageRun& run, uint64_t page) { return run.end() <= page; });
  uint64_t cursor = first;
  for (; it != keep.end() && it->first < stop && u.error == 0; ++it) {
    if (it->first > cursor) unlock_gap(u, cursor, it->first);
    cursor = std::max(cursor, it->end());
  }
  if (cursor < stop && u.error == 0) unlock_gap(u, cursor, stop);
}

// Each listed mapping, and what follows it up to the next: an emulated
// /proc/self/maps can list only the start of a mapping (qemu-user lists
// 72 KiB of V8's 256 MiB code space), and munlock from the listed end
// reaches the rest, stopping with ENOMEM at the first hole. On a kernel's
// own maps the hole follows at once.
void unlock_mapping_except(uintptr_t start, uintptr_t end, void* context) {
  UnlockExcept& u = *static_cast<UnlockExcept*>(context);
  if (u.last_end != 0 && start > u.last_end) unlock_span_except(u, u.last_end, start);
  unlock_span_except(u, start, end);
  u.last_end = std::max(u.last_end, end);
}

}  // namespace

int Locker::unlock_except(const std::vector<PageRun>& keep, Syscall* failed) {
  UnlockExcept u{&keep, page_size_, 0, 0};
  if (int rc = platform::for_each_mapping(unlock_mapping_except, &u); rc < 0) {
    *failed = Syscall::kNone;  // /proc/self/maps could not be read
    return rc;
  }
  // After the last mapping listed, up to the top of the address space.
  const uintptr_t top = ~static_cast<uintptr_t>(0) / page_size_ * page_size_;
  if (u.last_end != 0 && u.last_end < top) unlock_span_except(u, u.last_end, top);
  if (u.error < 0) *failed = Syscall::kMunlock;
  return u.error;
}

int Locker::unlock_all(Syscall* failed) {
  std::lock_guard<std::mutex> guard(mu_);
  const int flags = lock_all_flags_;
  // What the kernel has locked now, to put back exactly if a munlock is
  // refused (in practice it never is).
  std::vector<platform::LockedRange> before;
  platform::locked_ranges(&before);

  // munlockall would unlock counted pages too, and locking them again can
  // be refused (RLIMIT_MEMLOCK lowered meanwhile, unprivileged): handles
  // would say held over unlocked pages. So no counted page is ever unlocked.
  // 1. MCL_FUTURE off. mlockall(MCL_CURRENT | MCL_ONFAULT) clears it and
  //    marks every mapping locked on fault, faulting nothing in; it is
  //    refused (RLIMIT_MEMLOCK) before it changes anything.
  if (flags & kLockFuture) {
    if (int rc = platform::lock_all(kLockCurrent | kLockOnFault); rc < 0) {
      *failed = Syscall::kMlockall;
      return rc;
    }
  }
  // 2. Every mapped range but the counted runs is unlocked.
  const std::vector<PageRun> counted = table_.locked_runs();
  if (int rc = unlock_except(counted, failed); rc < 0) {
    restore_kernel_locks(before, flags);
    return rc;
  }
  // 3. Each counted run gets its kind back (locked outright or on fault).
  //    Its pages are locked already, and locking them again is not charged
  //    against RLIMIT_MEMLOCK a second time; if it fails anyway (say the
  //    limit was lowered below what is counted) the pages are still locked,
  //    only perhaps of the other kind, so the table does not lie: go on.
  for (const PageRun& run : counted) lock_run(run, run.on_fault);
  lock_all_flags_ = 0;
  refresh_madvise_hook();
  return 0;
}

void Locker::restore_kernel_locks(const std::vector<platform::LockedRange>& ranges, int flags) {
  // All or nothing: the ranges locked before come back as they were, what
  // step 1 locked that was not locked before is unlocked again, and
  // MCL_FUTURE comes back (which by itself changes no existing mapping).
  // Best effort: each of these calls was allowed when that state was made.
  std::vector<PageRun> keep;
  keep.reserve(ranges.size());
  for (const platform::LockedRange& r : ranges) {
    if (r.on_fault)
      platform::lock_range_on_fault(r.start, r.end - r.start);
    else
      platform::lock_range(r.start, r.end - r.start);
    keep.push_back(PageRun{r.start / page_size_, (r.end - r.start) / page_size_, r.on_fault});
  }
  Syscall ignored;
  if (flags & kLockFuture) unlock_except(keep, &ignored);
  if (flags & kLockFuture) platform::lock_all(flags & ~kLockCurrent);
}

bool Locker::valid() {
  std::lock_guard<std::mutex> guard(mu_);
  return table_.valid();
}

int Locker::lock_all_flags() {
  std::lock_guard<std::mutex> guard(mu_);
  return lock_all_flags_;
}

void Locker::set_limit(uint64_t pages) {
  std::lock_guard<std::mutex> guard(mu_);
  limit_pages_ = pages;
}

}  // namespace memlock
