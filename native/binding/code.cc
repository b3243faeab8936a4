// lockCode()'s glue: the ranges come from /proc/self/maps, read in
// src/locks/lock-code.ts; the locking is core/code_locks.cc's.
#include <string>
#include <vector>

#include "binding/families.h"
#include "core/code_locks.h"
#include "platform/platform.h"

namespace memlock {
namespace {

// lockRanges(Float64Array [start, end, ...], labels) -> Float64Array of lock
// ids, one per range (0: the range is no longer mapped), all or none |
// -errno | kLimitExceeded | kMapCountExceeded; scratch = [index of the range
// refused, -, failed syscall, mappings, cap, margin]. A lock per range,
// owned by this environment, each labelled.
Napi::Value LockRanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      !info[1].IsArray()) {
    throw Napi::TypeError::New(env, "memlock: lockRanges(Float64Array of ranges, labels)");
  }
  Napi::Float64Array ranges = info[0].As<Napi::Float64Array>();
  Napi::Array labels = info[1].As<Napi::Array>();
  const size_t count = ranges.ElementLength() / 2;
  const uint64_t ps = platform::page_size();
  // Read whole before any lock is taken: a throw part way leaves no count behind.
  std::vector<CodeRange> code;
  code.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    double start = ranges[2 * i], end = ranges[2 * i + 1];
    // Never a range that could wrap or that is not whole pages.
    if (!(start > 0 && end > start && end < 9007199254740992.0) || static_cast<uint64_t>(start) % ps != 0 ||
        static_cast<uint64_t>(end) % ps != 0) {
      throw Napi::RangeError::New(env, "memlock: a range is not whole pages");
    }
    code.push_back(CodeRange{static_cast<uintptr_t>(start), static_cast<size_t>(end - start),
                             labels.Get(static_cast<uint32_t>(i)).As<Napi::String>().Utf8Value()});
  }
  EnvState* state = StateOf(env);
  CodeLockOutcome outcome = lock_code_ranges(Locker::instance(), state, state->thread_id, code);
  if (outcome.error < 0) {
    state->scratch[kScratchFailedRange] = static_cast<double>(outcome.failed_range);
    state->scratch[kScratchFailedSyscall] = static_cast<double>(static_cast<int>(outcome.failed));
    if (outcome.error == kMapCountExceeded) ScratchMappings(state->scratch, outcome.mappings);
    return Napi::Number::New(env, static_cast<double>(outcome.error));
  }
  Napi::Float64Array out = Napi::Float64Array::New(env, count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<double>(outcome.ids[i]);
  return out;
}

}  // namespace

void register_code(Napi::Env env, Napi::Object exports) {
  exports.Set("lockRanges", Napi::Function::New(env, LockRanges, "lockRanges"));
}

}  // namespace memlock
