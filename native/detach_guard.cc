#include "detach_guard.h"

#include <dlfcn.h>

#include <cstring>

// glibc 2.34 moved dlsym from libdl into libc as dlsym@GLIBC_2.34, which a
// build on a current distribution would require. The first version, still
// in every glibc (and in the libdl that node loads before 2.34), keeps the
// addon loadable wherever official node loads (glibc 2.28).
#if defined(__GLIBC__) && defined(__x86_64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
#elif defined(__GLIBC__) && defined(__aarch64__)
__asm__(".symver dlsym,dlsym@GLIBC_2.17");
#endif

namespace memlock {
namespace detach_guard {
namespace {

// v8::Local<T> is one pointer and napi_value is that pointer (Node's own
// V8LocalValueFromJsValue copies it the same way); a non-virtual member
// function takes `this` as its first argument.
struct MaybeBool {
  bool has_value;
  bool value;
};
using SetDetachKeyFn = void (*)(void* self, void* key);
using DetachFn = MaybeBool (*)(void* self, void* key);
using IsDetachableFn = bool (*)(const void* self);

struct Api {
  SetDetachKeyFn set_detach_key = nullptr;
  DetachFn detach = nullptr;
  IsDetachableFn is_detachable = nullptr;
};

template <typename Fn>
Fn lookup(const char* symbol) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, symbol));
}

const Api& api() {
  static const Api resolved = [] {
    Api a;
    a.set_detach_key = lookup<SetDetachKeyFn>("_ZN2v811ArrayBuffer12SetDetachKeyENS_5LocalINS_5ValueEEE");
    a.detach = lookup<DetachFn>("_ZN2v811ArrayBuffer6DetachENS_5LocalINS_5ValueEEE");
    a.is_detachable = lookup<IsDetachableFn>("_ZNK2v811ArrayBuffer12IsDetachableEv");
    if (a.set_detach_key == nullptr || a.detach == nullptr || a.is_detachable == nullptr) a = Api{};
    return a;
  }();
  return resolved;
}

void* local(napi_value value) {
  void* pointer = nullptr;
  std::memcpy(&pointer, &value, sizeof(pointer));
  return pointer;
}

bool is_arraybuffer(napi_env env, napi_value value) {
  bool is = false;
  return napi_is_arraybuffer(env, value, &is) == napi_ok && is;
}

}  // namespace

bool available() { return api().set_detach_key != nullptr; }

bool set_key(napi_env env, napi_value arraybuffer, napi_value key) {
  if (!available() || !is_arraybuffer(env, arraybuffer)) return false;
  // A buffer JavaScript cannot detach (a WebAssembly.Memory's) needs no key,
  // and V8 aborts when memory.grow() detaches it with one in place.
  if (!api().is_detachable(local(arraybuffer))) return false;
  api().set_detach_key(local(arraybuffer), local(key));
  return true;
}

bool detach(napi_env env, napi_value arraybuffer, napi_value key) {
  if (!available() || !is_arraybuffer(env, arraybuffer)) return false;
  MaybeBool result = api().detach(local(arraybuffer), local(key));
  return result.has_value && result.value;
}

}  // namespace detach_guard
}  // namespace memlock
