// lockCode()'s ranges: one counted lock per executable mapping, all or
// none, each labelled, and each watched (Locker::watch_unmapping): code can
// be unmapped by others (a worker's copy of V8's builtins goes with it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/locker.h"

namespace memlock {

struct CodeRange {
  uintptr_t start;  // whole pages
  size_t len;
  std::string label;
};

struct CodeLockOutcome {
  int64_t error = 0;        // 0, or -errno, kLimitExceeded or kMapCountExceeded: nothing locked
  size_t failed_range = 0;  // which range was refused
  Syscall failed = Syscall::kNone;
  int64_t mappings = 0;  // kMapCountExceeded: the mappings counted
  // One per range: the lock's id, or 0 for a mapping unmapped since the
  // caller read the maps (not locked, and no failure).
  std::vector<int64_t> ids;
};

CodeLockOutcome lock_code_ranges(Locker& locker, const void* owner, int32_t thread_id,
                                 const std::vector<CodeRange>& ranges);

}  // namespace memlock
