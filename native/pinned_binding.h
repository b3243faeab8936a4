// N-API glue for pinned buffers (src/pinned.ts) and for locks on address
// ranges that no view covers (src/lock-code.ts). binding.cc's Init calls
// register_pinned.
#pragma once

#include "addon_api.h"

namespace memlock {

void register_pinned(Napi::Env env, Napi::Object exports);

}  // namespace memlock
