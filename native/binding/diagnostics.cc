// Diagnostics: the held locks with their labels and stacks, and verify()
// against the kernel's account.
#include <string>
#include <vector>

#include "binding/families.h"
#include "core/locker.h"
#include "platform/platform.h"

namespace memlock {
namespace {

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

// locks(after?, limit?) -> { rows: Float64Array (kLockFieldCount numbers per
// lock, oldest first), notes: [row, label | undefined, stack, ...] for the
// locks that have a label or a stack, last: the sequence of the last row,
// more: whether locks follow it }. after < 0: from the oldest.
Napi::Value Locks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Locker::LockInfo> locks;
  std::vector<Locker::LockNote> noted_locks;
  const double after = info.Length() > 0 ? info[0].As<Napi::Number>().DoubleValue() : -1;
  const double limit = info.Length() > 1 ? info[1].As<Napi::Number>().DoubleValue() : -1;
  uint64_t last = 0;
  const bool more =
      Locker::instance().locks(&locks, &noted_locks, after < 0 ? Locker::kFromStart : static_cast<int64_t>(after),
                               limit < 0 ? SIZE_MAX : static_cast<size_t>(limit), &last);
  const double ps = static_cast<double>(platform::page_size());
  const void* own = StateOf(env);
  Napi::Float64Array rows = Napi::Float64Array::New(env, locks.size() * kLockFieldCount);
  double* row = rows.Data();

  for (size_t i = 0; i < locks.size(); ++i, row += kLockFieldCount) {
    const Locker::LockInfo& l = locks[i];
    row[kLockAddress] = static_cast<double>(l.record.addr);
    row[kLockLength] = static_cast<double>(l.record.len);
    row[kLockStart] = static_cast<double>(l.covered.first) * ps;
    row[kLockPages] = static_cast<double>(l.covered.pages);
    row[kLockCount] = l.max_count;
    row[kLockThreadId] = l.record.thread_id;
    row[kLockId] = static_cast<double>(l.id);
    row[kLockFlags] = (l.record.on_fault ? kLockFlagOnFault : 0) | (l.record.owner == own ? kLockFlagOwn : 0);
  }
  Napi::Array notes = Napi::Array::New(env, noted_locks.size() * 3);
  uint32_t n = 0;
  for (const Locker::LockNote& note : noted_locks) {
    notes.Set(n++, Napi::Number::New(env, static_cast<double>(note.index)));
    notes.Set(n++, note.labelled ? Napi::Value(Napi::String::New(env, note.label)) : env.Undefined());
    notes.Set(n++, Napi::String::New(env, note.stack));
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("rows", rows);
  out.Set("notes", notes);
  out.Set("last", Napi::Number::New(env, static_cast<double>(last)));
  out.Set("more", Napi::Boolean::New(env, more));
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

}  // namespace

void register_diagnostics(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadId", Napi::Function::New(env, SetThreadId, "setThreadId"));
  exports.Set("annotate", Napi::Function::New(env, Annotate, "annotate"));
  exports.Set("locks", Napi::Function::New(env, Locks, "locks"));
  exports.Set("verify", Napi::Function::New(env, Verify, "verify"));
}

}  // namespace memlock
