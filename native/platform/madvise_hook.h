// Makes the page releases V8 does succeed on locked memory.
//
// V8 frees heap pages with mprotect(PROT_NONE) and madvise(MADV_DONTNEED or
// MADV_FREE) and CHECKs that madvise succeeded. On a locked range the kernel
// refuses both with EINVAL, so under mlockall Node aborts ("Check failed:
// 0 == ret" in v8::base::OS::SetPermissions) in the GC's unmapper, at worker
// exit and at process exit. This hook patches the GOT slot through which the
// node executable (and any other loaded object) calls madvise, and retries a
// refused release as MADV_DONTNEED_LOCKED (Linux >= 5.18), which drops the
// pages and keeps the range locked. On older kernels it unlocks the range,
// releases it and locks it again. Outside whole-process locking it passes
// every call straight through.
#pragma once

#include <cstdint>

namespace memlock {
namespace madvise_hook {

// Patches every loaded object's madvise slot but this addon's; idempotent.
// Returns the number of slots that now point at the hook; 0 when it cannot
// work: an architecture whose relocations it does not know (x86_64 and
// aarch64 only), or no slot in the object that holds node and V8.
// The caller holds the Locker's mutex (Locker::lock_all is the only one):
// that serialises it, so the hook needs no mutex of its own and memlock's
// process-wide mutexes stay the two that fork() handles (locker.h).
int install();
// While active, refused releases are retried; on_fault says how to lock a
// range again on the fallback path.
void set_active(bool active, bool on_fault);

#ifdef MEMLOCK_TESTING
// The testing build: behave as on a kernel without MADV_DONTNEED_LOCKED (< 5.18).
void set_force_fallback(bool on);
#endif

struct Counts {
  uint64_t retried_locked;  // served by MADV_DONTNEED_LOCKED
  uint64_t retried_unlock;  // served by munlock + madvise + mlock (old kernels)
  uint64_t failed;          // still refused: returned to the caller
};
Counts counts();

}  // namespace madvise_hook
}  // namespace memlock
