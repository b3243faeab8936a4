// What the paging monitor samples on every check of the event loop: the
// calling thread's faults and scheduler times, the process's faults, and the
// memory PSI totals. Plain C++ and syscalls, no N-API. Linux only.
#pragma once

#include "core/shared_numbers.h"

namespace memlock {
namespace paging {

// The sample's slots (enum Slot) are in shared_numbers.h, shared with
// src/paging/paging-monitor.ts.

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
