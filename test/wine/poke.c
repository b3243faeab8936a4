/* Test scaffolding for test/wine/smoke.cjs, never shipped: poke(view, offset)
 * writes one byte at the view's data + offset, which JavaScript cannot do
 * past a Buffer's end. The smoke suite pokes a guarded secret's guard page
 * and expects the process to die of an access violation. */
#include <node_api.h>
#include <stdint.h>

static napi_value Poke(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_typedarray_type type;
  size_t length = 0, byte_offset = 0;
  void* data = NULL;
  napi_value arraybuffer;
  int64_t offset = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, &arraybuffer, &byte_offset) != napi_ok ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok) {
    napi_throw_type_error(env, NULL, "poke(typedArray, offset)");
    return NULL;
  }
  volatile unsigned char* byte = (volatile unsigned char*)((uintptr_t)data + (intptr_t)offset);
  *byte = 0x5a;
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "poke", NAPI_AUTO_LENGTH, Poke, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "poke", fn) != napi_ok) return NULL;
  return exports;
}
