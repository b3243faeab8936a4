// N-API glue: unpacks arguments and turns Locker outcomes into plain JS
// values. Failures are returned, not thrown: the TypeScript layer builds the
// MemlockError (STYLE.md, native boundary). Thrown here are only calls that
// would be unsafe to carry out, which the TypeScript layer refuses first.
//
// The hot calls (lock, release, releaseLatest, isHeld) use raw N-API and get
// their environment's state as callback data: node-addon-api's CallbackInfo
// makes extra engine calls on every call, which doubled a re-lock's cost.
#include <napi.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "detach_guard.h"
#include "fault_injection.h"
#include "locker.h"
#include "madvise_hook.h"
#include "platform.h"
#include "paging_binding.h"
#include "secret_pool.h"

namespace memlock {
namespace {

struct Bytes {
  uintptr_t addr;
  size_t len;
};

// One per environment (main thread, each worker). Its address is the owner
// of the environment's locks; when the environment goes away, so do they.
constexpr size_t kScratchSlots = 4;
struct EnvState {
  // Secondary results of the last call, shared with JS (as an external
  // ArrayBuffer over this memory) so the hot calls can return a plain
  // number: [0] pages covered, [1] pages newly sticky, [2] the Syscall that
  // failed. It lives as long as the environment, like the JS that reads it.
  double scratch[kScratchSlots] = {};
  int32_t thread_id = 0;  // worker_threads.threadId, for locks()
  // The object whose identity is this environment's detach key (see
  // detach_guard.h), when detach keys are used at all.
  napi_ref detach_key = nullptr;
  // Weak references to every buffer this environment keyed, by data address.
  std::unordered_map<void*, napi_ref> keyed;
  // Views whose lock made pages sticky: their memory lives as long as this
  // environment (src/retained.ts keeps them), so their counts end with it.
  std::vector<Bytes> sticky;
};
constexpr double kMaxSecretSize = 1 << 30;

void FinalizeEnvState(Napi::Env env, EnvState* state) {
  Locker& locker = Locker::instance();
  locker.release_owner(state);
  // The environment's heap goes next, and the memory of its sticky views with
  // it: counts go with their memory, as for memory memlock unmaps itself.
  for (const Bytes& bytes : state->sticky) locker.drop_sticky(bytes.addr, bytes.len);
  for (auto& [data, ref] : state->keyed) napi_delete_reference(env, ref);
  if (state->detach_key != nullptr) napi_delete_reference(env, state->detach_key);
  delete state;
}

EnvState* StateOf(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:  // float64, bigint64, biguint64
      return 8;
  }
}

// The bytes of a TypedArray or DataView, or false with a JS exception
// pending. ArrayBuffers and SharedArrayBuffers arrive wrapped in a DataView
// (N-API in Node 20 cannot see into a SharedArrayBuffer).
bool ViewBytes(napi_env env, napi_value value, Bytes* out) {
  void* data = nullptr;
  size_t len = 0;
  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length = 0;
    if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
    len = length * ElementSize(type);
  } else if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, value, &len, &data, nullptr, nullptr) != napi_ok) return false;
  } else {
    napi_throw_type_error(env, nullptr, "memlock: expected a TypedArray or DataView");
    return false;
  }
  if (data == nullptr || len == 0) {
    napi_throw_range_error(env, nullptr, "memlock: view is empty or detached");
    return false;
  }
  *out = Bytes{reinterpret_cast<uintptr_t>(data), len};
  return true;
}

Bytes ViewBytes(const Napi::Value& value) {
  Bytes bytes{};
  // Error::New(env) takes over the pending exception.
  if (!ViewBytes(value.Env(), value, &bytes)) throw Napi::Error::New(value.Env());
  return bytes;
}

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

// Drops the weak reference to the keyed buffer at `data`, which is gone.
void ForgetKeyed(napi_env env, EnvState* state, void* data) {
  if (state == nullptr) return;
  auto known = state->keyed.find(data);
  if (known == state->keyed.end()) return;
  napi_delete_reference(env, known->second);
  state->keyed.erase(known);
}

// Sets (on) or clears `arraybuffer`'s detach key, if it is an ArrayBuffer and
// this environment uses keys; anything else (undefined) is left alone.
void SetDetachKey(napi_env env, EnvState* state, napi_value arraybuffer, bool on) {
  if (state->detach_key == nullptr) return;
  void* data = nullptr;
  bool is = false;
  if (napi_is_arraybuffer(env, arraybuffer, &is) != napi_ok || !is) return;
  if (napi_get_arraybuffer_info(env, arraybuffer, &data, nullptr) != napi_ok) return;
  napi_value key = nullptr;
  auto known = state->keyed.find(data);
  if (on) {
    napi_get_reference_value(env, state->detach_key, &key);
    if (known != state->keyed.end()) {
      // Memory is reused (a pooled secret's slot): a reference to a buffer
      // that is gone, or is another, is replaced.
      napi_value held = nullptr;
      bool same = false;
      if (napi_get_reference_value(env, known->second, &held) == napi_ok && held != nullptr) {
        napi_strict_equals(env, held, arraybuffer, &same);
      }
      if (!same) {
        napi_delete_reference(env, known->second);
        state->keyed.erase(known);
        known = state->keyed.end();
      }
    }
    if (known == state->keyed.end()) {
      napi_ref ref = nullptr;
      if (napi_create_reference(env, arraybuffer, 0, &ref) != napi_ok) return;
      state->keyed.emplace(data, ref);
    }
  } else {
    napi_get_undefined(env, &key);
    if (known != state->keyed.end()) {
      napi_delete_reference(env, known->second);
      state->keyed.erase(known);
    }
  }
  detach_guard::set_key(env, arraybuffer, key);
}

napi_value Number(napi_env env, double value) {
  napi_value result = nullptr;
  napi_create_double(env, value, &result);
  return result;
}

// lock(view, onFault, tag, keyBuffer) -> id (> 0) | -errno | kLimitExceeded;
// details in scratch. A lock taken sets keyBuffer's detach key, if given.
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
  scratch[0] = static_cast<double>(locker.pages_spanned(bytes.addr, bytes.len));
  scratch[1] = static_cast<double>(out.newly_sticky);
  scratch[2] = static_cast<double>(static_cast<int>(out.failed));
  if (out.id > 0) {
    SetDetachKey(env, args.state, args.argv[3], true);
    if (out.newly_sticky > 0) args.state->sticky.push_back(bytes);
  }
  return Number(env, static_cast<double>(out.id));
}

// release(id, keyBuffer) -> 0 released | 1 not held | -errno (munlock refused);
// unless refused, clears keyBuffer's detach key, if given.
napi_value Release(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  int64_t id = 0;
  if (!IdArg(env, args.argv[0], &id)) return nullptr;
  int64_t status = Locker::instance().release(args.state, id).status;
  if (status >= 0) SetDetachKey(env, args.state, args.argv[1], false);
  return Number(env, static_cast<double>(status));
}

// clearDetachKeys(): lifts every key this environment set, at its exit. At
// teardown node detaches the external buffers it made with a finalizer (an
// addon's napi_create_external_buffer) presenting no key, and aborts if
// refused; this runs before that, on process 'exit' (src/guard.ts).
Napi::Value ClearDetachKeys(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  EnvState* state = StateOf(env);
  napi_value undefined = nullptr;
  napi_get_undefined(env, &undefined);
  for (auto& [data, ref] : state->keyed) {
    napi_value buffer = nullptr;
    if (napi_get_reference_value(env, ref, &buffer) == napi_ok && buffer != nullptr) {
      detach_guard::set_key(env, buffer, undefined);
    }
    napi_delete_reference(env, ref);
  }
  state->keyed.clear();
  return info.Env().Undefined();
}

// setDetachKey(arraybuffer, on): for unlock(view), which learns only after
// the release whether it let go of the buffer's last lock.
Napi::Value SetDetachKeyFromJs(const Napi::CallbackInfo& info) {
  SetDetachKey(info.Env(), StateOf(info.Env()), info[0], info[1].ToBoolean());
  return info.Env().Undefined();
}

// releaseLatest(view) -> id released (> 0) | 0 none held | -errno; scratch[0] = its tag
napi_value ReleaseLatest(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  Bytes bytes{};
  if (!ViewBytes(env, args.argv[0], &bytes)) return nullptr;
  ReleaseOutcome out = Locker::instance().release_latest(args.state, bytes.addr, bytes.len);
  args.state->scratch[0] = out.tag;
  return Number(env, out.status < 0 ? static_cast<double>(out.status) : out.status == 0 ? out.id : 0);
}

// rawMlock(view) / rawMunlock(view) -> 0 | -errno: the bare syscalls on the
// covered pages, bypassing the table. For benchmarks (the same process's
// syscall cost) and tests (changing kernel state behind memlock's back).
template <int (*syscall)(uintptr_t, size_t)>
napi_value RawRange(napi_env env, napi_callback_info cbinfo) {
  RawArgs args = Unpack(env, cbinfo);
  Bytes bytes{};
  if (!ViewBytes(env, args.argv[0], &bytes)) return nullptr;
  size_t ps = platform::page_size();
  uintptr_t start = bytes.addr / ps * ps;
  size_t len = (bytes.addr + bytes.len + ps - 1) / ps * ps - start;
  return Number(env, syscall(start, len));
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

// residentPages(view) -> resident page count | -errno (mincore); scratch[0] = pages covered
Napi::Value ResidentPages(const Napi::CallbackInfo& info) {
  Bytes bytes = ViewBytes(info[0]);
  Locker& locker = Locker::instance();
  uint64_t pages = locker.pages_spanned(bytes.addr, bytes.len);
  StateOf(info.Env())->scratch[0] = static_cast<double>(pages);
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

// Test hook: in a child made by fork(), reports the child's view of the
// table and the kernel's VmLck, as "lockedPages heldLocks vmLckKb".
int ReportFromForkedChild(int fd) {
  Stats s = Locker::instance().stats();
  long vmlck_kb = -1;
  char status[8192];
  int sfd = open("/proc/self/status", O_RDONLY);
  if (sfd >= 0) {
    ssize_t n = read(sfd, status, sizeof(status) - 1);
    close(sfd);
    if (n > 0) {
      status[n] = '\0';
      const char* line = strstr(status, "VmLck:");
      if (line) vmlck_kb = strtol(line + 6, nullptr, 10);
    }
  }
  char report[128];
  int len = snprintf(report, sizeof(report), "%llu %llu %ld", static_cast<unsigned long long>(s.locked_pages),
                     static_cast<unsigned long long>(s.held_locks), vmlck_kb);
  return write(fd, report, static_cast<size_t>(len)) == len ? 0 : 1;
}

Napi::Value ForkProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char buf[128];
  size_t len = sizeof(buf) - 1;
  int status = platform::fork_and_collect(ReportFromForkedChild, buf, &len);
  if (status != 0) throw Napi::Error::New(env, "memlock: forked child failed with status " + std::to_string(status));
  buf[len] = '\0';
  unsigned long long locked = 0, held = 0;
  long vmlck = -1;
  if (sscanf(buf, "%llu %llu %ld", &locked, &held, &vmlck) != 3) {
    throw Napi::Error::New(env, "memlock: unreadable report from forked child");
  }
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("lockedPages", Napi::Number::New(env, static_cast<double>(locked)));
  obj.Set("heldLocks", Napi::Number::New(env, static_cast<double>(held)));
  obj.Set("vmLckKb", Napi::Number::New(env, static_cast<double>(vmlck)));
  return obj;
}

// --- Whole-process locking -------------------------------------------------

// lockAll(flags: 1 current | 2 future | 4 on fault) -> 0 | -errno
Napi::Value LockAll(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Locker::instance().lock_all(info[0].As<Napi::Number>().Int32Value()));
}

// unlockAll() -> 0 | -errno; scratch[2] = the failed Syscall
Napi::Value UnlockAll(const Napi::CallbackInfo& info) {
  Syscall failed = Syscall::kNone;
  int rc = Locker::instance().unlock_all(&failed);
  StateOf(info.Env())->scratch[2] = static_cast<double>(static_cast<int>(failed));
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

// annotate(id, label, stack): only called when a label or stack capture is on.
Napi::Value Annotate(const Napi::CallbackInfo& info) {
  Locker::instance().annotate(info[0].As<Napi::Number>().Int64Value(), info[1].As<Napi::String>().Utf8Value(),
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
    o.Set("label", Napi::String::New(env, l.label));
    o.Set("stack", Napi::String::New(env, l.stack));
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

// lockedRuns() -> Float64Array of [address, bytes, ...] for every counted run
Napi::Value LockedRuns(const Napi::CallbackInfo& info) {
  std::vector<PageRun> runs = Locker::instance().locked_runs();
  size_t ps = platform::page_size();
  Napi::Float64Array out = Napi::Float64Array::New(info.Env(), runs.size() * 2);
  for (size_t i = 0; i < runs.size(); ++i) {
    out[i * 2] = static_cast<double>(runs[i].first * ps);
    out[i * 2 + 1] = static_cast<double>(runs[i].pages * ps);
  }
  return out;
}

// --- Secrets -------------------------------------------------------------

// Runs on the JS thread once a secret's Buffer is garbage-collected (or
// detached by free, in which case the secret is gone and this does nothing).
void FinalizeSecret(napi_env env, void* data, void* serial) {
  ForgetKeyed(env, StateOf(env), data);
  SecretPool::instance().free_if_current(reinterpret_cast<uintptr_t>(data),
                                         static_cast<uint64_t>(reinterpret_cast<uintptr_t>(serial)));
}

// allocSecret(size, flags: 1 guarded | 2 require lock | 4 drop on fork)
//   -> Buffer ('mark' mode) | ArrayBuffer ('key' mode) | -errno | kLimitExceeded;
//   scratch = [locked, lock error, failed syscall]
Napi::Value AllocSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double size = info[0].As<Napi::Number>().DoubleValue();
  if (!(size >= 1 && size <= kMaxSecretSize)) throw Napi::RangeError::New(env, "memlock: secret size out of range");
  uint32_t flags = info[1].As<Napi::Number>().Uint32Value();
  EnvState* state = StateOf(env);
  SecretRequest request{static_cast<size_t>(size), (flags & 1) != 0, (flags & 2) != 0,
                        (flags & 4) != 0 ? ForkMode::kDrop : ForkMode::kWipe, state};
  SecretPool& pool = SecretPool::instance();
  SecretResult result = pool.allocate(request);
  state->scratch[0] = result.locked ? 1 : 0;
  state->scratch[1] = static_cast<double>(result.lock_error);
  state->scratch[2] = static_cast<double>(static_cast<int>(result.failed));
  if (result.addr == 0) return Napi::Number::New(env, static_cast<double>(result.error));
  void* data = reinterpret_cast<void*>(result.addr);
  void* serial = reinterpret_cast<void*>(static_cast<uintptr_t>(result.serial));
  napi_value value = nullptr;
  napi_status status;
  if (state->detach_key != nullptr) {
    // 'key' mode: an ArrayBuffer freed with its object, not with its memory.
    // No JavaScript can detach it, so the two end together; and node does
    // not detach it at teardown (it does an external Buffer, presenting no
    // key, and aborts when refused). src/secret.ts wraps it in a Buffer.
    status = napi_create_external_arraybuffer(env, data, request.size, nullptr, nullptr, &value);
    if (status == napi_ok) status = napi_add_finalizer(env, value, data, FinalizeSecret, serial, nullptr);
    if (status == napi_ok) SetDetachKey(env, state, value, true);
  } else {
    // 'mark' mode: freed when the last ArrayBuffer over the memory goes,
    // which may not be this one (src/guard.ts).
    status = napi_create_external_buffer(env, request.size, data, FinalizeSecret, serial, &value);
  }
  if (status != napi_ok) {
    pool.free_if_current(result.addr, result.serial);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, value);
}

// freeSecret(buffer) -> 0 freed | 2 freed, a slab is empty (trimSecrets) | 1 not a live secret
Napi::Value FreeSecret(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data = nullptr;
  size_t len = 0;
  napi_value arraybuffer = nullptr;
  if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "memlock: expected a Buffer");
  NAPI_THROW_IF_FAILED(env, napi_get_buffer_info(env, info[0], &data, &len), Napi::Value());
  if (data == nullptr) return Napi::Number::New(env, 1);  // detached: freed already
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, info[0], nullptr, nullptr, nullptr, &arraybuffer, nullptr),
                       Napi::Value());
  // Detach first: if that failed, a view could outlive the wipe.
  EnvState* state = StateOf(env);
  if (state->detach_key != nullptr) {
    napi_value key = nullptr;
    napi_get_reference_value(env, state->detach_key, &key);
    if (!detach_guard::detach(env, arraybuffer, key)) throw Napi::Error::New(env);
    ForgetKeyed(env, state, data);
  } else {
    NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, arraybuffer), Napi::Value());
  }
  bool trim = false;
  bool freed = SecretPool::instance().free_owned(reinterpret_cast<uintptr_t>(data), state, &trim);
  return Napi::Number::New(env, !freed ? 1 : trim ? 2 : 0);
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
  set("checkedUnmaps", s.checked_unmaps);
  set("dirtyUnmaps", s.dirty_unmaps);
  return obj;
}

// Test hook: before unmapping, check that the memory was zeroed, and count.
Napi::Value SetVerifyWipe(const Napi::CallbackInfo& info) {
  SecretPool::instance().set_verify_wipe(info[0].ToBoolean());
  return info.Env().Undefined();
}

// Test hook: a forked child reads the view's bytes and sends them back.
// The child may die (MADV_DONTFORK memory is not there): status says how.
struct ForkRead {
  uintptr_t addr;
  size_t len;
};
ForkRead fork_read;  // set just before fork, on the calling thread

int SendBytesFromChild(int fd) {
  const char* bytes = reinterpret_cast<const char*>(fork_read.addr);
  return write(fd, bytes, fork_read.len) == static_cast<ssize_t>(fork_read.len) ? 0 : 1;
}

Napi::Value ForkReadBytes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes bytes = ViewBytes(info[0]);
  if (bytes.len > 65536) throw Napi::RangeError::New(env, "memlock: at most 64 KiB");
  fork_read = ForkRead{bytes.addr, bytes.len};
  std::vector<char> out(bytes.len);
  size_t len = out.size();
  int status = platform::fork_and_collect(SendBytesFromChild, out.data(), &len);
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("status", Napi::Number::New(env, status));
  obj.Set("bytes", Napi::Buffer<char>::Copy(env, out.data(), len));
  return obj;
}

// Test hook, exported only with MEMLOCK_TEST_HOOKS=1: bare mlockall with no
// protection, to show why memlock's lockAll is needed.
Napi::Value RawLockAll(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), platform::lock_all(info[0].As<Napi::Number>().Int32Value()));
}

// Test hook, exported only with MEMLOCK_TEST_HOOKS=1: take the fallback a
// kernel without MADV_DONTNEED_LOCKED needs.
Napi::Value ForceMadviseFallback(const Napi::CallbackInfo& info) {
  madvise_hook::set_force_fallback(info[0].ToBoolean());
  return info.Env().Undefined();
}

// Test hook, exported only with MEMLOCK_TEST_HOOKS=1: writes one byte at
// `offset` from the view's start, past its end if asked (a guard page test).
Napi::Value PokeByte(const Napi::CallbackInfo& info) {
  Bytes bytes = ViewBytes(info[0]);
  int64_t offset = info[1].As<Napi::Number>().Int64Value();
  *reinterpret_cast<volatile unsigned char*>(bytes.addr + offset) = 0x5A;
  return info.Env().Undefined();
}

#ifdef MEMLOCK_FAULT_INJECTION
// injectFault(syscall, nth, errno): the nth call of that syscall fails (test build only).
Napi::Value InjectFault(const Napi::CallbackInfo& info) {
  fault::arm(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
             info[2].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value ClearFault(const Napi::CallbackInfo& info) {
  fault::disarm();
  return Napi::Number::New(info.Env(), fault::fired());
}
#endif

Napi::Value RawFunction(Napi::Env env, const char* name, napi_callback callback, EnvState* state) {
  napi_value fn = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, state, &fn), Napi::Value());
  return Napi::Value(env, fn);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState* state = new EnvState();
  env.SetInstanceData<EnvState, FinalizeEnvState>(state);
  // Detach keys only where node and V8 throw on a keyed buffer: Node 20 and
  // 22 abort the process instead (their messaging and ArrayBuffer.transfer).
  const napi_node_version* version = nullptr;
  bool keys = napi_get_node_version(env, &version) == napi_ok && version->major >= 24 && detach_guard::available();
  if (keys) {
    napi_value key = nullptr;
    NAPI_THROW_IF_FAILED(env, napi_create_object(env, &key), exports);
    NAPI_THROW_IF_FAILED(env, napi_create_reference(env, key, 1, &state->detach_key), exports);
  }
  exports.Set("detachGuard", Napi::String::New(env, keys ? "key" : "mark"));
  napi_value scratch_buffer = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_external_arraybuffer(env, state->scratch, sizeof(state->scratch), nullptr,
                                                             nullptr, &scratch_buffer),
                       exports);
  exports.Set("scratch", Napi::Float64Array::New(env, kScratchSlots, Napi::ArrayBuffer(env, scratch_buffer), 0));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(platform::page_size())));
  exports.Set("physicalPages", Napi::Number::New(env, static_cast<double>(platform::physical_pages())));
  exports.Set("lock", RawFunction(env, "lock", Lock, state));
  exports.Set("release", RawFunction(env, "release", Release, state));
  exports.Set("releaseLatest", RawFunction(env, "releaseLatest", ReleaseLatest, state));
  exports.Set("isHeld", RawFunction(env, "isHeld", IsHeld, state));
  exports.Set("setDetachKey", Napi::Function::New(env, SetDetachKeyFromJs, "setDetachKey"));
  exports.Set("clearDetachKeys", Napi::Function::New(env, ClearDetachKeys, "clearDetachKeys"));
  exports.Set("rawMlock", RawFunction(env, "rawMlock", RawRange<platform::lock_range>, state));
  exports.Set("rawMunlock", RawFunction(env, "rawMunlock", RawRange<platform::unlock_range>, state));
  exports.Set("counts", Napi::Function::New(env, Counts, "counts"));
  exports.Set("residentPages", Napi::Function::New(env, ResidentPages, "residentPages"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("isDetached", Napi::Function::New(env, IsDetached, "isDetached"));
  exports.Set("stats", Napi::Function::New(env, GetStats, "stats"));
  exports.Set("getLimit", Napi::Function::New(env, GetLimit, "getLimit"));
  exports.Set("setLimit", Napi::Function::New(env, SetLimit, "setLimit"));
  exports.Set("mappingCount", Napi::Function::New(env, MappingCount, "mappingCount"));
  exports.Set("memlockRlimit", Napi::Function::New(env, MemlockRlimit, "memlockRlimit"));
  exports.Set("forkProbe", Napi::Function::New(env, ForkProbe, "forkProbe"));
  exports.Set("lockAll", Napi::Function::New(env, LockAll, "lockAll"));
  exports.Set("unlockAll", Napi::Function::New(env, UnlockAll, "unlockAll"));
  exports.Set("lockAllFlags", Napi::Function::New(env, LockAllFlags, "lockAllFlags"));
  exports.Set("madviseHookCounts", Napi::Function::New(env, MadviseHookCounts, "madviseHookCounts"));
  exports.Set("setThreadId", Napi::Function::New(env, SetThreadId, "setThreadId"));
  exports.Set("annotate", Napi::Function::New(env, Annotate, "annotate"));
  exports.Set("locks", Napi::Function::New(env, Locks, "locks"));
  exports.Set("lockedRuns", Napi::Function::New(env, LockedRuns, "lockedRuns"));
  exports.Set("allocSecret", Napi::Function::New(env, AllocSecret, "allocSecret"));
  exports.Set("freeSecret", Napi::Function::New(env, FreeSecret, "freeSecret"));
  exports.Set("trimSecrets", Napi::Function::New(env, TrimSecrets, "trimSecrets"));
  exports.Set("secretStats", Napi::Function::New(env, GetSecretStats, "secretStats"));
  exports.Set("setVerifyWipe", Napi::Function::New(env, SetVerifyWipe, "setVerifyWipe"));
  exports.Set("forkReadBytes", Napi::Function::New(env, ForkReadBytes, "forkReadBytes"));
  register_paging(env, exports);
#ifdef MEMLOCK_FAULT_INJECTION
  exports.Set("injectFault", Napi::Function::New(env, InjectFault, "injectFault"));
  exports.Set("clearFault", Napi::Function::New(env, ClearFault, "clearFault"));
#endif
  const char* hooks = getenv("MEMLOCK_TEST_HOOKS");
  if (hooks != nullptr && strcmp(hooks, "1") == 0) {
    exports.Set("pokeByte", Napi::Function::New(env, PokeByte, "pokeByte"));
    exports.Set("rawLockAll", Napi::Function::New(env, RawLockAll, "rawLockAll"));
    exports.Set("forceMadviseFallback", Napi::Function::New(env, ForceMadviseFallback, "forceMadviseFallback"));
  }
  return exports;
}

}  // namespace
}  // namespace memlock

static Napi::Object InitMemlock(Napi::Env env, Napi::Object exports) { return memlock::Init(env, exports); }

NODE_API_MODULE(memlock, InitMemlock)
