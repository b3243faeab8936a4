#include "paging/loop_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace memlock {
namespace paging {

namespace {

int dup_or_none(int fd) { return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0); }

}  // namespace

int LoopWatch::start(uv_loop_t* loop, double threshold_ms, double sample_every_ms, int sched_fd, int psi_fd,
                     Deliver deliver, void* context, LoopWatch** out) {
  LoopWatch* w = new LoopWatch();
  w->loop_ = loop;
  w->threshold_ns_ = static_cast<uint64_t>(threshold_ms * 1e6);
  w->sample_every_ns_ = static_cast<uint64_t>(sample_every_ms * 1e6);
  w->deliver_ = deliver;
  w->context_ = context;
  // Our own duplicates: node closes, at a worker's exit, the fds the worker
  // opened through fs, possibly before this handle's last callback.
  w->sched_fd_ = dup_or_none(sched_fd);
  w->psi_fd_ = dup_or_none(psi_fd);
  if ((sched_fd >= 0 && w->sched_fd_ < 0) || (psi_fd >= 0 && w->psi_fd_ < 0)) {
    int err = errno;
    delete w;
    return -err;
  }
  int rc = uv_prepare_init(loop, &w->prepare_);
  if (rc != 0) {
    delete w;
    return rc;  // libuv errors are -errno on Linux
  }
  w->prepare_.data = w;
  uv_prepare_start(&w->prepare_, &LoopWatch::on_prepare);
  // Never keeps the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->prepare_));
  w->last_ns_ = w->sample_ns_ = uv_hrtime();
  w->last_idle_ns_ = w->sample_idle_ns_ = uv_metrics_idle_time(loop);
  w->take(w->sample_, true);
  *out = w;
  return 0;
}

// A full sample; the PSI totals only when due (or for a stall), else the last ones read.
void LoopWatch::take(double* out, bool stall) {
  const uint64_t now = uv_hrtime();
  const bool psi = psi_fd_ >= 0 && (stall || now - psi_ns_ >= static_cast<uint64_t>(kPsiEveryMs * 1e6));
  take_sample(sched_fd_, psi ? psi_fd_ : -1, out);
  if (psi) {
    psi_ns_ = now;
    psi_ms_ = out[kTimeMs];
    psi_some_ = out[kSomeTotalUs];
    psi_full_ = out[kFullTotalUs];
  } else if (psi_fd_ >= 0) {
    out[kSomeTotalUs] = psi_some_;
    out[kFullTotalUs] = psi_full_;
  }
}

LoopWatch::~LoopWatch() {
  if (sched_fd_ >= 0) ::close(sched_fd_);
  if (psi_fd_ >= 0) ::close(psi_fd_);
}

void LoopWatch::on_prepare(uv_prepare_t* handle) { static_cast<LoopWatch*>(handle->data)->check(); }

void LoopWatch::check() {
  const uint64_t now = uv_hrtime();
  const uint64_t idle = uv_metrics_idle_time(loop_);
  const uint64_t wall = now - last_ns_;
  const uint64_t idled = idle - last_idle_ns_;
  const uint64_t busy = wall > idled ? wall - idled : 0;
  last_ns_ = now;
  last_idle_ns_ = idle;
  if (busy > threshold_ns_) {
    StallWindow window{};
    std::memcpy(window.before, sample_, sizeof(sample_));
    window.psi_start_ms = psi_ms_;
    take(window.after, true);
    window.start_ms = sample_[kTimeMs];
    window.end_ms = window.after[kTimeMs];
    window.busy_ms = static_cast<double>(busy) / 1e6;
    window.idle_ms = static_cast<double>(idle - sample_idle_ns_) / 1e6;
    std::memcpy(sample_, window.after, sizeof(sample_));
    sample_ns_ = now;
    sample_idle_ns_ = idle;
    deliver_(context_, window);
  } else if (now - sample_ns_ >= sample_every_ns_) {
    take(sample_, false);
    sample_ns_ = now;
    sample_idle_ns_ = idle;
  }
}

void LoopWatch::close(void (*done)(void*), void* arg) {
  done_ = done;
  done_arg_ = arg;
  uv_prepare_stop(&prepare_);
  // Stopped, so nothing samples again: the fds go now, not a loop turn
  // later, so that close() in JavaScript gives back every fd before it returns.
  if (sched_fd_ >= 0) ::close(sched_fd_);
  if (psi_fd_ >= 0) ::close(psi_fd_);
  sched_fd_ = psi_fd_ = -1;
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), &LoopWatch::on_close);
}

void LoopWatch::on_close(uv_handle_t* handle) {
  LoopWatch* w = static_cast<LoopWatch*>(handle->data);
  void (*done)(void*) = w->done_;
  void* arg = w->done_arg_;
  delete w;
  if (done != nullptr) done(arg);
}

}  // namespace paging
}  // namespace memlock
