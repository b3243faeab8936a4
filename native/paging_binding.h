// N-API glue for the paging monitor (src/paging-monitor.ts): one native
// monitor per JavaScript monitor, with a loop watch (loop_watch.h) and,
// when a pressure fd is given, a watcher thread (psi_monitor.h). Kept apart
// from binding.cc so the lock path's glue stays as it is; binding.cc's Init
// calls register_paging.
#pragma once

#include "addon_api.h"

namespace memlock {

void register_paging(Napi::Env env, Napi::Object exports);

}  // namespace memlock
