// The one include of node-addon-api, so every file of the binding layer
// builds with the same exception rule: no C++ exception ever crosses the
// N-API boundary.
//
// node-addon-api turns a failed N-API call into a thrown Napi::Error, which
// its callback wrapper catches and throws into JavaScript. When the
// environment is terminating (worker.terminate(), process.exit() from
// another thread, a worker out of heap), that throw into JavaScript fails
// too, and node-addon-api then throws again, out of the callback:
// std::terminate, and the whole process aborts. So:
// - NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: an exception that cannot be
//   thrown because the environment is going away is dropped (nothing is
//   left to see it);
// - NODE_ADDON_API_CPP_EXCEPTIONS_ALL: a std::exception (bad_alloc) or any
//   other C++ exception becomes a JavaScript Error instead of terminating.
// Raw callbacks (the hot lock calls), finalizers and cleanup hooks are not
// wrapped by node-addon-api: they go through NoThrow (binding_guard.h).
#pragma once

// The Node-API version memlock is built against, for every build (Node 20
// has 9; 8 has all memlock uses).
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#ifndef NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#define NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#endif
#include <napi.h>  // the only include of napi.h (test/native-layout.test.ts)

#include <exception>

namespace memlock {

// Runs a raw N-API callback's body and lets no C++ exception out: what it
// caught is thrown into JavaScript if the environment can still take it,
// and dropped if it is going away.
template <typename Body>
napi_value NoThrowCallback(napi_env env, Body&& body) noexcept {
  try {
    return body();
  } catch (const Napi::Error& error) {
    try {
      error.ThrowAsJavaScriptException();
    } catch (...) {
    }
  } catch (const std::exception& error) {
    napi_throw_error(env, nullptr, error.what());
  } catch (...) {
    napi_throw_error(env, nullptr, "memlock: native failure");
  }
  return nullptr;
}

// For finalizers and cleanup hooks: no JavaScript is there to tell, and an
// exception out of them would terminate the process.
template <typename Body>
void NoThrow(Body&& body) noexcept {
  try {
    body();
  } catch (...) {
  }
}

// A raw callback (napi_create_function) behind NoThrowCallback.
template <napi_callback Callback>
napi_value Guarded(napi_env env, napi_callback_info info) noexcept {
  return NoThrowCallback(env, [&] { return Callback(env, info); });
}

// A finalizer (napi_finalize) behind NoThrow.
template <napi_finalize Finalize>
void GuardedFinalize(napi_env env, void* data, void* hint) noexcept {
  NoThrow([&] { Finalize(env, data, hint); });
}

}  // namespace memlock
