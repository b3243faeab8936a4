// N-API glue: unpacks arguments, keeps locked views reachable, and turns
// Locker outcomes into plain JS values. Failures are returned, not thrown:
// the TypeScript layer builds the MemlockError (STYLE.md, native boundary).
// Thrown here are only calls that would be unsafe to carry out, which the
// TypeScript layer refuses before they get this far.
#include <napi.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "locker.h"
#include "platform.h"

namespace memlock {
namespace {

// One per environment (main thread, each worker). Its address is the owner
// of the environment's locks; when the environment goes away, so do they.
struct EnvState {
  // Secondary results of the last call, shared with JS so the hot calls can
  // return a plain number: [0] pages covered, [1] pages newly sticky,
  // [2] the Syscall that failed.
  double* scratch = nullptr;
  Napi::Reference<Napi::Float64Array> scratch_ref;
};
constexpr size_t kScratchSlots = 4;

void FinalizeEnvState(Napi::Env, EnvState* state) {
  Locker::instance().release_owner(state);
  state->scratch_ref.SuppressDestruct();  // the environment is going away with it
  delete state;
}

EnvState* StateOf(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

struct Bytes {
  uintptr_t addr;
  size_t len;
};

// The bytes of a TypedArray or DataView. ArrayBuffers and SharedArrayBuffers
// arrive wrapped in a Uint8Array (N-API in Node 20 cannot see into a SAB).
Bytes ViewBytes(const Napi::Value& value) {
  napi_env env = value.Env();
  void* data = nullptr;
  size_t len = 0;
  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length;
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr),
                         Bytes{});
    len = value.As<Napi::TypedArray>().ByteLength();
  } else if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    NAPI_THROW_IF_FAILED(env, napi_get_dataview_info(env, value, &len, &data, nullptr, nullptr), Bytes{});
  } else {
    throw Napi::TypeError::New(env, "memlock: expected a TypedArray or DataView");
  }
  if (data == nullptr || len == 0) {
    throw Napi::RangeError::New(env, "memlock: view is empty or detached");
  }
  return Bytes{reinterpret_cast<uintptr_t>(data), len};
}

int64_t IdArg(const Napi::CallbackInfo& info) {
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "memlock: expected a lock id");
  return info[0].As<Napi::Number>().Int64Value();
}

void DeleteRef(napi_env env, void* user) {
  if (user != nullptr) napi_delete_reference(env, static_cast<napi_ref>(user));
}

// lock(view, onFault) -> id (> 0) | -errno | kLimitExceeded; details in scratch.
Napi::Value Lock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnvState* state = StateOf(env);
  Bytes bytes = ViewBytes(info[0]);
  bool on_fault = info[1].ToBoolean();
  // Holding the view keeps its memory mapped for as long as the lock is held.
  napi_ref ref = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, info[0], 1, &ref), Napi::Value());
  Locker& locker = Locker::instance();
  LockOutcome out = locker.lock(state, bytes.addr, bytes.len, on_fault, ref);
  if (out.id < 0) DeleteRef(env, ref);
  state->scratch[0] = static_cast<double>(locker.pages_spanned(bytes.addr, bytes.len));
  state->scratch[1] = static_cast<double>(out.newly_sticky);
  state->scratch[2] = static_cast<double>(static_cast<int>(out.failed));
  return Napi::Number::New(env, static_cast<double>(out.id));
}

// release(id) -> 0 released | 1 not held | -errno (munlock refused)
Napi::Value Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ReleaseOutcome out = Locker::instance().release(StateOf(env), IdArg(info));
  DeleteRef(env, out.user);
  return Napi::Number::New(env, static_cast<double>(out.status));
}

// releaseLatest(view) -> id released (> 0) | 0 none held | -errno
Napi::Value ReleaseLatest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Bytes bytes = ViewBytes(info[0]);
  ReleaseOutcome out = Locker::instance().release_latest(StateOf(env), bytes.addr, bytes.len);
  DeleteRef(env, out.user);
  double result = out.status < 0 ? static_cast<double>(out.status) : out.status == 0 ? out.id : 0;
  return Napi::Number::New(env, result);
}

Napi::Value IsHeld(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Locker::instance().is_held(StateOf(info.Env()), IdArg(info)));
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
  obj.Set("tableRuns", Napi::Number::New(env, static_cast<double>(s.table_runs)));
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  EnvState* state = new EnvState();
  Napi::Float64Array scratch = Napi::Float64Array::New(env, kScratchSlots);
  state->scratch = scratch.Data();
  state->scratch_ref = Napi::Persistent(scratch);
  env.SetInstanceData<EnvState, FinalizeEnvState>(state);
  exports.Set("scratch", scratch);
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(platform::page_size())));
  exports.Set("physicalPages", Napi::Number::New(env, static_cast<double>(platform::physical_pages())));
  exports.Set("lock", Napi::Function::New(env, Lock, "lock"));
  exports.Set("release", Napi::Function::New(env, Release, "release"));
  exports.Set("releaseLatest", Napi::Function::New(env, ReleaseLatest, "releaseLatest"));
  exports.Set("isHeld", Napi::Function::New(env, IsHeld, "isHeld"));
  exports.Set("counts", Napi::Function::New(env, Counts, "counts"));
  exports.Set("residentPages", Napi::Function::New(env, ResidentPages, "residentPages"));
  exports.Set("addressOf", Napi::Function::New(env, AddressOf, "addressOf"));
  exports.Set("isDetached", Napi::Function::New(env, IsDetached, "isDetached"));
  exports.Set("stats", Napi::Function::New(env, GetStats, "stats"));
  exports.Set("getLimit", Napi::Function::New(env, GetLimit, "getLimit"));
  exports.Set("setLimit", Napi::Function::New(env, SetLimit, "setLimit"));
  exports.Set("memlockRlimit", Napi::Function::New(env, MemlockRlimit, "memlockRlimit"));
  exports.Set("forkProbe", Napi::Function::New(env, ForkProbe, "forkProbe"));
  return exports;
}

}  // namespace
}  // namespace memlock

static Napi::Object InitMemlock(Napi::Env env, Napi::Object exports) { return memlock::Init(env, exports); }

NODE_API_MODULE(memlock, InitMemlock)
