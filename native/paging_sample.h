// What the paging monitor samples on every check of the event loop: the
// calling thread's faults and scheduler times, the process's faults, and the
// memory PSI totals. Plain C++ and syscalls, no N-API. Linux only.
#pragma once

namespace memlock {
namespace paging {

// Slots of the Float64Array pagingSample() fills (src/paging-monitor.ts
// reads them by these indices; binding.ts exports the count). NaN where a
// figure is not available here.
enum Slot : int {
  kThreadMajor = 0,   // getrusage(RUSAGE_THREAD) ru_majflt
  kThreadMinor,       // ru_minflt
  kThreadCpuUs,       // ru_utime + ru_stime
  kThreadVoluntary,   // ru_nvcsw: the thread slept (a page-in, I/O, a lock, an idle loop)
  kThreadInvoluntary, // ru_nivcsw: the thread was preempted
  kRunNs,             // /proc/thread-self/schedstat: time on a CPU
  kWaitNs,            //   and time runnable, waiting for a CPU
  kProcessMajor,      // getrusage(RUSAGE_SELF)
  kProcessMinor,
  kSomeTotalUs,       // memory PSI "some" total
  kFullTotalUs,       //   and "full" total
  kTimeMs,            // CLOCK_MONOTONIC, the clock performance.now() counts on
  kSlotCount
};

double monotonic_ms();

// Fills out[0..kSlotCount). sched_fd: an open /proc/thread-self/schedstat of
// the calling thread, or -1; psi_fd: an open memory pressure file, or -1.
void take_sample(int sched_fd, int psi_fd, double* out);

// The "total=" of the "some" and "full" lines of a pressure file's text.
bool parse_pressure_totals(const char* text, double* some_us, double* full_us);

// Reads a pressure file from offset 0 (pread: the fd may be a trigger's).
bool read_pressure_totals(int fd, double* some_us, double* full_us);

}  // namespace paging
}  // namespace memlock
