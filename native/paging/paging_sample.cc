#include "paging/paging_sample.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace memlock {
namespace paging {

double monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

namespace {

double micros(const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e6 + static_cast<double>(tv.tv_usec); }

// pread into a fixed buffer: proc files are generated anew on every read
// from offset 0, so one fd serves every sample.
ssize_t read_at_zero(int fd, char* buf, size_t size) {
  ssize_t n = pread(fd, buf, size - 1, 0);
  buf[n > 0 ? n : 0] = '\0';
  return n;
}

double total_after(const char* line) {
  const char* total = strstr(line, "total=");
  return total == nullptr ? NAN : strtod(total + 6, nullptr);
}

}  // namespace

bool parse_pressure_totals(const char* text, double* some_us, double* full_us) {
  const char* some = strstr(text, "some ");
  const char* full = strstr(text, "full ");
  *some_us = some == nullptr ? NAN : total_after(some);
  // A kernel before 5.13 has no "full" line for cpu; memory always has one.
  *full_us = full == nullptr ? NAN : total_after(full);
  return !std::isnan(*some_us);
}

bool read_pressure_totals(int fd, double* some_us, double* full_us) {
  char text[256];
  if (read_at_zero(fd, text, sizeof(text)) <= 0) {
    *some_us = *full_us = NAN;
    return false;
  }
  return parse_pressure_totals(text, some_us, full_us);
}

void take_sample(int sched_fd, int psi_fd, double* out) {
  for (int i = 0; i < kSlotCount; i++) out[i] = NAN;
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) == 0) {
    out[kThreadMajor] = static_cast<double>(usage.ru_majflt);
    out[kThreadMinor] = static_cast<double>(usage.ru_minflt);
    out[kThreadCpuUs] = micros(usage.ru_utime) + micros(usage.ru_stime);
    out[kThreadVoluntary] = static_cast<double>(usage.ru_nvcsw);
    out[kThreadInvoluntary] = static_cast<double>(usage.ru_nivcsw);
  }
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    out[kProcessMajor] = static_cast<double>(usage.ru_majflt);
    out[kProcessMinor] = static_cast<double>(usage.ru_minflt);
  }
  if (sched_fd >= 0) {
    // "<run ns> <wait ns> <timeslices>"
    char text[96];
    if (read_at_zero(sched_fd, text, sizeof(text)) > 0) {
      char* end = nullptr;
      double run = strtod(text, &end);
      if (end != text) {
        out[kRunNs] = run;
        out[kWaitNs] = strtod(end, nullptr);
      }
    }
  }
  if (psi_fd >= 0) read_pressure_totals(psi_fd, &out[kSomeTotalUs], &out[kFullTotalUs]);
  out[kTimeMs] = monotonic_ms();
}

}  // namespace paging
}  // namespace memlock
