// psiWatch / psiUnwatch / pagingSample. Failures come back as -errno, as in
// binding.cc; thrown are only arguments that would be unsafe to act on.
//
// Lifetime of a watch: psiWatch creates a thread-safe function (unref'd, so
// a watch never keeps the process alive) and a Watcher thread that calls it.
// It ends by whichever comes first:
//   - psiUnwatch(handle), on the JavaScript thread: joins the thread, then
//     aborts the thread-safe function;
//   - the environment's teardown (a worker's exit, the process's exit): the
//     cleanup hook joins the thread. It was added after the thread-safe
//     function was created, so it runs before node tears that down: the
//     thread never calls into an environment that is gone.
// The handle's finalizer then frees what is left.
#include "psi_binding.h"

#include <memory>

#include "paging_sample.h"
#include "psi_monitor.h"

namespace memlock {
namespace {

struct Watch {
  napi_env env = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  psi::Watcher* watcher = nullptr;
  bool hooked = false;
};

void CleanupWatch(void* arg);

// env_alive: false from the cleanup hook, where node itself is about to
// finalize the thread-safe function and no hook may be removed.
void StopWatch(Watch* w, bool env_alive) {
  if (w->watcher != nullptr) {
    w->watcher->stop();
    delete w->watcher;
    w->watcher = nullptr;
  }
  if (w->tsfn != nullptr && env_alive) napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  w->tsfn = nullptr;
  if (w->hooked && env_alive) napi_remove_env_cleanup_hook(w->env, CleanupWatch, w);
  w->hooked = false;
}

void CleanupWatch(void* arg) {
  Watch* w = static_cast<Watch*>(arg);
  w->hooked = false;  // node is running it, and drops it after
  StopWatch(w, false);
}

void FinalizeWatch(napi_env /*env*/, void* data, void* /*hint*/) {
  Watch* w = static_cast<Watch*>(data);
  StopWatch(w, true);
  delete w;
}

// On the JavaScript thread; env is null when the function is being torn
// down with wakes still queued, which then only need freeing.
void CallJs(napi_env env, napi_value callback, void* /*context*/, void* data) {
  std::unique_ptr<psi::Wake> wake(static_cast<psi::Wake*>(data));
  if (env == nullptr || callback == nullptr) return;
  napi_value args[4], undefined;
  napi_create_double(env, wake->time_ms, &args[0]);
  napi_create_double(env, wake->some_us, &args[1]);
  napi_create_double(env, wake->full_us, &args[2]);
  napi_create_int32(env, wake->error, &args[3]);
  napi_get_undefined(env, &undefined);
  // A throw from the listener surfaces as an uncaught exception, as from any
  // other event source.
  napi_call_function(env, undefined, callback, 4, args, nullptr);
}

// On the watcher thread. Non-blocking: the kernel sends at most one trigger
// event per window, so the queue stays short; when the function is closing,
// the wake is dropped.
void Deliver(void* context, const psi::Wake& wake) {
  Watch* w = static_cast<Watch*>(context);
  auto* copy = new psi::Wake(wake);
  if (napi_call_threadsafe_function(w->tsfn, copy, napi_tsfn_nonblocking) != napi_ok) delete copy;
}

// psiWatch(fd, trigger, onWake(timeMs, someUs, fullUs, errno)) -> handle | -errno.
// Watches a duplicate of fd; the caller closes fd itself.
Napi::Value PsiWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[2].IsFunction()) throw Napi::TypeError::New(env, "memlock: psiWatch(fd, trigger, onWake)");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) throw Napi::RangeError::New(env, "memlock: bad fd");
  auto w = std::make_unique<Watch>();
  w->env = env;
  napi_value name = Napi::String::New(env, "memlock:pressure");
  NAPI_THROW_IF_FAILED(env, napi_create_threadsafe_function(env, info[2], nullptr, name, 0, 1, nullptr, nullptr, w.get(),
                                                            CallJs, &w->tsfn),
                       Napi::Value());
  napi_unref_threadsafe_function(env, w->tsfn);
  int rc = psi::Watcher::start(fd, info[1].ToBoolean(), Deliver, w.get(), &w->watcher);
  if (rc < 0) {
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    return Napi::Number::New(env, rc);
  }
  NAPI_THROW_IF_FAILED(env, napi_add_env_cleanup_hook(env, CleanupWatch, w.get()), Napi::Value());
  w->hooked = true;
  Watch* raw = w.release();
  napi_value handle = nullptr;
  if (napi_create_external(env, raw, FinalizeWatch, nullptr, &handle) != napi_ok) {
    StopWatch(raw, true);
    delete raw;
    throw Napi::Error::New(env);
  }
  return Napi::Value(env, handle);
}

// psiUnwatch(handle): idempotent.
Napi::Value PsiUnwatch(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "memlock: psiUnwatch(handle)");
  StopWatch(info[0].As<Napi::External<Watch>>().Data(), true);
  return info.Env().Undefined();
}

// pagingSample(out: Float64Array, schedFd, psiFd): fills out (see paging_sample.h).
Napi::Value PagingSample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() < paging::kSlotCount) {
    throw Napi::TypeError::New(env, "memlock: pagingSample needs a Float64Array of pagingSlots.count");
  }
  int sched_fd = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  int psi_fd = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
  paging::take_sample(sched_fd, psi_fd, info[0].As<Napi::Float64Array>().Data());
  return env.Undefined();
}

}  // namespace

void register_paging(Napi::Env env, Napi::Object exports) {
  exports.Set("psiWatch", Napi::Function::New(env, PsiWatch, "psiWatch"));
  exports.Set("psiUnwatch", Napi::Function::New(env, PsiUnwatch, "psiUnwatch"));
  exports.Set("pagingSample", Napi::Function::New(env, PagingSample, "pagingSample"));
  Napi::Object slots = Napi::Object::New(env);
  slots.Set("threadMajor", static_cast<double>(paging::kThreadMajor));
  slots.Set("threadMinor", static_cast<double>(paging::kThreadMinor));
  slots.Set("threadCpuUs", static_cast<double>(paging::kThreadCpuUs));
  slots.Set("threadVoluntary", static_cast<double>(paging::kThreadVoluntary));
  slots.Set("threadInvoluntary", static_cast<double>(paging::kThreadInvoluntary));
  slots.Set("runNs", static_cast<double>(paging::kRunNs));
  slots.Set("waitNs", static_cast<double>(paging::kWaitNs));
  slots.Set("processMajor", static_cast<double>(paging::kProcessMajor));
  slots.Set("processMinor", static_cast<double>(paging::kProcessMinor));
  slots.Set("someTotalUs", static_cast<double>(paging::kSomeTotalUs));
  slots.Set("fullTotalUs", static_cast<double>(paging::kFullTotalUs));
  slots.Set("timeMs", static_cast<double>(paging::kTimeMs));
  slots.Set("count", static_cast<double>(paging::kSlotCount));
  exports.Set("pagingSlots", slots);
}

}  // namespace memlock
