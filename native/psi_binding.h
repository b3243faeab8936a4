// N-API glue for the paging monitor (src/paging-monitor.ts): the PSI watcher
// thread and the per-check sample. Kept apart from binding.cc so the lock
// path's glue stays as it is; binding.cc's Init calls register_paging.
#pragma once

#include <napi.h>

namespace memlock {

void register_paging(Napi::Env env, Napi::Object exports);

}  // namespace memlock
