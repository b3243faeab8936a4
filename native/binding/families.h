// The binding layer: the only files that include napi.h (through
// addon_api.h), one per family of exports. Each unpacks arguments, calls the
// core, and turns outcomes into plain JavaScript values: failures are
// returned as numbers, not thrown (src/native-failure.ts builds the
// MemlockError); thrown are only calls that would be unsafe to carry out,
// which the TypeScript layer refuses first. module.cc registers them all.
#pragma once

#include "binding/addon_api.h"
#include "binding/env_state.h"

namespace memlock {

// lock, release, releaseLatest, isHeld, counts, residentPages, addressOf,
// isDetached, stats, getLimit, setLimit, mappingCount, memlockRlimit
void register_locks(Napi::Env env, Napi::Object exports, EnvState* state);
// lockAll, unlockAll, lockAllFlags, madviseHookCounts
void register_whole_process(Napi::Env env, Napi::Object exports);
// setThreadId, annotate, locks, verify
void register_diagnostics(Napi::Env env, Napi::Object exports);
// allocSecret, freeSecret, wipeMovedSecret, trimSecrets, secretStats, protectSecret,
// probeSecretMemory, hardenProcess
void register_secrets(Napi::Env env, Napi::Object exports);
// allocPinned, freePinned, pinnedStats
void register_pinned(Napi::Env env, Napi::Object exports);
// lockRanges (lockCode)
void register_code(Napi::Env env, Napi::Object exports);
// pagingWatch, pagingUnwatch, pagingSample (paging_none.cc where there is no PSI)
void register_paging(Napi::Env env, Napi::Object exports);

}  // namespace memlock
