// The floor under memlock's pooled secrets: an N-API external Buffer made over
// memory that is already there, and detached to free it, the calls memlock's
// allocSecret/freeSecret make around its pool, with no pool at all.
// The CMake target napi_floor, built into build-bench/ by secrets.ts.
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#define SLOT 32
#define SLOTS 32768

static char slots[SLOT * SLOTS];

// Like memlock's finalizer once the secret was freed: nothing left to do.
static void finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)data;
  (void)hint;
}

// make(i) -> a 32-byte Buffer over slot i % SLOTS.
static napi_value make(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t i = 0;
  napi_value buffer = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_uint32(env, argv[0], &i) != napi_ok) {
    napi_throw_type_error(env, NULL, "make(index)");
    return NULL;
  }
  if (napi_create_external_buffer(env, SLOT, slots + (size_t)(i % SLOTS) * SLOT, finalize, NULL, &buffer) != napi_ok) {
    napi_throw_error(env, NULL, "napi_create_external_buffer failed");
    return NULL;
  }
  return buffer;
}

// detach(buffer): as memlock's freeSecret does before wiping.
static napi_value detach(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value arraybuffer = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_typedarray_info(env, argv[0], NULL, NULL, NULL, &arraybuffer, NULL) != napi_ok ||
      napi_detach_arraybuffer(env, arraybuffer) != napi_ok) {
    napi_throw_error(env, NULL, "detach(buffer) failed");
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "make", NAPI_AUTO_LENGTH, make, NULL, &fn);
  napi_set_named_property(env, exports, "make", fn);
  napi_create_function(env, "detach", NAPI_AUTO_LENGTH, detach, NULL, &fn);
  napi_set_named_property(env, exports, "detach", fn);
  return exports;
}
