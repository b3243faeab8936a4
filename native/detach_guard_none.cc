// Where V8's detach-key functions are not looked up (Windows: node.exe's V8
// exports carry MSVC names and there is no dlsym): available() is false, so
// the addon guards buffers in 'mark' mode, as on Node before 24 (binding.cc).
#include "detach_guard.h"

namespace memlock {
namespace detach_guard {

bool available() { return false; }
bool set_key(napi_env, napi_value, napi_value) { return false; }
bool detach(napi_env, napi_value, napi_value) { return false; }

}  // namespace detach_guard
}  // namespace memlock
