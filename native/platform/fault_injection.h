// Makes one platform call fail on demand, in test builds only (compiled with
// MEMLOCK_TESTING; native/testing/fault_injection.cc): "the Nth call of syscall S
// returns -E". Checks that every public call either succeeds or fails with
// its documented error and changes nothing.
#pragma once

#include "core/shared_numbers.h"

namespace memlock {
namespace fault {

// Arms: the `nth` call (1 = the next) of `syscall` fails with `error` (> 0).
void arm(Syscall syscall, int nth, int error);
void disarm();
// How many injected failures fired since the last arm().
int fired();
// 0 to go on with the real call, or the errno to fail with.
int take(Syscall syscall);
// Whether N-API is to refuse external buffers as V8's sandbox does
// (napi_no_external_buffers_allowed): MEMLOCK_TEST_V8_SANDBOX=1 in the
// environment, read once; binding/cage_buffers.h injects it.
bool v8_sandbox_forced();

}  // namespace fault
}  // namespace memlock

#ifdef MEMLOCK_TESTING
#define MEMLOCK_INJECT(syscall)                            \
  do {                                                     \
    if (int injected_ = ::memlock::fault::take(syscall)) { \
      errno = injected_;                                   \
      return -injected_;                                   \
    }                                                      \
  } while (0)
#else
#define MEMLOCK_INJECT(syscall) \
  do {                          \
  } while (0)
#endif
