#include "binding/env_state.h"

#include "binding/cage_buffers.h"
#include "core/locker.h"

namespace memlock {

EnvState* StateOf(Napi::Env env) { return env.GetInstanceData<EnvState>(); }

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
  if (data == nullptr || len == 0) return nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, info[0], nullptr, nullptr, nullptr, &arraybuffer, nullptr),
                       nullptr);
  NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, arraybuffer), nullptr);
  return data;
}

napi_status WrapOwnedMemory(napi_env env, void* data, size_t size, napi_finalize finalize, void* hint,
                            napi_value* value) {
  // Freed when the last ArrayBuffer over the memory goes, which may not be
  // this one (src/locks/guard.ts). No detach key is ever set on it: a keyed
  // external buffer aborts Node 24 when node detaches it at teardown or
  // another addon detaches it (napi_detach_arraybuffer checks the result).
  MEMLOCK_INJECT_V8_SANDBOX();
  return napi_create_external_buffer(env, size, data, finalize, hint, value);
}

}  // namespace memlock
