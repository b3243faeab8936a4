#include "binding/families.h"

#include <cerrno>
#include <string>
#include <vector>

#include "binding/cage_buffers.h"
#include "binding/env_state.h"
#include "core/locker.h"
#include "core/pinned_memory.h"
#include "platform/platform.h"

namespace memlock {
namespace {

// The largest buffer allocPinned maps; src/memory/pinned.ts refuses more first.
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

// allocPinned under V8's sandbox: whole pages of a V8 Buffer, locked in
// place (on fault if asked). No huge pages, no drop on fork (the pages are
// in V8's heap): a forked child gets a copy.
Napi::Value AllocPinnedInV8Heap(Napi::Env env, EnvState* state, const PinnedRequest& request) {
  CageResult result;
  napi_value value = nullptr;
  std::string label = request.label.empty() ? "memlock: pinned in V8's memory" : request.label;
  NAPI_THROW_IF_FAILED(
      env,
      AllocCageBuffer(env, state, CageBufferRequest{request.size, true, request.on_fault, false, label.c_str()},
                      &result, &value),
      Napi::Value());
  state->scratch[kScratchInV8Heap] = 1;
  state->scratch[kScratchMappedBytes] = static_cast<double>(result.lock_pages * platform::page_size());
  state->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(result.failed));
  state->scratch[kScratchLockPages] = static_cast<double>(result.lock_pages);
  if (result.error == kMapCountExceeded) ScratchMappings(state->scratch, result.mappings);
  if (value == nullptr) return Napi::Number::New(env, static_cast<double>(result.error));
  return Napi::Value(env, value);
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
  state->scratch[kScratchInV8Heap] = 0;
  if (Caged()) return AllocPinnedInV8Heap(env, state, request);
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
    // V8's sandbox: from now on every pinned buffer is in V8's memory.
    if (NoteSandboxRefusal(status)) return AllocPinnedInV8Heap(env, state, request);
    NAPI_THROW_IF_FAILED(env, status, Napi::Value());
  }
  return Napi::Value(env, value);
}

// freePinned(buffer) -> 0 freed | 1 not a live pinned buffer of this thread
Napi::Value FreePinned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // V8's memory: zeroed and unlocked, then detached.
  if (FreeCageBuffer(info)) return Napi::Number::New(env, 0);
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

}  // namespace

void register_pinned(Napi::Env env, Napi::Object exports) {
  exports.Set("allocPinned", Napi::Function::New(env, AllocPinned, "allocPinned"));
  exports.Set("freePinned", Napi::Function::New(env, FreePinned, "freePinned"));
  exports.Set("pinnedStats", Napi::Function::New(env, GetPinnedStats, "pinnedStats"));
}

}  // namespace memlock
