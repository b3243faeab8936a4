// Waits for memory pressure off the JavaScript thread: one thread per
// watcher, polling a PSI trigger fd (POLLPRI) or a systemd pressure FIFO
// (POLLIN), and/or counter eventfds (a cgroup v1 memory.pressure_level or
// memory.oom_control registration: POLLIN, the count read), plus an eventfd
// that stop() uses to wake it. Plain C++, no N-API:
// what each wake becomes in JavaScript is psi_binding.cc's business.
//
// Fork safety: the thread holds no mutex of memlock's (it takes none at all),
// so a fork() from any thread never finds one held on its behalf. A forked
// child has no watcher thread; it never runs JavaScript, and _exit skips
// destructors, so nothing there tries to join it.
#pragma once

#include <pthread.h>

namespace memlock {
namespace psi {

struct Wake {
  double time_ms;  // CLOCK_MONOTONIC when poll() returned
  double some_us;  // the file's PSI totals read right then; NaN for a FIFO
  double full_us;
  int error;  // 0, or an errno: the watch has ended (the cgroup was removed, ...)
  // -1 for the pressure fd; else which counter eventfd fired, and the count
  // read from it (the kernel's signals since the last read).
  int counter;
  double count;
};

constexpr int kMaxCounters = 8;

class Watcher {
 public:
  // deliver() runs on the watcher thread, once per wake; it must not block.
  using Deliver = void (*)(void* context, const Wake& wake);

  // Starts a thread watching a duplicate of fd (a PSI trigger when
  // `trigger`, else a FIFO): 0, or -errno. The caller keeps fd and closes it
  // as usual; the kernel keeps a trigger while any duplicate is open. (Node
  // closes at a worker's exit every fd the worker opened through fs and did
  // not close: a watcher that took over such an fd would see it closed twice.)
  // fd may be -1 (counters only); counter_fds (at most kMaxCounters) are
  // duplicated the same way.
  static int start(int fd, bool trigger, const int* counter_fds, int counters, Deliver deliver, void* context,
                   Watcher** out);

  // Wakes the thread, joins it and closes the fds. Idempotent. Never call it
  // from deliver().
  void stop();
  ~Watcher() { stop(); }

  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

 private:
  Watcher() = default;
  static void* run(void* self);
  void loop();

  int fd_ = -1;
  int wake_fd_ = -1;
  int counter_fds_[kMaxCounters] = {-1, -1, -1, -1, -1, -1, -1, -1};
  int counters_ = 0;
  bool trigger_ = true;
  Deliver deliver_ = nullptr;
  void* context_ = nullptr;
  pthread_t thread_{};
  bool running_ = false;
};

}  // namespace psi
}  // namespace memlock
