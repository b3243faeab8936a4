// The testing build's extra exports: raw syscalls that change kernel state
// behind memlock's back, fork probes, a byte poke for guard pages, the wipe
// check, the madvise fallback switch, fault injection, and file mappings
// for the paging tests. Compiled only into
// the CMake target memlock_testing (and its sanitizer twin), which defines
// MEMLOCK_TESTING; the shipped addon exports none of this.
#pragma once

#include "binding/addon_api.h"

namespace memlock {

void AddTestHooks(Napi::Env env, Napi::Object exports);

}  // namespace memlock
