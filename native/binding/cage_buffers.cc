#include "binding/cage_buffers.h"

#include <atomic>

#include "platform/platform.h"

namespace memlock {
namespace {

std::atomic<bool> caged{false};

// What a Buffer's finalizer needs: a strong reference to its ArrayBuffer
// (so that V8 cannot free the memory before it is zeroed) and the adoption.
struct CageHold {
  napi_ref buffer;
  uintptr_t pages;
  uint64_t serial;
};

// Runs once the Buffer memlock handed out is garbage-collected: the memory
// is still V8's (the reference holds it), so it is zeroed and unlocked,
// then the reference goes and V8 collects it. If it was transferred out of
// memlock's ArrayBuffer, only its counts go. After free() this does nothing.
void FinalizeCageView(napi_env env, void* /*data*/, void* hint) {
  CageHold* hold = static_cast<CageHold*>(hint);
  if (hold->buffer != nullptr) {
    napi_value arraybuffer = nullptr;
    bool detached = true;
    if (napi_get_reference_value(env, hold->buffer, &arraybuffer) == napi_ok && arraybuffer != nullptr) {
      napi_is_detached_arraybuffer(env, arraybuffer, &detached);
    }
    CageMemory::instance().release_if_current(hold->pages, hold->serial, detached);
    napi_delete_reference(env, hold->buffer);
  }
  delete hold;
}

}  // namespace

bool Caged() { return caged.load(std::memory_order_relaxed); }

bool NoteSandboxRefusal(napi_status status) {
  if (status != napi_no_external_buffers_allowed) return false;
  caged.store(true);
  return true;
}

napi_status AllocCageBuffer(napi_env env, EnvState* state, const CageBufferRequest& request, CageResult* result,
                            napi_value* value) {
  *value = nullptr;
  const size_t ps = platform::page_size();
  const size_t len = (request.size + ps - 1) / ps * ps;
  void* data = nullptr;
  napi_value whole = nullptr;
  napi_status status = napi_create_buffer(env, len + ps, &data, &whole);
  if (status != napi_ok) return status;
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t pages = (start + ps - 1) / ps * ps;
  platform::wipe(start, len + ps);
  // A Buffer over the page-aligned interior (subarray shares the memory).
  napi_value subarray = nullptr, args[2] = {nullptr, nullptr}, view = nullptr, arraybuffer = nullptr;
  if ((status = napi_get_named_property(env, whole, "subarray", &subarray)) != napi_ok) return status;
  if ((status = napi_create_double(env, static_cast<double>(pages - start), &args[0])) != napi_ok) return status;
  if ((status = napi_create_double(env, static_cast<double>(pages - start + request.size), &args[1])) != napi_ok) {
    return status;
  }
  if ((status = napi_call_function(env, whole, subarray, 2, args, &view)) != napi_ok) return status;
  if ((status = napi_get_typedarray_info(env, view, nullptr, nullptr, nullptr, &arraybuffer, nullptr)) != napi_ok) {
    return status;
  }
  CageHold* hold = new CageHold{nullptr, pages, 0};
  if ((status = napi_create_reference(env, arraybuffer, 1, &hold->buffer)) != napi_ok) {
    delete hold;
    return status;
  }
  *result = CageMemory::instance().adopt(
      CageRequest{pages, len, state, request.require_lock, request.on_fault, request.secret, request.label}, hold);
  if (result->error != 0) {
    napi_delete_reference(env, hold->buffer);
    delete hold;
    return napi_ok;
  }
  hold->serial = result->serial;
  status = napi_add_finalizer(env, view, nullptr, GuardedFinalize<FinalizeCageView>, hold, nullptr);
  if (status != napi_ok) {
    CageMemory::instance().release_owned(pages, state);
    napi_delete_reference(env, hold->buffer);
    delete hold;
    return status;
  }
  *value = view;
  return napi_ok;
}

bool FreeCageBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Caged() || !info[0].IsBuffer()) return false;
  void* data = nullptr;
  size_t len = 0;
  NAPI_THROW_IF_FAILED(env, napi_get_buffer_info(env, info[0], &data, &len), false);
  if (data == nullptr || len == 0) return false;
  void* found = CageMemory::instance().release_owned(reinterpret_cast<uintptr_t>(data), StateOf(env));
  if (found == nullptr) return false;
  // Zeroed and unlocked: V8 may have the memory back now.
  CageHold* hold = static_cast<CageHold*>(found);
  napi_delete_reference(env, hold->buffer);
  hold->buffer = nullptr;  // its finalizer then only deletes the hold
  napi_value arraybuffer = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, info[0], nullptr, nullptr, nullptr, &arraybuffer, nullptr),
                       true);
  NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, arraybuffer), true);
  return true;
}

}  // namespace memlock
