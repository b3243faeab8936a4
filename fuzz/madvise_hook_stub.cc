// The fuzzer has no V8 to protect: the hook's interface, doing nothing.
#include "platform/madvise_hook.h"

namespace memlock {
namespace madvise_hook {
int install() { return 1; }
void set_active(bool, bool) {}
void set_force_fallback(bool) {}
Counts counts() { return Counts{0, 0, 0}; }
}  // namespace madvise_hook
}  // namespace memlock
