// The fallback for V8's sandbox (Electron 21+): where V8 refuses memory from
// outside its cage (napi_no_external_buffers_allowed), secrets and pinned
// buffers live in Buffers V8 allocates, over-allocated by a page so that
// their bytes start on whole pages no other allocation shares; those pages
// are locked and advised in place (core/cage_memory.h).
#pragma once

#include "binding/env_state.h"
#include "core/cage_memory.h"

// The testing build refuses external buffers as V8's sandbox does when told
// to (platform/fault_injection.h); the shipped addon has no such hook.
#ifdef MEMLOCK_TESTING
#include "platform/fault_injection.h"
#define MEMLOCK_INJECT_V8_SANDBOX()                                                     \
  do {                                                                                  \
    if (::memlock::fault::v8_sandbox_forced()) return napi_no_external_buffers_allowed; \
  } while (0)
#else
#define MEMLOCK_INJECT_V8_SANDBOX() \
  do {                              \
  } while (0)
#endif

namespace memlock {

// Whether this process's V8 refuses external buffers: decided once, by the
// first refusal (the scratch buffer at load, or a secret's Buffer).
bool Caged();
// Records a refusal: true if `status` is the sandbox's, which is then final.
bool NoteSandboxRefusal(napi_status status);

struct CageBufferRequest {
  size_t size;
  bool require_lock;
  bool on_fault;
  bool secret;  // advised as secret memory (MADV_DONTDUMP, MADV_WIPEONFORK)
  const char* label;
};

// A Buffer of `size` bytes in V8's memory, adopted by CageMemory: napi_ok
// with *value set, or napi_ok with *value nullptr and result->error set
// (nothing adopted), or the N-API status that failed.
napi_status AllocCageBuffer(napi_env env, EnvState* state, const CageBufferRequest& request, CageResult* result,
                            napi_value* value);
// free() of a Buffer AllocCageBuffer made: zeroes it, undoes the advice and
// the lock, then detaches it. Returns false (nothing done) if the Buffer is
// not one of this environment's live ones.
bool FreeCageBuffer(const Napi::CallbackInfo& info);

}  // namespace memlock
