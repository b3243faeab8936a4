// Counted locks: the hot calls (lock, release, releaseLatest, isHeld) use
// raw N-API and get their environment's state as callback data:
// node-addon-api's CallbackInfo makes extra engine calls on every call,
// which doubled a re-lock's cost. They go through Guarded (addon_api.h), so
// no C++ exception leaves them.
#include <cstdint>
#include <vector>

#include "binding/families.h"
#include "binding/napi_views.h"
#include "core/locker.h"
#include "platform/platform.h"

namespace memlock {
namespace {

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

napi_value RawFunction(napi_env env, const char* name, napi_callback callback, EnvState* state) {
  napi_value fn = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, state, &fn), nullptr);
  return fn;
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

// The Float64Array argument `value` holds at least `count` numbers, or a
// TypeError is thrown.
double* Float64Data(napi_env env, napi_value value, size_t count) {
  bool is_typed = false;
  napi_is_typedarray(env, value, &is_typed);
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (is_typed) napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr);
  if (!is_typed || type != napi_float64_array || length < count) {
    napi_throw_type_error(env, nullptr, "memlock: expected a Float64Array");
    return nullptr;
  }
  return static_cast<double*>(data);
}

bool CountArg(napi_env env, napi_value value, uint32_t* count) {
  if (napi_get_value_uint32(env, value, count) == napi_ok) return true;
  napi_throw_type_error(env, nullptr, "memlock: expected a count");
  return false;
}

// lockMany(views, count, onFault, io) -> count locked | -errno |
// kLimitExceeded | kMapCountExceeded, all or none. io holds three numbers a
// view: in, [tag, shared, -]; out, [id, pages, newly sticky]. On a refusal
// scratch = [index of the view refused, -, failed syscall, mappings, cap,
// margin]. The views are read whole before any lock is taken.
napi_value LockMany(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  uint32_t count = 0;
  if (!CountArg(env, args.argv[1], &count)) return nullptr;
  bool on_fault = false;
  napi_get_value_bool(env, args.argv[2], &on_fault);
  double* io = Float64Data(env, args.argv[3], 3 * static_cast<size_t>(count));
  if (io == nullptr) return nullptr;
  std::vector<BatchView> views(count);
  for (uint32_t i = 0; i < count; ++i) {
    napi_value view = nullptr;
    Bytes bytes;
    if (napi_get_element(env, args.argv[0], i, &view) != napi_ok || !ViewBytes(env, view, &bytes)) return nullptr;
    views[i] = BatchView{bytes.addr, bytes.len, static_cast<uint32_t>(io[3 * i])};
  }
  Locker& locker = Locker::instance();
  std::vector<LockOutcome> locks(count);
  BatchOutcome out = locker.lock_many(args.state, views.data(), count, on_fault, args.state->thread_id, locks.data());
  double* scratch = args.state->scratch;
  if (out.refusal.id < 0) {
    const BatchView& refused = views[out.failed_view];
    scratch[kScratchFailedRange] = static_cast<double>(out.failed_view);
    scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(out.refusal.failed));
    if (out.refusal.id == kMapCountExceeded) ScratchMappings(scratch, out.refusal.mappings);
    io[3 * out.failed_view + 1] = static_cast<double>(locker.pages_spanned(refused.addr, refused.len));
    return Number(env, static_cast<double>(out.refusal.id));
  }
  for (uint32_t i = 0; i < count; ++i) {
    const bool shared = io[3 * i + 1] != 0;
    io[3 * i] = static_cast<double>(locks[i].id);
    io[3 * i + 1] = static_cast<double>(locker.pages_spanned(views[i].addr, views[i].len));
    io[3 * i + 2] = static_cast<double>(locks[i].newly_sticky);
    if (locks[i].newly_sticky > 0) {
      args.state->sticky.push_back(EnvState::StickyView{Bytes{views[i].addr, views[i].len}, shared});
    }
  }
  return Number(env, count);
}

// releaseMany(ids, count) -> 0 all released (or not held) | -errno: the
// munlock refused for the lock at scratch[0]; those before it are released.
napi_value ReleaseMany(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  uint32_t count = 0;
  if (!CountArg(env, args.argv[1], &count)) return nullptr;
  double* io = Float64Data(env, args.argv[0], count);
  if (io == nullptr) return nullptr;
  std::vector<int64_t> ids(io, io + count);
  size_t failed = 0;
  int64_t rc = Locker::instance().release_many(args.state, ids.data(), count, &failed);
  if (rc < 0) args.state->scratch[kScratchFailedRange] = static_cast<double>(failed);
  return Number(env, static_cast<double>(rc));
}

// release(id) -> 0 released | 1 not held | -errno (munlock refused, nothing changed)
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

}  // namespace

void register_locks(Napi::Env env, Napi::Object exports, EnvState* state) {
  exports.Set("lock", Napi::Value(env, RawFunction(env, "lock", Guarded<Lock>, state)));
  exports.Set("release", Napi::Value(env, RawFunction(env, "release", Guarded<Release>, state)));
  exports.Set("lockMany", Napi::Value(env, RawFunction(env, "lockMany", Guarded<LockMany>, state)));
  exports.Set("releaseMany", Napi::Value(env, RawFunction(env, "releaseMany", Guarded<ReleaseMany>, state)));
  exports.Set("releaseLatest", Napi::Value(env, RawFunction(env, "releaseLatest", Guarded<ReleaseLatest>, state)));
  exports.Set("isHeld", Napi::Value(env, RawFunction(env, "isHeld", Guarded<IsHeld>, state)));
  exports.Set("counts", Napi::Function::New(env, Counts, "counts"));
  exports.Set("residentPages", Napi::Function::New(env, ResidentPages, "residentPages"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("isDetached", Napi::Function::New(env, IsDetached, "isDetached"));
  exports.Set("stats", Napi::Function::New(env, GetStats, "stats"));
  exports.Set("getLimit", Napi::Function::New(env, GetLimit, "getLimit"));
  exports.Set("setLimit", Napi::Function::New(env, SetLimit, "setLimit"));
  exports.Set("mappingCount", Napi::Function::New(env, MappingCount, "mappingCount"));
  exports.Set("memlockRlimit", Napi::Function::New(env, MemlockRlimit, "memlockRlimit"));
}

}  // namespace memlock
