#include "paging/psi_monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>

#include "paging/paging_sample.h"

// glibc 2.32 and 2.34 moved these from libpthread into libc under new
// versions, which a build on a current distribution would require. Their
// first versions, still in every glibc (and in the libpthread that node
// loads before 2.34), keep the addon loadable wherever official node loads
// (glibc 2.28).
#if defined(__GLIBC__) && defined(__x86_64__)
__asm__(".symver pthread_create,pthread_create@GLIBC_2.2.5");
__asm__(".symver pthread_join,pthread_join@GLIBC_2.2.5");
__asm__(".symver pthread_attr_setstacksize,pthread_attr_setstacksize@GLIBC_2.2.5");
__asm__(".symver pthread_sigmask,pthread_sigmask@GLIBC_2.2.5");
__asm__(".symver pthread_setname_np,pthread_setname_np@GLIBC_2.12");
#elif defined(__GLIBC__) && defined(__aarch64__)
__asm__(".symver pthread_create,pthread_create@GLIBC_2.17");
__asm__(".symver pthread_join,pthread_join@GLIBC_2.17");
__asm__(".symver pthread_attr_setstacksize,pthread_attr_setstacksize@GLIBC_2.17");
__asm__(".symver pthread_sigmask,pthread_sigmask@GLIBC_2.17");
__asm__(".symver pthread_setname_np,pthread_setname_np@GLIBC_2.17");
#endif

namespace memlock {
namespace psi {

namespace {

// The thread only polls and reads a few hundred bytes. A small stack keeps
// it cheap under lockAll({ future: true }), which faults in and locks every
// new thread's whole stack (8 MiB by default).
size_t stack_size() {
  long minimum = sysconf(_SC_THREAD_STACK_MIN);
  size_t wanted = 64 * 1024;
  return minimum > 0 && static_cast<size_t>(minimum) > wanted ? static_cast<size_t>(minimum) : wanted;
}

// A FIFO's bytes carry no meaning, only the wake: drain them.
void drain(int fd) {
  char buf[256];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

}  // namespace

int Watcher::start(int fd, bool trigger, const int* counter_fds, int counters, Deliver deliver, void* context,
                   Watcher** out) {
  if (counters < 0 || counters > kMaxCounters || (fd < 0 && counters == 0)) return -EINVAL;
  Watcher* w = new Watcher();
  w->trigger_ = trigger;
  w->deliver_ = deliver;
  w->context_ = context;
  bool duplicated = true;
  if (fd >= 0) {
    w->fd_ = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    duplicated = w->fd_ >= 0;
  }
  for (int i = 0; duplicated && i < counters; ++i) {
    w->counter_fds_[i] = fcntl(counter_fds[i], F_DUPFD_CLOEXEC, 0);
    duplicated = w->counter_fds_[i] >= 0;
    w->counters_ = i + 1;
  }
  w->wake_fd_ = duplicated ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
  if (w->wake_fd_ < 0) {
    int err = errno;
    delete w;  // closes the duplicate, if made
    return -err;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_size());
  // Signals go to node's threads, never to this one: it starts with all blocked.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  int rc = pthread_create(&w->thread_, &attr, &Watcher::run, w);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    delete w;
    return -rc;
  }
  // Named here rather than by the thread, so it is named as soon as it exists.
  pthread_setname_np(w->thread_, "memlock-psi");
  w->running_ = true;
  *out = w;
  return 0;
}

void* Watcher::run(void* self) {
  static_cast<Watcher*>(self)->loop();
  return nullptr;
}

// After a counter wake is delivered, the counters rest this long: the
// kernel keeps counting in the eventfds meanwhile, and the next read
// returns the sum. Under reclaim, cgroup v1 signals a pressure level many
// times a second; delivering each would queue events (and their reads of
// the cgroup's files) faster than a busy JavaScript thread takes them, in
// the very cgroup that is short of memory.
constexpr double kCounterRestMs = 100;

void Watcher::loop() {
  const short events = trigger_ ? POLLPRI : POLLIN;
  double counters_rest_until = 0;
  for (;;) {
    // poll() skips a negative fd: fd_ is -1 when only counters are watched.
    pollfd fds[2 + kMaxCounters] = {{wake_fd_, POLLIN, 0}, {fd_, events, 0}};
    for (int i = 0; i < counters_; ++i) fds[2 + i] = {counter_fds_[i], POLLIN, 0};
    const double rest = counters_rest_until - paging::monotonic_ms();
    const bool resting = counters_ > 0 && rest > 0;
    const int timeout = resting ? static_cast<int>(std::ceil(rest)) : -1;
    if (poll(fds, static_cast<nfds_t>(2 + (resting ? 0 : counters_)), timeout) < 0) {
      if (errno == EINTR) continue;
      deliver_(context_, Wake{paging::monotonic_ms(), NAN, NAN, errno, -1, 0});
      return;
    }
    if (fds[0].revents != 0) return;  // stop()
    for (int i = 0; i < counters_; ++i) {
      if (fds[2 + i].revents == 0) continue;
      // An eventfd's read returns its count and resets it (EAGAIN: a
      // spurious wake). It never hangs up: a cgroup's removal signals it.
      uint64_t count = 0;
      if (read(counter_fds_[i], &count, sizeof(count)) == static_cast<ssize_t>(sizeof(count))) {
        deliver_(context_, Wake{paging::monotonic_ms(), NAN, NAN, 0, i, static_cast<double>(count)});
        counters_rest_until = paging::monotonic_ms() + kCounterRestMs;
      }
    }
    const short got = fds[1].revents;
    if (got == 0) continue;
    Wake wake{paging::monotonic_ms(), NAN, NAN, 0, -1, 0};
    // The kernel reports a trigger whose cgroup was removed as POLLERR; a
    // FIFO left without writers hangs up. Either way the watch is over.
    if (got & (POLLERR | POLLNVAL | POLLHUP)) {
      wake.error = (got & POLLNVAL) ? EBADF : trigger_ ? ENODEV : EPIPE;
      deliver_(context_, wake);
      if (counters_ == 0) return;
      // The counters are a watch of their own: they go on without it.
      close(fd_);
      fd_ = -1;
      continue;
    }
    if (trigger_) {
      paging::read_pressure_totals(fd_, &wake.some_us, &wake.full_us);
    } else {
      drain(fd_);
    }
    deliver_(context_, wake);
  }
}

void Watcher::stop() {
  if (running_) {
    uint64_t one = 1;
    // Cannot fail short of a bad fd: the counter is far from overflowing.
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
    pthread_join(thread_, nullptr);
    running_ = false;
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (fd_ >= 0) close(fd_);
  for (int i = 0; i < counters_; ++i)
    if (counter_fds_[i] >= 0) close(counter_fds_[i]);
  counters_ = 0;
  wake_fd_ = fd_ = -1;
}

}  // namespace psi
}  // namespace memlock
