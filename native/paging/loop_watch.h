// Event-loop stalls, seen from the loop itself: a libuv prepare handle runs
// just before each poll for I/O, and a loop iteration whose busy time (its
// wall time less the time idle in poll) is over the threshold is a stall.
// Costs nothing while the loop is idle (no timer, no wakeup) and two clock
// reads per iteration; the full paging sample (paging_sample.h) is taken at
// most every `sample_every_ms` while the loop iterates, and at each stall.
//
// The PSI totals are read at most every kPsiEveryMs, and at each stall: a
// read of a pressure file that comes when the group's 2 s averaging is due
// does that averaging without evaluating the group's unprivileged triggers,
// so that period's trigger event is lost (kernel/sched/psi.c, psi_show
// against psi_avgs_work). Read every 10 ms, ours and everyone else's
// triggers on the group stopped firing for seconds here.
// libuv only, no N-API; runs on the loop's own thread.
#pragma once

#include <uv.h>

#include "paging/paging_sample.h"

namespace memlock {
namespace paging {

constexpr double kPsiEveryMs = 500;

struct StallWindow {
  double start_ms;      // CLOCK_MONOTONIC of `before`: the last sample before the stall
  double end_ms;        //   and of `after`, taken as the stall ended
  double psi_start_ms;  // when the PSI totals in `before` were read (up to kPsiEveryMs earlier)
  double busy_ms;       // the stalled iteration's busy time
  double idle_ms;       // time idle in poll between the two samples
  double before[kSlotCount];
  double after[kSlotCount];
};

class LoopWatch {
 public:
  // deliver() runs on the loop's thread, inside the prepare callback; it must
  // not call into JavaScript there (queue the window instead).
  using Deliver = void (*)(void* context, const StallWindow& window);

  // Watches `loop`, which must have UV_METRICS_IDLE_TIME configured (node
  // configures it for the main thread's loop and every worker's). Duplicates
  // sched_fd and psi_fd (either may be -1). 0, or -errno.
  static int start(uv_loop_t* loop, double threshold_ms, double sample_every_ms, int sched_fd, int psi_fd,
                   Deliver deliver, void* context, LoopWatch** out);

  // Stops at once; the handle closes asynchronously, after which this object
  // frees itself and calls done(arg) (if given). Call once, on the loop's thread.
  void close(void (*done)(void*), void* arg);

  LoopWatch(const LoopWatch&) = delete;
  LoopWatch& operator=(const LoopWatch&) = delete;

 private:
  LoopWatch() = default;
  ~LoopWatch();
  static void on_prepare(uv_prepare_t* handle);
  static void on_close(uv_handle_t* handle);
  void check();

  uv_prepare_t prepare_{};
  uv_loop_t* loop_ = nullptr;
  uint64_t threshold_ns_ = 0;
  uint64_t sample_every_ns_ = 0;
  int sched_fd_ = -1;
  int psi_fd_ = -1;
  Deliver deliver_ = nullptr;
  void* context_ = nullptr;
  void (*done_)(void*) = nullptr;
  void* done_arg_ = nullptr;
  // The previous prepare, and the last full sample.
  uint64_t last_ns_ = 0;
  uint64_t last_idle_ns_ = 0;
  uint64_t sample_ns_ = 0;
  uint64_t sample_idle_ns_ = 0;
  double sample_[kSlotCount] = {};
  // The last PSI totals read, and when (they are copied into every sample).
  uint64_t psi_ns_ = 0;
  double psi_ms_ = 0;
  double psi_some_ = 0;
  double psi_full_ = 0;
  void take(double* out, bool stall);
};

}  // namespace paging
}  // namespace memlock
