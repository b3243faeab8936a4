// N-API glue: unpacks arguments and turns Locker outcomes into plain JS
// values. Failures are returned, not thrown: the TypeScript layer builds the
// MemlockError, with errno and syscall. Thrown here are only calls that
// would be unsafe to carry out, which the TypeScript layer refuses first.
//
// The hot calls (lock, release, releaseLatest, isHeld) use raw N-API and get
// their environment's state as callback data: node-addon-api's CallbackInfo
// makes extra engine calls on every call, which doubled a re-lock's cost.
#include "addon_api.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "env_state.h"
#include "locker.h"
#include "madvise_hook.h"
#include "napi_views.h"
#include "paging_binding.h"
#include "pinned_binding.h"
#include "pinned_memory.h"
#include "platform.h"
#include "secret_pool.h"
#ifdef MEMLOCK_TESTING
#include "test_hooks.h"
#endif

namespace memlock {
namespace {

constexpr double kMaxSecretSize = 1 << 30;

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
    // scheduled (src/secret.ts); a worker terminated before that turn would
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

// Up to four arguments and the environment's state, for raw callbacks.
struct RawArgs {
  napi_value argv[4];
  EnvState* state;
};

RawArgs Unpack(napi_env env, napi_callback_info cbinfo) {
  RawArgs args{};
  size_t argc = 4;
  void* data = nullptr;
  napi_get_cb_info(env, cbinfo, &argc, args.argv, nullptr, &data);
  args.state = static_cast<EnvState*>(data);
  return args;
}

bool IdArg(napi_env env, napi_value value, int64_t* id) {
  if (napi_get_value_int64(env, value, id) == napi_ok) return true;
  napi_throw_type_error(env, nullptr, "memlock: expected a lock id");
  return false;
}

napi_value Number(napi_env env, double value) {
  napi_value result = nullptr;
  napi_create_double(env, value, &result);
  return result;
}

// lock(view, onFault, tag, shared) -> id (> 0) | -errno | kLimitExceeded |
// kMapCountExceeded; details in scratch. `shared`: the view is over a
// SharedArrayBuffer, whose memory may outlive this environment.
napi_value Lock(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  Bytes bytes{};
  if (!ViewBytes(env, args.argv[0], &bytes)) return nullptr;
  bool on_fault = false;
  napi_get_value_bool(env, args.argv[1], &on_fault);
  uint32_t tag = 0;
  napi_get_value_uint32(env, args.argv[2], &tag);
  Locker& locker = Locker::instance();
  LockOutcome out = locker.lock(args.state, bytes.addr, bytes.len, on_fault, tag, args.state->thread_id);
  double* scratch = args.state->scratch;
  scratch[kScratchPages] = static_cast<double>(locker.pages_spanned(bytes.addr, bytes.len));
  scratch[kScratchNewlySticky] = static_cast<double>(out.newly_sticky);
  scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(out.failed));
  if (out.id > 0 && out.newly_sticky > 0) {
    bool shared = false;
    napi_get_value_bool(env, args.argv[3], &shared);
    args.state->sticky.push_back(EnvState::StickyView{bytes, shared});
  }
  if (out.id == kMapCountExceeded) ScratchMappings(scratch, out.mappings);
  return Number(env, static_cast<double>(out.id));
}

// release(id) -> 0 released | 1 not held | -errno (munlock refused)
napi_value Release(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  int64_t id = 0;
  if (!IdArg(env, args.argv[0], &id)) return nullptr;
  return Number(env, static_cast<double>(Locker::instance().release(args.state, id).status));
}

// releaseLatest(view) -> id released (> 0) | 0 none held | -errno; its tag in scratch
napi_value ReleaseLatest(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  Bytes bytes{};
  if (!ViewBytes(env, args.argv[0], &bytes)) return nullptr;
  ReleaseOutcome out = Locker::instance().release_latest(args.state, bytes.addr, bytes.len);
  args.state->scratch[kScratchTag] = out.tag;
  return Number(env, out.status < 0 ? static_cast<double>(out.status) : out.status == 0 ? out.id : 0);
}

napi_value IsHeld(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  int64_t id = 0;
  if (!IdArg(env, args.argv[0], &id)) return nullptr;
  napi_value result = nullptr;
  napi_get_boolean(env, Locker::instance().is_held(args.state, id), &result);
  return result;
}

// counts(view) -> Uint16Array with one count per covered page
Napi::Value Counts(const Napi::CallbackInfo& info) {
  Bytes bytes = ViewBytes(info[0]);
  Locker& locker = Locker::instance();
  Napi::Uint16Array out = Napi::Uint16Array::New(info.Env(), locker.pages_spanned(bytes.addr, bytes.len));
  locker.counts(bytes.addr, bytes.len, out.Data());
  return out;
}

// residentPages(view) -> resident page count | -errno (mincore); pages covered in scratch
Napi::Value ResidentPages(const Napi::CallbackInfo& info) {
  Bytes bytes = ViewBytes(info[0]);
  Locker& locker = Locker::instance();
  uint64_t pages = locker.pages_spanned(bytes.addr, bytes.len);
  StateOf(info.Env())->scratch[kScratchPages] = static_cast<double>(pages);
  int64_t rc = platform::resident_pages(locker.page_index(bytes.addr) * locker.page_size(), pages * locker.page_size());
  return Napi::Number::New(info.Env(), static_cast<double>(rc));
}

Napi::Value AddressOf(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(ViewBytes(info[0]).addr));
}

Napi::Value IsDetached(const Napi::CallbackInfo& info) {
  bool detached = false;
  if (info[0].IsArrayBuffer()) napi_is_detached_arraybuffer(info.Env(), info[0], &detached);
  return Napi::Boolean::New(info.Env(), detached);
}

Napi::Value GetStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Stats s = Locker::instance().stats();
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("lockedPages", Napi::Number::New(env, static_cast<double>(s.locked_pages)));
  obj.Set("stickyPages", Napi::Number::New(env, static_cast<double>(s.sticky_pages)));
  obj.Set("limitPages", Napi::Number::New(env, static_cast<double>(s.limit_pages)));
  obj.Set("heldLocks", Napi::Number::New(env, static_cast<double>(s.held_locks)));
  return obj;
}

Napi::Value GetLimit(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Locker::instance().limit()));
}

Napi::Value SetLimit(const Napi::CallbackInfo& info) {
  double pages = info[0].As<Napi::Number>().DoubleValue();
  if (!(pages >= 0 && pages <= 9007199254740991.0)) {
    throw Napi::RangeError::New(info.Env(), "memlock: limit out of range");
  }
  Locker::instance().set_limit(static_cast<uint64_t>(pages));
  return info.Env().Undefined();
}

Napi::Value MappingCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(platform::mapping_count()));
}

// [soft, hard] in bytes, -1 for unlimited; or a negative errno number.
Napi::Value MemlockRlimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t soft = 0, hard = 0;
  int rc = platform::memlock_rlimit(&soft, &hard);
  if (rc < 0) return Napi::Number::New(env, rc);
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, static_cast<double>(soft)));
  pair.Set(1u, Napi::Number::New(env, static_cast<double>(hard)));
  return pair;
}

// --- Whole-process locking -------------------------------------------------

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

// --- Diagnostics -----------------------------------------------------------

Napi::Value SetThreadId(const Napi::CallbackInfo& info) {
  StateOf(info.Env())->thread_id = info[0].As<Napi::Number>().Int32Value();
  return info.Env().Undefined();
}

// annotate(id, label | undefined, stack): only called when a label or stack capture is on.
Napi::Value Annotate(const Napi::CallbackInfo& info) {
  bool labelled = info[1].IsString();
  Locker::instance().annotate(info[0].As<Napi::Number>().Int64Value(), labelled,
                              labelled ? info[1].As<Napi::String>().Utf8Value() : std::string(),
                              info[2].As<Napi::String>().Utf8Value());
  return info.Env().Undefined();
}

// locks() -> every held lock in the process
Napi::Value Locks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Locker::LockInfo> locks = Locker::instance().locks();
  size_t ps = platform::page_size();
  Napi::Array out = Napi::Array::New(env, locks.size());
  for (size_t i = 0; i < locks.size(); ++i) {
    const Locker::LockInfo& l = locks[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", Napi::Number::New(env, static_cast<double>(l.id)));
    o.Set("address", Napi::Number::New(env, static_cast<double>(l.record.addr)));
    o.Set("length", Napi::Number::New(env, static_cast<double>(l.record.len)));
    o.Set("start", Napi::Number::New(env, static_cast<double>(l.record.first_page * ps)));
    o.Set("pages", Napi::Number::New(env, static_cast<double>(l.record.pages)));
    o.Set("onFault", Napi::Boolean::New(env, l.record.on_fault));
    o.Set("threadId", Napi::Number::New(env, l.record.thread_id));
    o.Set("own", Napi::Boolean::New(env, l.record.owner == StateOf(env)));
    o.Set("count", Napi::Number::New(env, l.max_count));
    if (l.labelled) o.Set("label", Napi::String::New(env, l.label));
    o.Set("stack", Napi::String::New(env, l.stack));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// verify() -> Float64Array of [address, bytes, ...] for every counted run the
// kernel does not have locked, or -errno; pages counted in scratch
Napi::Value Verify(const Napi::CallbackInfo& info) {
  std::vector<PageRun> missing;
  int64_t counted = Locker::instance().verify(&missing);
  if (counted < 0) return Napi::Number::New(info.Env(), static_cast<double>(counted));
  StateOf(info.Env())->scratch[kScratchPages] = static_cast<double>(counted);
  size_t ps = platform::page_size();
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), missing.size() * 2);
  for (size_t i = 0; i < missing.size(); ++i) {
    out[i * 2] = static_cast<double>(missing[i].first * ps);
    out[i * 2 + 1] = static_cast<double>(missing[i].pages * ps);
  }
  return out;
}

// --- Secrets -------------------------------------------------------------

// Runs on the JS thread once a secret's Buffer is garbage-collected (or
// detached by free, in which case the secret is gone and this does nothing).
void FinalizeSecret(napi_env /*env*/, void* data, void* serial) {
  SecretPool::instance().free_if_current(reinterpret_cast<uintptr_t>(data),
                                         static_cast<uint64_t>(reinterpret_cast<uintptr_t>(serial)));
}

// allocSecret(size, flags: kSecretGuarded | kSecretRequireLock | kSecretDropOnFork)
//   -> Buffer ('mark' mode) | ArrayBuffer ('key' mode) | -errno | kLimitExceeded |
//   kMapCountExceeded; scratch = [locked, lock error, failed syscall, mappings, cap, margin]
Napi::Value AllocSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double size = info[0].As<Napi::Number>().DoubleValue();
  if (!(size >= 1 && size <= kMaxSecretSize)) throw Napi::RangeError::New(env, "memlock: secret size out of range");
  uint32_t flags = info[1].As<Napi::Number>().Uint32Value();
  EnvState* state = StateOf(env);
  SecretRequest request{static_cast<size_t>(size), (flags & kSecretGuarded) != 0, (flags & kSecretRequireLock) != 0,
                        (flags & kSecretDropOnFork) != 0 ? ForkMode::kDrop : ForkMode::kWipe, state};
  SecretPool& pool = SecretPool::instance();
  SecretResult result = pool.allocate(request);
  state->scratch[kScratchLocked] = result.locked ? 1 : 0;
  state->scratch[kScratchLockError] = static_cast<double>(result.lock_error);
  state->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(result.failed));
  if (result.error == kMapCountExceeded || result.lock_error == kMapCountExceeded) {
    ScratchMappings(state->scratch, result.mappings);
  }
  state->scratch[kScratchLockPages] = static_cast<double>(result.lock_pages);
  state->scratch[kScratchSerial] = static_cast<double>(result.serial);
  if (result.addr == 0) return Napi::Number::New(env, static_cast<double>(result.error));
  void* data = reinterpret_cast<void*>(result.addr);
  void* serial = reinterpret_cast<void*>(static_cast<uintptr_t>(result.serial));
  napi_value value = nullptr;
  napi_status status = WrapOwnedMemory(env, data, request.size, GuardedFinalize<FinalizeSecret>, serial, &value);
  if (status != napi_ok) {
    pool.free_if_current(result.addr, result.serial);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, value);
}

// freeSecret(buffer) -> 0 freed | 2 freed, a slab is empty (trimSecrets) | 1 not a live secret
Napi::Value FreeSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Detach first: if that failed, a view could outlive the wipe.
  void* data = DetachOwnedMemory(info);
  if (data == nullptr) return Napi::Number::New(env, 1);  // detached: freed already
  bool trim = false;
  bool freed = SecretPool::instance().free_owned(reinterpret_cast<uintptr_t>(data), StateOf(env), &trim);
  return Napi::Number::New(env, !freed ? 1 : trim ? 2 : 0);
}

// wipeMovedSecret(address, serial) -> 0 wiped | 1 freed already: free() of a
// secret whose memory node or another addon moved out of its Buffer.
Napi::Value WipeMovedSecret(const Napi::CallbackInfo& info) {
  double addr = info[0].As<Napi::Number>().DoubleValue();
  double serial = info[1].As<Napi::Number>().DoubleValue();
  bool wiped = SecretPool::instance().wipe_if_current(static_cast<uintptr_t>(addr), static_cast<uint64_t>(serial));
  return Napi::Number::New(info.Env(), wiped ? 0 : 1);
}

Napi::Value TrimSecrets(const Napi::CallbackInfo& info) {
  SecretPool::instance().trim();
  return info.Env().Undefined();
}

Napi::Value GetSecretStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SecretStats s = SecretPool::instance().stats();
  Napi::Object obj = Napi::Object::New(env);
  auto set = [&](const char* name, uint64_t value) { obj.Set(name, Napi::Number::New(env, static_cast<double>(value))); };
  set("live", s.live);
  set("slabs", s.slabs);
  set("dedicated", s.dedicated);
  set("mappedBytes", s.mapped_bytes);
  set("unlockedBytes", s.unlocked_bytes);
  return obj;
}

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
  numbers.Set("scratch", object({{"pages", kScratchPages}, {"tag", kScratchTag}, {"locked", kScratchLocked},
                                 {"newlySticky", kScratchNewlySticky}, {"lockError", kScratchLockError},
                                 {"failedSyscall", kScratchFailedSyscall}, {"mappings", kScratchMappings},
                                 {"mapCap", kScratchMapCap}, {"mapMargin", kScratchMapMargin},
                                 {"lockPages", kScratchLockPages}, {"mappedBytes", kScratchMappedBytes},
                                 {"failedRange", kScratchFailedRange}, {"serial", kScratchSerial}}));
  numbers.Set("lockAll", object({{"current", kLockCurrent}, {"future", kLockFuture}, {"onFault", kLockOnFault}}));
  numbers.Set("secret", object({{"guarded", kSecretGuarded}, {"requireLock", kSecretRequireLock},
                                {"dropOnFork", kSecretDropOnFork}}));
  numbers.Set("pinned", object({{"onFault", kPinnedOnFault}, {"prefault", kPinnedPrefault},
                                {"dropOnFork", kPinnedDropOnFork}}));
  numbers.Set("results", object({{"limitExceeded", static_cast<double>(kLimitExceeded)},
                                 {"mapCountExceeded", static_cast<double>(kMapCountExceeded)}}));
  using namespace paging;
  Napi::Object layout = object({{"eventWake", kWake}, {"eventStall", kStall}, {"wakeTime", kWakeTime},
                                {"wakeSome", kWakeSome}, {"wakeFull", kWakeFull}, {"wakeErrno", kWakeErrno},
                                {"stallStart", kStallStart}, {"stallEnd", kStallEnd}, {"stallBusy", kStallBusy},
                                {"stallIdle", kStallIdle}, {"stallPsiStart", kStallPsiStart},
                                {"stallBefore", kStallBefore}, {"stallAfter", kStallAfter}});
  layout.Set("slots", object({{"threadMajor", kThreadMajor}, {"threadMinor", kThreadMinor},
                              {"threadCpuUs", kThreadCpuUs}, {"threadVoluntary", kThreadVoluntary},
                              {"threadInvoluntary", kThreadInvoluntary}, {"runNs", kRunNs}, {"waitNs", kWaitNs},
                              {"processMajor", kProcessMajor}, {"processMinor", kProcessMinor},
                              {"someTotalUs", kSomeTotalUs}, {"fullTotalUs", kFullTotalUs}, {"timeMs", kTimeMs},
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

Napi::Value RawFunction(Napi::Env env, const char* name, napi_callback callback, EnvState* state) {
  napi_value fn = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, state, &fn), Napi::Value());
  return Napi::Value(env, fn);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  (void)&thread_exit_watch;  // constructed in this thread, so it ends with it
  EnvState* state = new EnvState();
  env.SetInstanceData<EnvState, FinalizeEnvState>(state);
  napi_value scratch_buffer = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_external_arraybuffer(env, state->scratch, sizeof(state->scratch), nullptr,
                                                             nullptr, &scratch_buffer),
                       exports);
  exports.Set("scratch", Napi::Float64Array::New(env, kScratchSlots, Napi::ArrayBuffer(env, scratch_buffer), 0));
  exports.Set("numbers", SharedNumbers(env));
  exports.Set("platform", PlatformFeatures(env));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(platform::page_size())));
  exports.Set("physicalPages", Napi::Number::New(env, static_cast<double>(platform::physical_pages())));
  exports.Set("lock", RawFunction(env, "lock", Guarded<Lock>, state));
  exports.Set("release", RawFunction(env, "release", Guarded<Release>, state));
  exports.Set("releaseLatest", RawFunction(env, "releaseLatest", Guarded<ReleaseLatest>, state));
  exports.Set("isHeld", RawFunction(env, "isHeld", Guarded<IsHeld>, state));
  exports.Set("counts", Napi::Function::New(env, Counts, "counts"));
  exports.Set("residentPages", Napi::Function::New(env, ResidentPages, "residentPages"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("isDetached", Napi::Function::New(env, IsDetached, "isDetached"));
  exports.Set("stats", Napi::Function::New(env, GetStats, "stats"));
  exports.Set("getLimit", Napi::Function::New(env, GetLimit, "getLimit"));
  exports.Set("setLimit", Napi::Function::New(env, SetLimit, "setLimit"));
  exports.Set("mappingCount", Napi::Function::New(env, MappingCount, "mappingCount"));
  exports.Set("memlockRlimit", Napi::Function::New(env, MemlockRlimit, "memlockRlimit"));
  exports.Set("lockAll", Napi::Function::New(env, LockAll, "lockAll"));
  exports.Set("unlockAll", Napi::Function::New(env, UnlockAll, "unlockAll"));
  exports.Set("lockAllFlags", Napi::Function::New(env, LockAllFlags, "lockAllFlags"));
  exports.Set("madviseHookCounts", Napi::Function::New(env, MadviseHookCounts, "madviseHookCounts"));
  exports.Set("setThreadId", Napi::Function::New(env, SetThreadId, "setThreadId"));
  exports.Set("annotate", Napi::Function::New(env, Annotate, "annotate"));
  exports.Set("locks", Napi::Function::New(env, Locks, "locks"));
  exports.Set("verify", Napi::Function::New(env, Verify, "verify"));
  exports.Set("allocSecret", Napi::Function::New(env, AllocSecret, "allocSecret"));
  exports.Set("freeSecret", Napi::Function::New(env, FreeSecret, "freeSecret"));
  exports.Set("wipeMovedSecret", Napi::Function::New(env, WipeMovedSecret, "wipeMovedSecret"));
  exports.Set("trimSecrets", Napi::Function::New(env, TrimSecrets, "trimSecrets"));
  exports.Set("secretStats", Napi::Function::New(env, GetSecretStats, "secretStats"));
  register_paging(env, exports);
  register_pinned(env, exports);
#ifdef MEMLOCK_TESTING
  AddTestHooks(env, exports);
#endif
  return exports;
}

}  // namespace
}  // namespace memlock

static Napi::Object InitMemlock(Napi::Env env, Napi::Object exports) { return memlock::Init(env, exports); }

NODE_API_MODULE(memlock, InitMemlock)
