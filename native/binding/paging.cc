// pagingWatch / pagingUnwatch / pagingSample / cgroupEventfd. Failures come back as -errno,
// as in binding.cc; thrown are only arguments that would be unsafe to act on.
//
// A monitor delivers two kinds of event to one JavaScript function, through
// one thread-safe function (unref'd: a monitor never keeps the process
// alive): a pressure wake from the watcher thread, and a stall window from
// the loop watch (queued from the loop's prepare callback, where JavaScript
// may not run). It ends by whichever comes first:
//   - pagingUnwatch(handle), on the JavaScript thread: joins the watcher
//     thread, closes the loop watch, aborts the thread-safe function;
//   - the environment's teardown (a worker's exit, the process's exit): an
//     async cleanup hook joins the thread and closes the loop watch, and
//     tells node it is done once libuv has closed the handle. The hook was
//     added after the thread-safe function was created, so it runs before
//     node tears that down: nothing calls into an environment that is gone.
// The handle's finalizer then frees what is left.
#include "binding/families.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <memory>
#include <string>

#include "paging/loop_watch.h"
#include "paging/paging_sample.h"
#include "paging/psi_monitor.h"

namespace memlock {
namespace {

using namespace paging;

struct Event {
  EventKind kind;
  double data[kStallLength];
  int length;
};

struct Monitor {
  napi_env env = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  psi::Watcher* watcher = nullptr;
  paging::LoopWatch* loop = nullptr;
  napi_async_cleanup_hook_handle hook = nullptr;
  bool orphan = false;  // no handle was made: the cleanup hook frees it
};

void Queue(Monitor* m, Event* event) {
  if (m->tsfn == nullptr || napi_call_threadsafe_function(m->tsfn, event, napi_tsfn_nonblocking) != napi_ok)
    delete event;
}

// On the watcher thread. Non-blocking: the kernel sends at most one trigger
// event per window, so the queue stays short; a counter's wakes coalesce in
// its eventfd while the watcher rests (psi_monitor.cc: at most one
// delivery per counter per 100 ms).
void DeliverWake(void* context, const psi::Wake& wake) {
  if (wake.counter >= 0) {
    auto* event = new Event{kCounter, {}, kCounterLength};
    event->data[kCounterTime] = wake.time_ms;
    event->data[kCounterIndex] = wake.counter;
    event->data[kCounterCount] = wake.count;
    Queue(static_cast<Monitor*>(context), event);
    return;
  }
  auto* event = new Event{kWake, {}, kWakeLength};
  event->data[kWakeTime] = wake.time_ms;
  event->data[kWakeSome] = wake.some_us;
  event->data[kWakeFull] = wake.full_us;
  event->data[kWakeErrno] = wake.error;
  Queue(static_cast<Monitor*>(context), event);
}

// On the loop's thread, in its prepare callback.
void DeliverStall(void* context, const paging::StallWindow& window) {
  auto* event = new Event{kStall, {}, kStallLength};
  event->data[kStallStart] = window.start_ms;
  event->data[kStallEnd] = window.end_ms;
  event->data[kStallBusy] = window.busy_ms;
  event->data[kStallIdle] = window.idle_ms;
  event->data[kStallPsiStart] = window.psi_start_ms;
  std::memcpy(&event->data[kStallBefore], window.before, sizeof(window.before));
  std::memcpy(&event->data[kStallAfter], window.after, sizeof(window.after));
  Queue(static_cast<Monitor*>(context), event);
}

// On the JavaScript thread; env is null when the function is being torn
// down with events still queued, which then only need freeing.
void CallJs(napi_env env, napi_value callback, void* /*context*/, void* data) {
  std::unique_ptr<Event> event(static_cast<Event*>(data));
  if (env == nullptr || callback == nullptr) return;
  napi_value args[2], buffer, undefined;
  void* bytes = nullptr;
  size_t size = sizeof(double) * static_cast<size_t>(event->length);
  if (napi_create_arraybuffer(env, size, &bytes, &buffer) != napi_ok) return;
  std::memcpy(bytes, event->data, size);
  napi_create_int32(env, event->kind, &args[0]);
  napi_create_typedarray(env, napi_float64_array, static_cast<size_t>(event->length), buffer, 0, &args[1]);
  napi_get_undefined(env, &undefined);
  // A throw from a listener surfaces as an uncaught exception, as from any
  // other event source (node would otherwise only warn: DEP0168).
  if (napi_call_function(env, undefined, callback, 2, args, nullptr) == napi_pending_exception) {
    napi_value error = nullptr;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok && error != nullptr) napi_fatal_exception(env, error);
  }
}

void RemoveHook(void* arg) { napi_remove_async_cleanup_hook(static_cast<napi_async_cleanup_hook_handle>(arg)); }

// From JavaScript (teardown: false) or the async cleanup hook (true), where
// node finalizes the thread-safe function itself and waits for `hook`.
void StopMonitor(Monitor* m, bool teardown) {
  if (m->watcher != nullptr) {
    m->watcher->stop();
    delete m->watcher;
    m->watcher = nullptr;
  }
  napi_async_cleanup_hook_handle hook = m->hook;
  m->hook = nullptr;
  if (!teardown && hook != nullptr) napi_remove_async_cleanup_hook(hook);
  if (m->loop != nullptr) {
    m->loop->close(teardown ? RemoveHook : nullptr, hook);
    m->loop = nullptr;
  } else if (teardown && hook != nullptr) {
    napi_remove_async_cleanup_hook(hook);
  }
  if (m->tsfn != nullptr && !teardown) napi_release_threadsafe_function(m->tsfn, napi_tsfn_abort);
  m->tsfn = nullptr;
}

void AsyncCleanup(napi_async_cleanup_hook_handle hook, void* arg) {
  Monitor* m = static_cast<Monitor*>(arg);
  m->hook = hook;
  NoThrow([&] { StopMonitor(m, true); });
  // StopMonitor handed the hook to the loop watch's close; m is not used again.
  if (m->orphan) delete m;
}

void FinalizeMonitor(napi_env /*env*/, void* data, void* /*hint*/) {
  Monitor* m = static_cast<Monitor*>(data);
  NoThrow([&] { StopMonitor(m, false); });
  delete m;
}

int32_t IntOption(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
}

double NumberOption(const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
}

// pagingWatch({ triggerFd, trigger, counterFds, stallThresholdMs, sampleEveryMs, schedFd, psiFd }, onEvent(kind,
// Float64Array))
//   -> handle | -errno. Every fd is duplicated; the caller closes its own.
Napi::Value PagingWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "memlock: pagingWatch(options, onEvent)");
  // Everything JavaScript gives is read before anything starts: a throw
  // (the environment terminating) then leaves nothing running.
  Napi::Object o = info[0].As<Napi::Object>();
  double threshold = NumberOption(o, "stallThresholdMs");
  double every = NumberOption(o, "sampleEveryMs");
  if (!(threshold > 0) || !(every > 0))
    throw Napi::RangeError::New(env, "memlock: bad stall threshold or sample spacing");
  const int32_t sched_fd = IntOption(o, "schedFd");
  const int32_t psi_fd = IntOption(o, "psiFd");
  const int32_t trigger_fd = IntOption(o, "triggerFd");
  const bool trigger = o.Get("trigger").ToBoolean();
  int counter_fds[psi::kMaxCounters];
  int counters = 0;
  Napi::Value counters_value = o.Get("counterFds");
  if (counters_value.IsArray()) {
    Napi::Array list = counters_value.As<Napi::Array>();
    if (list.Length() > static_cast<uint32_t>(psi::kMaxCounters))
      throw Napi::RangeError::New(env, "memlock: too many counter fds");
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value fd = list.Get(i);
      if (!fd.IsNumber() || fd.As<Napi::Number>().Int32Value() < 0)
        throw Napi::TypeError::New(env, "memlock: counterFds must be fds");
      counter_fds[counters++] = fd.As<Napi::Number>().Int32Value();
    }
  }
  napi_value name = Napi::String::New(env, "memlock:paging");
  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_uv_event_loop(env, &loop), Napi::Value());
  auto m = std::make_unique<Monitor>();
  m->env = env;
  NAPI_THROW_IF_FAILED(
      env,
      napi_create_threadsafe_function(env, info[1], nullptr, name, 0, 1, nullptr, nullptr, m.get(), CallJs, &m->tsfn),
      Napi::Value());
  napi_unref_threadsafe_function(env, m->tsfn);
  // The cleanup hook first: whatever happens next, the environment's
  // teardown closes what was started.
  if (napi_add_async_cleanup_hook(env, AsyncCleanup, m.get(), &m->hook) != napi_ok) {
    napi_release_threadsafe_function(m->tsfn, napi_tsfn_abort);
    return Napi::Number::New(env, -ENOMEM);
  }
  int rc = paging::LoopWatch::start(loop, threshold, every, sched_fd, psi_fd, DeliverStall, m.get(), &m->loop);
  if (rc == 0 && (trigger_fd >= 0 || counters > 0))
    rc = psi::Watcher::start(trigger_fd, trigger, counter_fds, counters, DeliverWake, m.get(), &m->watcher);
  if (rc < 0) {
    StopMonitor(m.get(), false);
    // The loop watch frees itself once closed; nothing else outlives this.
    return Napi::Number::New(env, rc);
  }
  Monitor* raw = m.release();
  napi_value handle = nullptr;
  if (napi_create_external(env, raw, FinalizeMonitor, nullptr, &handle) != napi_ok) {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
      // The environment is terminating: its cleanup hook stops the monitor
      // and frees it (no handle will ever be finalized).
      raw->orphan = true;
      return Napi::Value();
    }
    StopMonitor(raw, false);
    delete raw;
    throw Napi::Error::New(env);
  }
  return Napi::Value(env, handle);
}

// pagingUnwatch(handle): idempotent.
Napi::Value PagingUnwatch(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "memlock: pagingUnwatch(handle)");
  StopMonitor(info[0].As<Napi::External<Monitor>>().Data(), false);
  return info.Env().Undefined();
}

// pagingSample(out: Float64Array, schedFd, psiFd): fills out (see paging_sample.h).
Napi::Value PagingSample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[0].As<Napi::Float64Array>().ElementLength() < kSlotCount) {
    throw Napi::TypeError::New(env, "memlock: pagingSample needs a Float64Array of numbers.paging.slots");
  }
  int sched_fd = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
  int psi_fd = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : -1;
  paging::take_sample(sched_fd, psi_fd, info[0].As<Napi::Float64Array>().Data());
  return env.Undefined();
}

// cgroupEventfd(controlFd, targetFd, args) -> eventfd | -errno: a cgroup v1
// notification (memory.pressure_level, memory.oom_control, a usage
// threshold) registered by writing "<eventfd> <target fd> <args>" to the
// cgroup's cgroup.event_control (controlFd, open for writing). The kernel
// signals the eventfd for each event and drops the registration once the
// eventfd is closed. The caller owns the eventfd (fs.closeSync).
Napi::Value CgroupEventfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString())
    throw Napi::TypeError::New(env, "memlock: cgroupEventfd(controlFd, targetFd, args)");
  const int control_fd = info[0].As<Napi::Number>().Int32Value();
  const int target_fd = info[1].As<Napi::Number>().Int32Value();
  std::string args = info[2].As<Napi::String>().Utf8Value();
  if (control_fd < 0 || target_fd < 0 || args.find('\n') != std::string::npos)
    throw Napi::RangeError::New(env, "memlock: cgroupEventfd needs two fds and one line of arguments");
  const int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return Napi::Number::New(env, -errno);
  std::string line = std::to_string(efd) + " " + std::to_string(target_fd) + (args.empty() ? "" : " " + args);
  ssize_t written = write(control_fd, line.data(), line.size());
  if (written != static_cast<ssize_t>(line.size())) {
    const int err = written < 0 ? errno : EIO;
    close(efd);
    return Napi::Number::New(env, -err);
  }
  return Napi::Number::New(env, efd);
}

}  // namespace

void register_paging(Napi::Env env, Napi::Object exports) {
  exports.Set("cgroupEventfd", Napi::Function::New(env, CgroupEventfd, "cgroupEventfd"));
  exports.Set("pagingWatch", Napi::Function::New(env, PagingWatch, "pagingWatch"));
  exports.Set("pagingUnwatch", Napi::Function::New(env, PagingUnwatch, "pagingUnwatch"));
  exports.Set("pagingSample", Napi::Function::New(env, PagingSample, "pagingSample"));
}

}  // namespace memlock
