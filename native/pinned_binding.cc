#include "pinned_binding.h"

#include <cerrno>
#include <string>
#include <vector>

#include "env_state.h"
#include "locker.h"
#include "pinned_memory.h"
#include "platform.h"

namespace memlock {
namespace {

// The largest buffer allocPinned maps; src/pinned.ts refuses more first.
constexpr double kMaxPinnedSize = 1ULL << 46;

// Runs on the JS thread once a pinned Buffer is garbage-collected (or
// detached by free, in which case the buffer is gone and this does nothing).
void FinalizePinned(napi_env /*env*/, void* data, void* serial) {
  PinnedMemory::instance().free_if_current(reinterpret_cast<uintptr_t>(data),
                                           static_cast<uint64_t>(reinterpret_cast<uintptr_t>(serial)));
}

bool PowerOfTwo(double value) {
  if (!(value >= 0 && value <= kMaxPinnedSize)) return false;
  uint64_t n = static_cast<uint64_t>(value);
  return static_cast<double>(n) == value && (n & (n - 1)) == 0;
}

// allocPinned(size, flags, hugetlbPage, thpAlign, label) -> Buffer ('mark'
// mode) | ArrayBuffer ('key' mode) | -errno | kLimitExceeded |
// kMapCountExceeded; scratch = [bytes mapped, -, failed syscall, mappings,
// cap, margin, pages it tried to lock]
Napi::Value AllocPinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double size = info[0].As<Napi::Number>().DoubleValue();
  uint32_t flags = info[1].As<Napi::Number>().Uint32Value();
  double hugetlb_page = info[2].As<Napi::Number>().DoubleValue();
  double thp_align = info[3].As<Napi::Number>().DoubleValue();
  if (!(size >= 1 && size <= kMaxPinnedSize) || !PowerOfTwo(hugetlb_page) || !PowerOfTwo(thp_align)) {
    throw Napi::RangeError::New(env, "memlock: pinned buffer size or page size out of range");
  }
  EnvState* state = StateOf(env);
  PinnedRequest request{static_cast<size_t>(size),
                        static_cast<size_t>(hugetlb_page),
                        static_cast<size_t>(thp_align),
                        (flags & kPinnedOnFault) != 0,
                        (flags & kPinnedPrefault) != 0,
                        (flags & kPinnedDropOnFork) != 0,
                        state,
                        state->thread_id,
                        info[4].As<Napi::String>().Utf8Value()};
  PinnedMemory& memory = PinnedMemory::instance();
  PinnedResult result = memory.allocate(request);
  state->scratch[kScratchMappedBytes] = static_cast<double>(result.mapped);
  state->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(result.failed));
  state->scratch[kScratchLockPages] = static_cast<double>(result.lock_pages);
  if (result.error == kMapCountExceeded) ScratchMappings(state->scratch, result.mappings);
  if (result.addr == 0) return Napi::Number::New(env, static_cast<double>(result.error));
  void* data = reinterpret_cast<void*>(result.addr);
  void* serial = reinterpret_cast<void*>(static_cast<uintptr_t>(result.serial));
  napi_value value = nullptr;
  napi_status status = WrapOwnedMemory(env, data, request.size, GuardedFinalize<FinalizePinned>, serial, &value);
  if (status != napi_ok) {
    memory.free_if_current(result.addr, result.serial);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, value);
}

// freePinned(buffer) -> 0 freed | 1 not a live pinned buffer of this thread
Napi::Value FreePinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Detach first: a view that outlived the unmap would fault on access.
  void* data = DetachOwnedMemory(info);
  if (data == nullptr) return Napi::Number::New(env, 1);  // detached: freed already
  bool freed = PinnedMemory::instance().free_owned(reinterpret_cast<uintptr_t>(data), StateOf(env));
  return Napi::Number::New(env, freed ? 0 : 1);
}

Napi::Value GetPinnedStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PinnedStats s = PinnedMemory::instance().stats();
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("live", Napi::Number::New(env, static_cast<double>(s.live)));
  obj.Set("mappedBytes", Napi::Number::New(env, static_cast<double>(s.mapped_bytes)));
  return obj;
}

// lockRanges(Float64Array [start, end, ...], label) -> Float64Array of lock
// ids, one per range (0: the range is no longer mapped), all or none | -errno | kLimitExceeded |
// kMapCountExceeded; scratch = [index of the range refused, -, failed
// syscall, mappings, cap, margin]. Ranges are page-aligned mappings the
// caller read from /proc/self/maps; a lock per range, owned by this
// environment, each labelled.
Napi::Value LockRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "memlock: expected a Float64Array of ranges");
  }
  Napi::Float64Array ranges = info[0].As<Napi::Float64Array>();
  Napi::Array labels = info[1].As<Napi::Array>();
  const size_t count = ranges.ElementLength() / 2;
  const uint64_t ps = platform::page_size();
  for (size_t i = 0; i < count; ++i) {
    double start = ranges[2 * i], end = ranges[2 * i + 1];
    // Never a range that could wrap or that is not whole pages.
    if (!(start > 0 && end > start && end < 9007199254740992.0) || static_cast<uint64_t>(start) % ps != 0 ||
        static_cast<uint64_t>(end) % ps != 0) {
      throw Napi::RangeError::New(env, "memlock: a range is not whole pages");
    }
  }
  // Read before any lock is taken: a throw part way leaves no count behind.
  std::vector<std::string> names;
  names.reserve(count);
  for (size_t i = 0; i < count; ++i) names.push_back(labels.Get(static_cast<uint32_t>(i)).As<Napi::String>().Utf8Value());
  EnvState* state = StateOf(env);
  Locker& locker = Locker::instance();
  // Counts on code that went with an exited worker go before new ones come.
  locker.settle_watched();
  if (int rc = locker.guard_code_releases(); rc < 0) {
    state->scratch[kScratchFailedRange] = 0;
    state->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(Syscall::kNone));
    return Napi::Number::New(env, rc);
  }
  std::vector<int64_t> ids;
  ids.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    uintptr_t start = static_cast<uintptr_t>(ranges[2 * i]);
    size_t len = static_cast<size_t>(ranges[2 * i + 1]) - start;
    LockOutcome out = locker.lock(state, start, len, false, 0, state->thread_id, false);
    // A mapping unmapped since the caller read the maps (a worker's code,
    // gone with the worker) is not locked and is no failure: id 0.
    if (out.id == -ENOMEM && platform::resident_pages(start, len) == -ENOMEM) {
      ids.push_back(0);
      continue;
    }
    if (out.id < 0) {
      // All or none: the ranges locked so far are released again.
      for (int64_t id : ids) {
        if (id > 0) locker.release(state, id);
      }
      state->scratch[kScratchFailedRange] = static_cast<double>(i);
      state->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(out.failed));
      if (out.id == kMapCountExceeded) ScratchMappings(state->scratch, out.mappings);
      return Napi::Number::New(env, static_cast<double>(out.id));
    }
    ids.push_back(out.id);
    // Code can be unmapped by others (a worker's builtins): watched.
    locker.watch_unmapping(start, len, false);
    locker.annotate(out.id, true, names[i], "");
  }
  Napi::Float64Array out = Napi::Float64Array::New(env, count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<double>(ids[i]);
  return out;
}

}  // namespace

void register_pinned(Napi::Env env, Napi::Object exports) {
  exports.Set("allocPinned", Napi::Function::New(env, AllocPinned, "allocPinned"));
  exports.Set("freePinned", Napi::Function::New(env, FreePinned, "freePinned"));
  exports.Set("pinnedStats", Napi::Function::New(env, GetPinnedStats, "pinnedStats"));
  exports.Set("lockRanges", Napi::Function::New(env, LockRanges, "lockRanges"));
}

}  // namespace memlock
