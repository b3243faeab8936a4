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

}  // namespace

void register_diagnostics(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreadId", Napi::Function::New(env, SetThreadId, "setThreadId"));
  exports.Set("annotate", Napi::Function::New(env, Annotate, "annotate"));
  exports.Set("locks", Napi::Function::New(env, Locks, "locks"));
  exports.Set("verify", Napi::Function::New(env, Verify, "verify"));
}

}  // namespace memlock
