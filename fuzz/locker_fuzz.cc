// Model-based fuzzer for the lock table: random sequences of locks (views
// that start and end mid-page, on fault or not), out-of-order releases,
// unlock of the newest lock on the same bytes, limit changes, forgetting
// unmapped memory, whole-process locking (lockAll / unlockAll), and syscalls
// that fail (part way, for mlock) so that every rollback path runs. After
// each step the Locker is compared with a reference model (one counter per
// page) and the fake kernel's locked / on-fault state with what the model
// says it must be: above all, a counted page is locked in the kernel,
// whatever failed.
// Any divergence aborts, which libFuzzer reports with the input.
// Saturation (65,535 locks of a page) is left to test/native/page_table_model.cc:
// here, once found, it made every mutation of an input cost 65,535 locks.
#include <fuzzer/FuzzedDataProvider.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "../fuzz/fake_kernel.h"
#include "core/locker.h"
#include "core/page_table.h"

using namespace memlock;

namespace {

constexpr uint64_t N = fake::kPages;

struct Held {
  int64_t id;
  uintptr_t addr;
  size_t len;
  uint64_t first, pages;
};

struct Model {
  uint32_t count[N] = {};
  bool on_fault[N] = {};
  uint64_t limit = 1 << 20;
  std::vector<Held> held;  // oldest first
  int lock_all_flags = 0;  // whole-process locking in force (Locker flags)
  // Under whole-process locking the kernel holds pages memlock does not
  // count, and may hold counted ones as the other kind; after a relock that
  // unlockAll absorbed, a counted page's kind is unknown until its count
  // falls to 0.
  bool kind_unknown[N] = {};
};

// FUZZ_TRACE=1 locker_fuzz crash-file: prints each step.
bool tracing() {
  static const bool on = getenv("FUZZ_TRACE") != nullptr;
  return on;
}

[[noreturn]] void diverge(const char* what, uint64_t page = 0) {
  fprintf(stderr, "divergence: %s (page %llu)\n", what, static_cast<unsigned long long>(page));
  abort();
}

void check(Locker& locker, const Model& model) {
  if (!locker.valid()) diverge("table invariants");
  uint16_t counts[N];
  locker.counts(fake::address_of_page(0), N * fake::page_size(), counts);
  uint64_t locked = 0, sticky = 0;
  const fake::Kernel& k = fake::kernel();
  const bool whole = model.lock_all_flags != 0;
  for (uint64_t p = 0; p < N; ++p) {
    if (counts[p] != model.count[p]) diverge("count", p);
    bool expect_locked = model.count[p] > 0;
    if (expect_locked && !k.locked[p]) diverge("a counted page is not locked in the kernel", p);
    if (!whole && !expect_locked && k.locked[p]) diverge("kernel locked state", p);
    if (!whole && expect_locked && !model.kind_unknown[p] && k.on_fault[p] != model.on_fault[p]) {
      diverge("kernel on-fault state", p);
    }
    locked += expect_locked;
    sticky += model.count[p] == kStickyCount;
  }
  if (whole != (locker.lock_all_flags() != 0)) diverge("lock_all flags");
  std::vector<PageRun> missing;
  if (locker.verify(&missing) != static_cast<int64_t>(locked) || !missing.empty()) diverge("verify");
  Stats s = locker.stats();
  if (s.locked_pages != locked) diverge("locked_pages");
  if (s.sticky_pages != sticky) diverge("sticky_pages");
  if (s.held_locks != model.held.size()) diverge("held_locks");
}

// Maybe arms a failure of one of the syscalls the next operation makes.
void maybe_arm(FuzzedDataProvider& in, std::initializer_list<Syscall> syscalls) {
  fake::Kernel& k = fake::kernel();
  k.fired = 0;  // per operation: only a fault armed for this one counts
  if (in.ConsumeIntegralInRange(0, 5) != 0) return;
  k.fail_syscall = syscalls.begin()[in.ConsumeIntegralInRange<size_t>(0, syscalls.size() - 1)];
  k.fail_after = in.ConsumeIntegralInRange(1, 3);
  static const int kErrors[] = {ENOMEM, EAGAIN, EPERM, EINVAL};
  k.fail_errno = kErrors[in.ConsumeIntegralInRange(0, 3)];
  k.fail_partial = in.ConsumeBool();
}

void disarm() { fake::kernel().fail_syscall = Syscall::kNone; }

// Expected effect of a successful lock on the model.
void apply_lock(Model& m, uint64_t first, uint64_t pages, bool on_fault) {
  for (uint64_t p = first; p < first + pages; ++p) {
    if (m.count[p] == 0)
      m.on_fault[p] = on_fault;
    else if (!on_fault)
      m.on_fault[p] = false;
    if (m.count[p] < kStickyCount) m.count[p] += 1;
  }
}

void apply_release(Model& m, uint64_t first, uint64_t pages) {
  for (uint64_t p = first; p < first + pages; ++p) {
    if (m.count[p] != kStickyCount) m.count[p] -= 1;
    if (m.count[p] == 0) {
      m.on_fault[p] = false;
      m.kind_unknown[p] = false;
    }
  }
}

void do_lock_all(Locker& locker, Model& m, FuzzedDataProvider& in) {
  // lockAll's own flags: current, future, on fault; current or future set.
  int flags = in.ConsumeIntegralInRange(1, 7);
  if ((flags & (kLockCurrent | kLockFuture)) == 0) flags |= kLockCurrent;
  maybe_arm(in, {Syscall::kMlockall});
  fake::Kernel before = fake::kernel();
  int rc = locker.lock_all(flags);
  if (tracing()) fprintf(stderr, "lock_all flags=%d -> %d\n", flags, rc);
  int fired = fake::kernel().fired;
  disarm();
  if (rc < 0) {
    if (fired == 0) diverge("lock_all failed without an injected fault");
    if (memcmp(before.locked, fake::kernel().locked, sizeof(before.locked)) != 0 ||
        memcmp(before.on_fault, fake::kernel().on_fault, sizeof(before.on_fault)) != 0) {
      diverge("a refused lock_all changed the kernel");
    }
    return;
  }
  m.lock_all_flags = flags;
}

void do_unlock_all(Locker& locker, Model& m, FuzzedDataProvider& in) {
  // Any of mlock, mlock2, munlock, mlockall may fail, once.
  maybe_arm(in, {Syscall::kMlock, Syscall::kMlock2, Syscall::kMunlock, Syscall::kMlockall});
  fake::kernel().enomem_unmaps = true;
  fake::Kernel before = fake::kernel();
  Syscall failed = Syscall::kNone;
  if (tracing())
    fprintf(stderr, "unlock_all armed syscall=%d after=%d\n", static_cast<int>(fake::kernel().fail_syscall),
            fake::kernel().fail_after);
  int rc = locker.unlock_all(&failed);
  if (tracing()) fprintf(stderr, "  -> %d fired %d\n", rc, fake::kernel().fired);
  const fake::Kernel& k = fake::kernel();
  int fired = k.fired;
  Syscall armed_syscall = before.fail_syscall;
  disarm();
  fake::kernel().enomem_unmaps = false;
  if (rc < 0) {
    // Refused: nothing changed, MCL_FUTURE included.
    if (fired == 0) diverge("unlock_all failed without an injected fault");
    if (memcmp(before.locked, k.locked, sizeof(before.locked)) != 0 ||
        memcmp(before.on_fault, k.on_fault, sizeof(before.on_fault)) != 0 || before.future != k.future) {
      diverge("a refused unlock_all changed the kernel");
    }
    return;
  }
  if (k.future) diverge("MCL_FUTURE still set after unlock_all");
  m.lock_all_flags = 0;
  // A refused relock is absorbed: counted pages stay locked (check() makes
  // sure), of either kind.
  if (fired > 0 && (armed_syscall == Syscall::kMlock || armed_syscall == Syscall::kMlock2)) {
    for (uint64_t p = 0; p < N; ++p) m.kind_unknown[p] = m.count[p] > 0;
  } else if (fired > 0 && !(armed_syscall == Syscall::kMunlock && before.fail_errno == ENOMEM)) {
    diverge("unlock_all succeeded although a syscall failed");
  }
}

void do_lock(Locker& locker, Model& m, FuzzedDataProvider& in, const void* owner) {
  uint64_t first = in.ConsumeIntegralInRange<uint64_t>(0, N - 1);
  uint64_t pages = in.ConsumeIntegralInRange<uint64_t>(1, std::min<uint64_t>(12, N - first));
  size_t head = in.ConsumeIntegralInRange<size_t>(0, fake::page_size() - 1);
  size_t tail = in.ConsumeIntegralInRange<size_t>(0, fake::page_size() - 1);
  if (pages == 1 && head + tail >= fake::page_size()) tail = fake::page_size() - 1 - head;
  uintptr_t addr = fake::address_of_page(first) + head;
  size_t len = pages * fake::page_size() - head - tail;
  bool on_fault = in.ConsumeBool();
  maybe_arm(in, {Syscall::kMlock, Syscall::kMlock2, Syscall::kMunlock});

  uint64_t new_pages = 0, locked_now = 0;
  for (uint64_t p = 0; p < N; ++p) locked_now += m.count[p] > 0;
  for (uint64_t p = first; p < first + pages; ++p) new_pages += m.count[p] == 0;
  bool over_limit = new_pages > 0 && locked_now + new_pages > m.limit;

  const fake::Kernel& k = fake::kernel();
  if (tracing()) {
    fprintf(stderr, "lock pages %llu+%llu on_fault=%d armed syscall=%d after=%d errno=%d partial=%d\n",
            static_cast<unsigned long long>(first), static_cast<unsigned long long>(pages), on_fault,
            static_cast<int>(k.fail_syscall), k.fail_after, k.fail_errno, k.fail_partial);
  }
  LockOutcome out = locker.lock(owner, addr, len, on_fault, static_cast<uint32_t>(m.held.size()));
  int fired = fake::kernel().fired;
  if (tracing()) fprintf(stderr, "  -> id %lld fired %d\n", static_cast<long long>(out.id), fired);
  disarm();
  if (over_limit) {
    if (out.id != kLimitExceeded) diverge("limit not enforced", first);
    return;
  }
  if (out.id < 0) {
    if (fired == 0 || out.id != -fake::kernel().fail_errno) diverge("failure without an injected fault", first);
    return;  // all or nothing: the model is unchanged, check() proves the rest
  }
  if (fired != 0) {
    // An injected failure of a call the lock made must fail the lock.
    diverge("lock succeeded although a syscall failed", first);
  }
  apply_lock(m, first, pages, on_fault);
  m.held.push_back(Held{out.id, addr, len, first, pages});
}

void do_release(Locker& locker, Model& m, FuzzedDataProvider& in, const void* owner, bool newest_on_bytes) {
  if (m.held.empty()) return;
  size_t index = in.ConsumeIntegralInRange<size_t>(0, m.held.size() - 1);
  if (newest_on_bytes) {
    // unlock(view): the newest lock on exactly the same bytes.
    for (size_t i = m.held.size(); i-- > 0;) {
      if (m.held[i].addr == m.held[index].addr && m.held[i].len == m.held[index].len) {
        index = i;
        break;
      }
    }
  }
  Held h = m.held[index];
  maybe_arm(in, {Syscall::kMlock, Syscall::kMlock2, Syscall::kMunlock});
  ReleaseOutcome out = newest_on_bytes ? locker.release_latest(owner, h.addr, h.len) : locker.release(owner, h.id);
  int fired = fake::kernel().fired;
  disarm();
  if (out.status < 0) {
    if (fired == 0) diverge("release failed without an injected fault", h.first);
    return;  // still held, nothing changed
  }
  if (out.status != 0 || out.id != h.id) diverge("released the wrong lock", h.first);
  apply_release(m, h.first, h.pages);
  m.held.erase(m.held.begin() + static_cast<long>(index));
}

// The model of memory that was unmapped: every count on it goes, every lock
// touching it too, and such a lock's pages outside it lose its count; the
// kernel has none of it locked any more.
void model_forget(Model& m, uint64_t first, uint64_t pages) {
  std::vector<Held> kept;
  for (const Held& h : m.held) {
    bool touches = h.first < first + pages && first < h.first + h.pages;
    if (!touches) {
      kept.push_back(h);
      continue;
    }
    for (uint64_t p = h.first; p < h.first + h.pages; ++p) {
      if (p >= first && p < first + pages) continue;
      apply_release(m, p, 1);
    }
  }
  m.held = kept;
  for (uint64_t p = first; p < first + pages; ++p) {
    m.count[p] = 0;
    m.on_fault[p] = false;
    m.kind_unknown[p] = false;
    fake::kernel().locked[p] = false;  // the unmap unlocks them
    fake::kernel().on_fault[p] = false;
  }
}

void do_forget(Locker& locker, Model& m, FuzzedDataProvider& in) {
  // Memory memlock unmaps: every count on it goes, and every lock touching it.
  uint64_t first = in.ConsumeIntegralInRange<uint64_t>(0, N - 1);
  uint64_t pages = in.ConsumeIntegralInRange<uint64_t>(1, std::min<uint64_t>(4, N - first));
  locker.forget(fake::address_of_page(first), pages * fake::page_size());
  model_forget(m, first, pages);
}

void do_unmapped_behind(Locker& locker, Model& m, FuzzedDataProvider& in) {
  // Watched memory (a worker's code, a shared buffer whose thread exited)
  // that someone else unmaps: the kernel unlocks it, and memlock, checking
  // its account (settle_watched, or verify), drops its counts as forget()
  // would; the rest of the watched run keeps its counts.
  uint64_t first = in.ConsumeIntegralInRange<uint64_t>(0, N - 1);
  uint64_t pages = in.ConsumeIntegralInRange<uint64_t>(1, std::min<uint64_t>(8, N - first));
  locker.watch_unmapping(fake::address_of_page(first), pages * fake::page_size(), in.ConsumeBool());
  uint64_t gone = first + in.ConsumeIntegralInRange<uint64_t>(0, pages - 1);
  uint64_t gone_pages = in.ConsumeIntegralInRange<uint64_t>(1, first + pages - gone);
  for (uint64_t p = gone; p < gone + gone_pages; ++p) {
    fake::kernel().locked[p] = false;
    fake::kernel().on_fault[p] = false;
  }
  if (in.ConsumeBool()) {
    locker.settle_watched();
  } else {
    std::vector<PageRun> missing;
    locker.verify(&missing);
    if (!missing.empty()) diverge("verify after settling", gone);
  }
  model_forget(m, gone, gone_pages);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fake::reset();
  Locker locker;
  Model model;
  static const char owner = 0;
  FuzzedDataProvider in(data, size);
  while (in.remaining_bytes() > 0) {
    switch (in.ConsumeIntegralInRange(0, 16)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
        do_lock(locker, model, in, &owner);
        break;
      case 6:
      case 7:
      case 8:
      case 9:
        do_release(locker, model, in, &owner, false);
        break;
      case 10:
      case 11:
        do_release(locker, model, in, &owner, true);
        break;
      case 12:
        model.limit = in.ConsumeIntegralInRange<uint64_t>(0, N + 4);
        locker.set_limit(model.limit);
        break;
      case 13:
        do_forget(locker, model, in);
        break;
      case 14:
        do_lock_all(locker, model, in);
        break;
      case 15:
        do_unlock_all(locker, model, in);
        break;
      case 16:
        do_unmapped_behind(locker, model, in);
        break;
      default:
        break;
    }
    check(locker, model);
  }
  // Releasing everything leaves nothing locked but sticky pages.
  while (!model.held.empty()) {
    Held h = model.held.back();
    if (locker.release(&owner, h.id).status != 0) diverge("final release", h.first);
    apply_release(model, h.first, h.pages);
    model.held.pop_back();
    check(locker, model);
  }
  return 0;
}
