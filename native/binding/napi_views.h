// The bytes of a view (TypedArray or DataView) from Node-API: shared by the
// addon's glue (binding.cc) and the testing build's hooks (test_hooks.cc).
#pragma once

#include "binding/addon_api.h"

#include <cstddef>
#include <cstdint>

namespace memlock {

struct Bytes {
  uintptr_t addr;
  size_t len;
};

// The bytes of a TypedArray or DataView, or false with a JS exception
// pending. ArrayBuffers and SharedArrayBuffers arrive wrapped in a DataView
// (N-API in Node 20 cannot see into a SharedArrayBuffer).
bool ViewBytes(napi_env env, napi_value value, Bytes* out);
// The same, throwing the pending exception as a Napi::Error.
Bytes ViewBytes(const Napi::Value& value);

}  // namespace memlock
