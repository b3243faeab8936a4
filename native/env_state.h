// Each environment's (main thread's, each worker's) native state, and the
// helpers that hand memory memlock maps itself (secrets, pinned buffers) to
// JavaScript with its detach key. binding.cc owns the state's lifetime.
#pragma once

#include <napi.h>

#include <unordered_map>
#include <vector>

#include "napi_views.h"
#include "shared_numbers.h"

namespace memlock {

// One per environment (main thread, each worker). Its address is the owner
// of the environment's locks; when the environment goes away, so do they.
struct EnvState {
  // Secondary results of the last call, shared with JS (as an external
  // ArrayBuffer over this memory) so the hot calls can return a plain
  // number; slots in shared_numbers.h. After kMapCountExceeded the figures
  // of the error are here too, so that it is built with no allocation here
  // and no /proc read in JS. It lives as long as the environment, like the
  // JS that reads it.
  double scratch[kScratchSlots] = {};
  int32_t thread_id = 0;  // worker_threads.threadId, for locks()
  // The object whose identity is this environment's detach key (see
  // detach_guard.h), when detach keys are used at all.
  napi_ref detach_key = nullptr;
  // Weak references to every buffer this environment keyed, by data address.
  std::unordered_map<void*, napi_ref> keyed;
  // Views whose lock made pages sticky: their memory lives as long as this
  // environment (src/retained.ts keeps them), so their counts end with it.
  std::vector<Bytes> sticky;
};

EnvState* StateOf(Napi::Env env);
// Drops the weak reference to the keyed buffer at `data`, which is gone.
void ForgetKeyed(napi_env env, EnvState* state, void* data);
// Sets (on) or clears `arraybuffer`'s detach key, if it is an ArrayBuffer and
// this environment uses keys; anything else (undefined) is left alone.
void SetDetachKey(napi_env env, EnvState* state, napi_value arraybuffer, bool on);
// The figures a kMapCountExceeded error names, into their scratch slots.
void ScratchMappings(double* scratch, int64_t mappings);
// Memory memlock mapped, handed to JavaScript: in 'key' mode an ArrayBuffer
// with its detach key set (src/*.ts wraps it in a Buffer), else an external
// Buffer. `finalize(env, data, hint)` runs once it is garbage-collected.
// The other end: detaches the Buffer over memory memlock mapped (with the
// detach key in 'key' mode) before that memory goes, so that no view can
// outlive it. Returns its data address; nullptr if it was detached already.
// Throws (C++ exceptions, node-addon-api) if N-API or V8 refused.
void* DetachOwnedMemory(const Napi::CallbackInfo& info);

napi_status WrapOwnedMemory(napi_env env, EnvState* state, void* data, size_t size, napi_finalize finalize, void* hint,
                            napi_value* value);

}  // namespace memlock
