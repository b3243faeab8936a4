// Where the madvise hook cannot work (every platform but Linux x86_64 and
// aarch64): install() finds no slot, so whole-process locking says ENOSYS.
#include "platform/madvise_hook.h"

namespace memlock {
namespace madvise_hook {
int install() { return 0; }
void set_active(bool, bool) {}
#ifdef MEMLOCK_TESTING
void set_force_fallback(bool) {}
#endif
Counts counts() { return Counts{0, 0, 0}; }
}  // namespace madvise_hook
}  // namespace memlock
