#include "binding/napi_views.h"

namespace memlock {
namespace {

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:  // float64, bigint64, biguint64
      return 8;
  }
}

}  // namespace

bool ViewBytes(napi_env env, napi_value value, Bytes* out) {
  void* data = nullptr;
  size_t len = 0;
  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length = 0;
    if (napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr) != napi_ok) return false;
    len = length * ElementSize(type);
  } else if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    if (napi_get_dataview_info(env, value, &len, &data, nullptr, nullptr) != napi_ok) return false;
  } else {
    napi_throw_type_error(env, nullptr, "memlock: expected a TypedArray or DataView");
    return false;
  }
  if (data == nullptr || len == 0) {
    napi_throw_range_error(env, nullptr, "memlock: view is empty or detached");
    return false;
  }
  *out = Bytes{reinterpret_cast<uintptr_t>(data), len};
  return true;
}

Bytes ViewBytes(const Napi::Value& value) {
  Bytes bytes{};
  // Error::New(env) takes over the pending exception.
  if (!ViewBytes(value.Env(), value, &bytes)) throw Napi::Error::New(value.Env());
  return bytes;
}

}  // namespace memlock
