// The addon's entry: each environment's state and its teardown, the numbers
// and platform features shared with TypeScript, and the registration of
// every family of exports (families.h).
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "binding/cage_buffers.h"
#include "binding/families.h"
#include "core/locker.h"
#include "core/pinned_memory.h"
#include "core/secret_pool.h"
#include "paging/paging_sample.h"
#include "platform/platform.h"
#ifdef MEMLOCK_TESTING
#include "testing/test_hooks.h"
#endif

namespace memlock {
namespace {

// The environment's own teardown (node runs it after the environment's
// cleanup hooks, whatever JavaScript did with its process listeners): the
// native state of this environment ends here and nowhere else.
void FinalizeEnvState(Napi::Env /*env*/, EnvState* state) {
  NoThrow([&] {
    Locker& locker = Locker::instance();
    locker.release_owner(state);
    // The environment's heap goes next, and the memory of its sticky views
    // with it: counts go with their memory, as for memory memlock unmaps
    // itself. A SharedArrayBuffer's memory may outlive this heap: its pages
    // are checked against the kernel's account from now on (watch_unmapping).
    for (const EnvState::StickyView& view : state->sticky) {
      if (view.shared) {
        locker.watch_unmapping(view.bytes.addr, view.bytes.len, true);
      } else {
        locker.drop_sticky(view.bytes.addr, view.bytes.len);
      }
    }
    // Its pinned buffers' Buffers go with its heap: so does their memory.
    PinnedMemory::instance().free_owner(state);
    // A slab this environment emptied is unmapped by a trim its event loop
    // scheduled (src/memory/secret.ts); a worker terminated before that turn would
    // leave it mapped and locked until another thread frees a secret.
    SecretPool::instance().trim();
  });
  delete state;
}

// Lives as long as a thread that loaded memlock. A worker's isolate, and
// with it the worker's own code mappings (its copy of V8's builtins), is
// disposed after the environment's teardown and before the thread ends, so
// this is the first moment their counts can be seen to be stale.
struct ThreadExitWatch {
  ~ThreadExitWatch() {
    NoThrow([] { Locker::instance().settle_watched(); });
  }
};
thread_local ThreadExitWatch thread_exit_watch;

// The numbers TypeScript shares with this code (shared_numbers.h), so that
// src/binding.ts never retypes them.
Napi::Object SharedNumbers(Napi::Env env) {
  auto object = [&](std::initializer_list<std::pair<const char*, double>> fields) {
    Napi::Object o = Napi::Object::New(env);
    for (const auto& [name, value] : fields) o.Set(name, Napi::Number::New(env, value));
    return o;
  };
  Napi::Array syscalls = Napi::Array::New(env, static_cast<size_t>(Syscall::kCount));
  for (uint32_t i = 0; i < static_cast<uint32_t>(Syscall::kCount); ++i) syscalls.Set(i, kSyscallNames[i]);
  Napi::Object numbers = Napi::Object::New(env);
  numbers.Set("syscalls", syscalls);
  numbers.Set("scratch", object({{"pages", kScratchPages},
                                 {"tag", kScratchTag},
                                 {"locked", kScratchLocked},
                                 {"newlySticky", kScratchNewlySticky},
                                 {"lockError", kScratchLockError},
                                 {"failedSyscall", kScratchFailedSyscall},
                                 {"mappings", kScratchMappings},
                                 {"mapCap", kScratchMapCap},
                                 {"mapMargin", kScratchMapMargin},
                                 {"lockPages", kScratchLockPages},
                                 {"mappedBytes", kScratchMappedBytes},
                                 {"failedRange", kScratchFailedRange},
                                 {"serial", kScratchSerial},
                                 {"backend", kScratchBackend},
                                 {"inV8Heap", kScratchInV8Heap},
                                 {"fallbackError", kScratchFallbackError},
                                 {"fallbackSyscall", kScratchFallbackSyscall}}));
  numbers.Set("lockAll", object({{"current", kLockCurrent}, {"future", kLockFuture}, {"onFault", kLockOnFault}}));
  numbers.Set("secret", object({{"guarded", kSecretGuarded},
                                {"requireLock", kSecretRequireLock},
                                {"dropOnFork", kSecretDropOnFork},
                                {"backendSecretMem", kSecretBackendSecretMem},
                                {"backendMlock", kSecretBackendMlock},
                                {"onSecretMem", static_cast<double>(SecretBackend::kSecretMem)},
                                {"onV8Heap", static_cast<double>(SecretBackend::kV8Heap)},
                                {"accessNone", kAccessNone},
                                {"accessRead", kAccessRead},
                                {"accessReadWrite", kAccessReadWrite},
                                {"protectShared", kProtectShared},
                                {"secretMemUnavailable", static_cast<double>(kSecretMemUnavailable)}}));
  numbers.Set(
      "harden",
      object({{"noCore", kHardenNoCore}, {"notDumpable", kHardenNotDumpable}, {"clearPtracer", kHardenClearPtracer}}));
  numbers.Set("pinned",
              object({{"onFault", kPinnedOnFault}, {"prefault", kPinnedPrefault}, {"dropOnFork", kPinnedDropOnFork}}));
  numbers.Set("lockFields", object({{"address", kLockAddress},
                                    {"length", kLockLength},
                                    {"start", kLockStart},
                                    {"pages", kLockPages},
                                    {"count", kLockCount},
                                    {"threadId", kLockThreadId},
                                    {"flags", kLockFlags},
                                    {"id", kLockId},
                                    {"fieldCount", kLockFieldCount},
                                    {"flagOnFault", kLockFlagOnFault},
                                    {"flagOwn", kLockFlagOwn}}));
  numbers.Set("results", object({{"limitExceeded", static_cast<double>(kLimitExceeded)},
                                 {"mapCountExceeded", static_cast<double>(kMapCountExceeded)}}));
  using namespace paging;
  Napi::Object layout = object({{"eventWake", kWake},
                                {"eventStall", kStall},
                                {"eventCounter", kCounter},
                                {"counterTime", kCounterTime},
                                {"counterIndex", kCounterIndex},
                                {"counterCount", kCounterCount},
                                {"wakeTime", kWakeTime},
                                {"wakeSome", kWakeSome},
                                {"wakeFull", kWakeFull},
                                {"wakeErrno", kWakeErrno},
                                {"stallStart", kStallStart},
                                {"stallEnd", kStallEnd},
                                {"stallBusy", kStallBusy},
                                {"stallIdle", kStallIdle},
                                {"stallPsiStart", kStallPsiStart},
                                {"stallBefore", kStallBefore},
                                {"stallAfter", kStallAfter}});
  layout.Set("slots", object({{"threadMajor", kThreadMajor},
                              {"threadMinor", kThreadMinor},
                              {"threadCpuUs", kThreadCpuUs},
                              {"threadVoluntary", kThreadVoluntary},
                              {"threadInvoluntary", kThreadInvoluntary},
                              {"runNs", kRunNs},
                              {"waitNs", kWaitNs},
                              {"processMajor", kProcessMajor},
                              {"processMinor", kProcessMinor},
                              {"someTotalUs", kSomeTotalUs},
                              {"fullTotalUs", kFullTotalUs},
                              {"timeMs", kTimeMs},
                              {"count", kSlotCount}}));
  numbers.Set("paging", layout);
  return numbers;
}

// What this platform offers (platform.h), for src/capabilities.ts.
Napi::Object PlatformFeatures(Napi::Env env) {
  const platform::Features& f = platform::features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", Napi::String::New(env, f.backend));
  auto set = [&](const char* name, bool value) { o.Set(name, Napi::Boolean::New(env, value)); };
  set("onFault", f.on_fault);
  set("lockAll", f.lock_all);
  set("dontDump", f.dont_dump);
  set("wipeOnFork", f.wipe_on_fork);
  set("dropOnFork", f.drop_on_fork);
  set("guardPages", f.guard_pages);
  set("residency", f.residency);
  set("kernelAccount", f.kernel_account);
  set("hugePages", f.huge_pages);
  set("fork", f.fork);
  return o;
}

// The scratch slots as an external ArrayBuffer, or V8's sandbox's refusal.
napi_status ExternalScratch(napi_env env, EnvState* state, napi_value* out) {
  MEMLOCK_INJECT_V8_SANDBOX();
  return napi_create_external_arraybuffer(env, state->scratch, sizeof(state->inline_scratch), nullptr, nullptr, out);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  (void)&thread_exit_watch;  // constructed in this thread, so it ends with it
  EnvState* state = new EnvState();
  env.SetInstanceData<EnvState, FinalizeEnvState>(state);
  napi_value scratch_buffer = nullptr;
  napi_status status = ExternalScratch(env, state, &scratch_buffer);
  if (NoteSandboxRefusal(status)) {
    // V8's sandbox: the scratch slots live in V8's memory instead, held by
    // the exports (and a reference) as long as the environment.
    void* data = nullptr;
    status = napi_create_arraybuffer(env, sizeof(state->inline_scratch), &data, &scratch_buffer);
    if (status == napi_ok) {
      state->scratch = static_cast<double*>(data);
      status = napi_create_reference(env, scratch_buffer, 1, &state->scratch_ref);
    }
  }
  NAPI_THROW_IF_FAILED(env, status, exports);
  exports.Set("scratch", Napi::Float64Array::New(env, kScratchSlots, Napi::ArrayBuffer(env, scratch_buffer), 0));
  exports.Set("numbers", SharedNumbers(env));
  exports.Set("platform", PlatformFeatures(env));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(platform::page_size())));
  exports.Set("physicalPages", Napi::Number::New(env, static_cast<double>(platform::physical_pages())));
  register_locks(env, exports, state);
  register_whole_process(env, exports);
  register_diagnostics(env, exports);
  register_secrets(env, exports);
  register_paging(env, exports);
  register_pinned(env, exports);
  register_code(env, exports);
#ifdef MEMLOCK_TESTING
  AddTestHooks(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace memlock

static Napi::Object InitMemlock(Napi::Env env, Napi::Object exports) { return memlock::Init(env, exports); }

NODE_API_MODULE(memlock, InitMemlock)
