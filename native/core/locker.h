// The process-wide lock state: one page table, the lockable-page limit and
// the record of every held lock, behind one mutex shared by all threads
// (main and workers). Turns table plans into syscalls and rolls them back
// when one is refused. No N-API here either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/lock_registry.h"
#include "core/page_table.h"
#include "core/shared_numbers.h"
#include "platform/platform.h"

namespace memlock {

struct LockOutcome {
  int64_t id = 0;  // > 0 the new lock's id; < 0 -errno, kLimitExceeded or kMapCountExceeded
  Syscall failed = Syscall::kNone;
  uint64_t newly_sticky = 0;
  int64_t mappings = 0;  // kMapCountExceeded: the process's mappings, as counted
};

struct ReleaseOutcome {
  int64_t status = 0;  // 0 released, 1 not held (already released), < 0 -errno
  int64_t id = 0;      // the lock that was released
  uint32_t tag = 0;    // the tag it was taken with
};

// One view of a batch (lock_many): its bytes and the owner's tag for it.
struct BatchView {
  uintptr_t addr;
  size_t len;
  uint32_t tag;
};

// lock_many: on success every view's lock; on a refusal, which view and why
// (nothing is left locked).
struct BatchOutcome {
  LockOutcome refusal;  // refusal.id < 0 when a view was refused
  size_t failed_view = 0;
};

struct Stats {
  uint64_t locked_pages, sticky_pages, limit_pages, held_locks;
};

// fork(): memlock's process-wide mutexes are the SecretPool's and the
// Locker's, and every path takes them in that order (the pool locks memory
// through the Locker, never the reverse). One pthread_atfork registration,
// made by whichever singleton is touched first, takes them in that order
// before fork() and gives them back in reverse; two registrations would run
// in reverse registration order and deadlock against a thread that holds
// the pool's mutex and waits for the Locker's. Defined in secret_pool.cc,
// which knows both.
void register_fork_handlers();

class Locker {
 public:
  static Locker& instance();
  // A private Locker, for tests and the fuzzer; the addon uses instance().
  Locker();

  // `owner` groups locks by environment (one per worker thread); `tag` is the
  // owner's own number for the lock, handed back when it is released.
  // `check_watched` false: the caller has just settled the watched memory
  // (settle_watched()), so a lock overlapping it need not read smaps again.
  // `kernel_locked`: the kernel keeps this memory locked by itself
  // (memfd_secret memory, where mlock is refused: it cannot be faulted in
  // through get_user_pages); the counts and the limit apply, no syscall is made.
  LockOutcome lock(const void* owner, uintptr_t addr, size_t len, bool on_fault, uint32_t tag, int32_t thread_id = -1,
                   bool check_watched = true, bool kernel_locked = false);
  // Locks each view in turn under one hold of the mutex, all or none: on a
  // refusal the locks taken are released again, newest first, which takes
  // the mappings back through states they were in moments before.
  // `locks[i]` receives view i's outcome.
  BatchOutcome lock_many(const void* owner, const BatchView* views, size_t count, bool on_fault, int32_t thread_id,
                         LockOutcome* locks);
  // Releases each lock in turn under one hold of the mutex (ids not held, or
  // held by another owner, are skipped). Stops at the first munlock the
  // kernel refuses: returns its -errno and index; the locks before it are
  // released, it and the rest stay held. 0 when all are.
  int64_t release_many(const void* owner, const int64_t* ids, size_t count, size_t* failed_index);
  // Attaches a label (if `labelled`: '' is a label too) and the stack that
  // took it to a held lock (diagnostics).
  void annotate(int64_t id, bool labelled, std::string label, std::string stack);
  ReleaseOutcome release(const void* owner, int64_t id);
  // Releases the most recent lock `owner` took on exactly [addr, addr + len).
  ReleaseOutcome release_latest(const void* owner, uintptr_t addr, size_t len);
  // Releases every lock of `owner` (its environment is going away).
  void release_owner(const void* owner);
  bool is_held(const void* owner, int64_t id);
  // For memory about to be unmapped by memlock: drops every count on its
  // pages, sticky ones included, and every lock touching them, without
  // munlock (unmapping unlocks). Returns how many locks were dropped.
  size_t forget(uintptr_t addr, size_t len);
  // For sticky memory whose owner goes away (a worker's heap, with the views
  // that made it sticky): its sticky pages that no held lock covers are
  // unlocked and their counts dropped.
  void drop_sticky(uintptr_t addr, size_t len);
  // Counted memory whose end memlock cannot see coming (rule 10): a
  // SharedArrayBuffer made sticky by a thread that has exited (other threads
  // may still hold it), the code mappings lockCode() counted (a worker's
  // builtins go with the worker). Its counts are checked against the
  // kernel's own account (smaps lo) before a lock that overlaps it, at
  // verify(), at stats() while any SharedArrayBuffer is watched, at
  // lockCode() and when a thread that used memlock exits: pages the kernel
  // no longer has locked (their memory was unmapped) lose their counts.
  void watch_unmapping(uintptr_t addr, size_t len, bool shared);
  // Checks the watched memory now; returns the pages whose counts were
  // dropped, or -errno if the kernel's account could not be read.
  int64_t settle_watched();

  void counts(uintptr_t addr, size_t len, uint16_t* out);

  struct LockInfo {
    int64_t id;
    LockRecord record;
    PageRun covered;  // the pages it covers
    uint16_t max_count;
  };
  struct LockNote {
    size_t index;  // in locks()'s list
    bool labelled;
    std::string label, stack;
  };
  // The held locks, oldest first, and the labels and stacks of the few
  // that have one (kept apart: a string pair per lock cost 64 bytes each):
  // those taken after the lock of sequence `after` (all with kFromStart), at
  // most `limit` of them. Returns whether more follow; *last is the
  // sequence of the last one listed (the next page's `after`).
  static constexpr int64_t kFromStart = -1;
  bool locks(std::vector<LockInfo>* out, std::vector<LockNote>* notes, int64_t after = kFromStart,
             size_t limit = SIZE_MAX, uint64_t* last = nullptr);
  // verify(): compares the table with the kernel's account (smaps VmFlags
  // lo) under mu_, so no memlock call changes either between the two reads:
  // a consistent snapshot of memlock's locks against the kernel, for the
  // price of holding mu_ for one read of /proc/self/smaps (about a
  // millisecond for a plain node process; the kernel walks every mapping).
  // Fills the counted runs the kernel does not have locked, and returns the
  // pages counted, or -errno if smaps could not be read.
  int64_t verify(std::vector<PageRun>* missing);
  Stats stats();
  uint64_t limit();
  void set_limit(uint64_t pages);

  // For calls that add `more` mappings (secret memory maps its own): 0, or
  // kMapCountExceeded with the mappings counted in *counted.
  int64_t reserve_mappings(int64_t more, int64_t* counted);
  int64_t max_map_count() const { return max_map_count_; }
  int64_t map_margin() const { return map_margin_; }

  // mlockall with memlock's madvise hook in place, so V8 survives it.
  // Returns 0, -errno, or -ENOSYS if the hook could not be installed.
  int lock_all(int flags);
  // Ends whole-process locking without ever unlocking a counted page: clears
  // MCL_FUTURE, unlocks every mapped range but the counted runs, and gives
  // each counted run back its kind (on fault or not). Returns 0, or -errno
  // with nothing changed (*failed says which syscall was refused).
  int unlock_all(Syscall* failed);
  int lock_all_flags();
  // lockCode() locks V8's code mappings (each isolate's copy of its
  // builtins), which V8 releases with madvise when the isolate goes (a
  // worker's exit, the process's): refused on locked memory, and V8 aborts.
  // The madvise hook then serves those releases for the rest of the
  // process. 0, or -ENOSYS where the hook cannot be installed.
  int guard_code_releases();
  // The table's invariants hold (tests and the fuzzer).
  bool valid();

  size_t page_size() const { return page_size_; }
  uint64_t page_index(uintptr_t addr) const { return addr / page_size_; }
  uint64_t pages_spanned(uintptr_t addr, size_t len) const {
    return (addr + len - 1) / page_size_ - addr / page_size_ + 1;
  }
  // The pages a held lock covers (a record keeps its bytes, not its pages).
  PageRun pages_of(const LockRecord& rec) const {
    return PageRun{page_index(rec.addr), pages_spanned(rec.addr, rec.len), rec.on_fault};
  }

 private:
  // Every private member is called with mu_ held (the fork handlers aside);
  // a _locked suffix marks the twin of a public member that takes mu_ itself.
  // strict: a munlock refused with ENOMEM on memory still mapped (its
  // mapping cannot split past vm.max_map_count) fails the release, nothing
  // changed, rather than drop a count whose page stays locked; teardown is
  // not strict (it absorbs the refusal, as for unmapped memory).
  ReleaseOutcome release_locked(int64_t id, bool strict);
  LockOutcome lock_locked(const void* owner, uintptr_t addr, size_t len, bool on_fault, uint32_t tag, int32_t thread_id,
                          bool check_watched, bool kernel_locked);
  int64_t reserve_mappings_locked(int64_t more, int64_t* counted);
  // Held locks covering any of these pages.
  std::vector<int64_t> ids_on_pages(uint64_t first, uint64_t pages) const;
  void drop_record(int64_t id);
  size_t forget_locked(uint64_t first, uint64_t pages);
  // settle_watched() with the kernel's locked ranges already read.
  uint64_t settle_watched_locked(const std::vector<platform::LockedRange>& kernel);
  int64_t settle_watched_if_overlapping(uint64_t first, uint64_t pages);
  // Takes 1 from pages outside memory being forgotten.
  void release_pages(uint64_t first, uint64_t pages);
  // munlock of the first `count` runs (none under whole-process locking).
  void unlock_runs(const std::vector<PageRun>& runs, size_t count);
  // munlock every mapped range but `keep` (sorted): 0, or the first error
  // that is not ENOMEM (a range unmapped meanwhile by another thread).
  int unlock_except(const std::vector<PageRun>& keep, Syscall* failed);
  // Puts back the kernel's locks from before a failed unlock_all, as they were.
  void restore_kernel_locks(const std::vector<platform::LockedRange>& ranges, int flags);
  int lock_run(const PageRun& run, bool on_fault);
  // The madvise hook serves refused releases while lockAll or lockCode needs it.
  void refresh_madvise_hook();
  // munlock of a run part of which is unmapped: 0, or the first other error.
  int unlock_mapped_pages(const PageRun& run, bool strict);
  friend void register_fork_handlers();
  static void before_fork();
  static void after_fork_parent();
  static void after_fork_child();

  std::mutex mu_;
  size_t page_size_;
  PageTable table_;
  uint64_t limit_pages_;
  // vm.max_map_count (read once; 0: unknown, no check) and the mappings
  // memlock leaves free below it (see the constructor).
  const int64_t max_map_count_;
  const int64_t map_margin_;
  // An upper estimate of the process's mappings: the last count read plus
  // what memlock may have added since. It is counted again (a read of
  // /proc/self/maps) only when the estimate passes recount_at_.
  int64_t mappings_ = 0;
  int64_t recount_at_ = 0;
  int lock_all_flags_ = 0;   // while set, no count reaching 0 unlocks a page
  bool guard_code_ = false;  // see guard_code_releases()
  LockRegistry records_;
  struct Note {
    std::string label, stack;
    bool labelled;
  };
  std::unordered_map<int64_t, Note> notes_;  // only locks that have one
  struct Watched {
    PageRun run;
    bool shared;  // a SharedArrayBuffer's: stats() checks it too
  };
  std::vector<Watched> watched_;  // see watch_unmapping(); sorted by first page
  size_t watched_shared_ = 0;
  uint64_t watched_max_pages_ = 0;  // the longest watched run
  // Reused by every call (under mu_), so plans allocate only when they grow.
  LockPlan lock_plan_;
  ReleasePlan release_plan_;
};

}  // namespace memlock
