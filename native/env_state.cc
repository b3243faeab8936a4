#include "env_state.h"

#include "detach_guard.h"
#include "locker.h"

namespace memlock {

EnvState* StateOf(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

void ForgetKeyed(napi_env env, EnvState* state, void* data) {
  if (state == nullptr) return;
  auto known = state->keyed.find(data);
  if (known == state->keyed.end()) return;
  napi_delete_reference(env, known->second);
  state->keyed.erase(known);
}

void SetDetachKey(napi_env env, EnvState* state, napi_value arraybuffer, bool on) {
  if (state->detach_key == nullptr) return;
  void* data = nullptr;
  bool is = false;
  if (napi_is_arraybuffer(env, arraybuffer, &is) != napi_ok || !is) return;
  if (napi_get_arraybuffer_info(env, arraybuffer, &data, nullptr) != napi_ok) return;
  napi_value key = nullptr;
  auto known = state->keyed.find(data);
  if (on) {
    napi_get_reference_value(env, state->detach_key, &key);
    if (known != state->keyed.end()) {
      // Memory is reused (a pooled secret's slot): a reference to a buffer
      // that is gone, or is another, is replaced.
      napi_value held = nullptr;
      bool same = false;
      if (napi_get_reference_value(env, known->second, &held) == napi_ok && held != nullptr) {
        napi_strict_equals(env, held, arraybuffer, &same);
      }
      if (!same) {
        napi_delete_reference(env, known->second);
        state->keyed.erase(known);
        known = state->keyed.end();
      }
    }
    if (known == state->keyed.end()) {
      napi_ref ref = nullptr;
      if (napi_create_reference(env, arraybuffer, 0, &ref) != napi_ok) return;
      state->keyed.emplace(data, ref);
    }
  } else {
    napi_get_undefined(env, &key);
    if (known != state->keyed.end()) {
      napi_delete_reference(env, known->second);
      state->keyed.erase(known);
    }
  }
  detach_guard::set_key(env, arraybuffer, key);
}

void ScratchMappings(double* scratch, int64_t mappings) {
  const Locker& locker = Locker::instance();
  scratch[kScratchMappings] = static_cast<double>(mappings);
  scratch[kScratchMapCap] = static_cast<double>(locker.max_map_count());
  scratch[kScratchMapMargin] = static_cast<double>(locker.map_margin());
}

void* DetachOwnedMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* data = nullptr;
  size_t len = 0;
  napi_value arraybuffer = nullptr;
  if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "memlock: expected a Buffer");
  NAPI_THROW_IF_FAILED(env, napi_get_buffer_info(env, info[0], &data, &len), nullptr);
  if (data == nullptr) return nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, info[0], nullptr, nullptr, nullptr, &arraybuffer, nullptr),
                       nullptr);
  EnvState* state = StateOf(env);
  if (state->detach_key != nullptr) {
    napi_value key = nullptr;
    napi_get_reference_value(env, state->detach_key, &key);
    if (!detach_guard::detach(env, arraybuffer, key)) throw Napi::Error::New(env);
    ForgetKeyed(env, state, data);
  } else {
    NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, arraybuffer), nullptr);
  }
  return data;
}

napi_status WrapOwnedMemory(napi_env env, EnvState* state, void* data, size_t size, napi_finalize finalize, void* hint,
                            napi_value* value) {
  napi_status status;
  if (state->detach_key != nullptr) {
    // 'key' mode: an ArrayBuffer freed with its object, not with its memory.
    // No JavaScript can detach it, so the two end together; and node does
    // not detach it at teardown (it does an external Buffer, presenting no
    // key, and aborts when refused).
    status = napi_create_external_arraybuffer(env, data, size, nullptr, nullptr, value);
    if (status == napi_ok) status = napi_add_finalizer(env, *value, data, finalize, hint, nullptr);
    if (status == napi_ok) SetDetachKey(env, state, *value, true);
  } else {
    // 'mark' mode: freed when the last ArrayBuffer over the memory goes,
    // which may not be this one (src/guard.ts).
    status = napi_create_external_buffer(env, size, data, finalize, hint, value);
  }
  return status;
}

}  // namespace memlock
