#include "platform/fault_injection.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace memlock {
namespace fault {
namespace {
std::atomic<int> armed_syscall{0}, remaining{0}, armed_error{0}, fired_count{0};  // armed_syscall: a Syscall
}  // namespace

void arm(Syscall syscall, int nth, int error) {
  armed_error.store(error);
  remaining.store(nth);
  fired_count.store(0);
  armed_syscall.store(static_cast<int>(syscall));
}

void disarm() { armed_syscall.store(0); }

int fired() { return fired_count.load(); }

int take(Syscall syscall) {
  if (armed_syscall.load(std::memory_order_relaxed) != static_cast<int>(syscall)) return 0;
  if (remaining.fetch_sub(1) != 1) return 0;
  armed_syscall.store(0);
  fired_count.fetch_add(1);
  return armed_error.load();
}

bool v8_sandbox_forced() {
  static const bool forced = [] {
    const char* value = std::getenv("MEMLOCK_TEST_V8_SANDBOX");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  return forced;
}

}  // namespace fault
}  // namespace memlock
