// Each environment's (main thread's, each worker's) native state, and the
// helpers that hand memory memlock maps itself (secrets, pinned buffers) to
// JavaScript with its detach key. binding.cc owns the state's lifetime.
#pragma once

#include "binding/addon_api.h"

#include <vector>

#include "binding/napi_views.h"
#include "core/shared_numbers.h"

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
  double inline_scratch[kScratchSlots] = {};
  double* scratch = inline_scratch;  // V8's memory under its sandbox (module.cc)
  napi_ref scratch_ref = nullptr;
  int32_t thread_id = 0;  // worker_threads.threadId, for locks()
  // Views whose lock made pages sticky: src/locks/retained.ts keeps them for the
  // life of this environment, so their counts end with it; a
  // SharedArrayBuffer's memory may live on in other threads.
  struct StickyView {
    Bytes bytes;
    bool shared;
  };
  std::vector<StickyView> sticky;
};

EnvState* StateOf(Napi::Env env);
// The figures a kMapCountExceeded error names, into their scratch slots.
void ScratchMappings(double* scratch, int64_t mappings);
// Memory memlock mapped, handed to JavaScript as an external Buffer;
// `finalize(env, data, hint)` runs once the memory's last ArrayBuffer is
// garbage-collected or detached (by memlock or anyone else).
napi_status WrapOwnedMemory(napi_env env, void* data, size_t size, napi_finalize finalize, void* hint,
                            napi_value* value);
// The other end: detaches the Buffer over memory memlock mapped before that
// memory goes, so that no view can outlive it. Returns its data address;
// nullptr if it was detached already (by anyone: the memory may have moved
// into another ArrayBuffer). Throws (node-addon-api) if N-API refused.
void* DetachOwnedMemory(const Napi::CallbackInfo& info);

}  // namespace memlock
