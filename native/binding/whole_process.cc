// Whole-process locking: lockAll / unlockAll over the Locker, and the
// madvise hook's figures.
#include "binding/families.h"
#include "core/locker.h"
#include "platform/madvise_hook.h"

namespace memlock {
namespace {

// lockAll(flags: 1 current | 2 future | 4 on fault) -> 0 | -errno
Napi::Value LockAll(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locker::instance().lock_all(info[0].As<Napi::Number>().Int32Value()));
}

// unlockAll() -> 0 | -errno (nothing changed); the failed Syscall in scratch
// (kNone: /proc/self/maps could not be read)
Napi::Value UnlockAll(const Napi::CallbackInfo& info) {
  Syscall failed = Syscall::kNone;
  int rc = Locker::instance().unlock_all(&failed);
  StateOf(info.Env())->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(failed));
  return Napi::Number::New(info.Env(), rc);
}

Napi::Value LockAllFlags(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locker::instance().lock_all_flags());
}

// How often the madvise hook turned a refused page release into a success.
Napi::Value MadviseHookCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  madvise_hook::Counts c = madvise_hook::counts();
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("retriedLocked", Napi::Number::New(env, static_cast<double>(c.retried_locked)));
  obj.Set("retriedUnlock", Napi::Number::New(env, static_cast<double>(c.retried_unlock)));
  obj.Set("failed", Napi::Number::New(env, static_cast<double>(c.failed)));
  return obj;
}

}  // namespace

void register_whole_process(Napi::Env env, Napi::Object exports) {
  exports.Set("lockAll", Napi::Function::New(env, LockAll, "lockAll"));
  exports.Set("unlockAll", Napi::Function::New(env, UnlockAll, "unlockAll"));
  exports.Set("lockAllFlags", Napi::Function::New(env, LockAllFlags, "lockAllFlags"));
  exports.Set("madviseHookCounts", Napi::Function::New(env, MadviseHookCounts, "madviseHookCounts"));
}

}  // namespace memlock
