#include "core/code_locks.h"

#include <cerrno>

#include "platform/platform.h"

namespace memlock {

CodeLockOutcome lock_code_ranges(Locker& locker, const void* owner, int32_t thread_id,
                                 const std::vector<CodeRange>& ranges) {
  CodeLockOutcome out;
  // Counts on code that went with an exited worker go before new ones come.
  locker.settle_watched();
  if (int rc = locker.guard_code_releases(); rc < 0) {
    out.error = rc;
    return out;
  }
  out.ids.reserve(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    const CodeRange& range = ranges[i];
    LockOutcome lock = locker.lock(owner, range.start, range.len, false, 0, thread_id, false);
    if (lock.id == -ENOMEM && platform::resident_pages(range.start, range.len) == -ENOMEM) {
      out.ids.push_back(0);  // unmapped meanwhile
      continue;
    }
    if (lock.id < 0) {
      // All or none: the ranges locked so far are released again.
      for (int64_t id : out.ids) {
        if (id > 0) locker.release(owner, id);
      }
      out.ids.clear();
      out.error = lock.id;
      out.failed_range = i;
      out.failed = lock.failed;
      out.mappings = lock.mappings;
      return out;
    }
    out.ids.push_back(lock.id);
    locker.watch_unmapping(range.start, range.len, false);
    locker.annotate(lock.id, true, range.label, "");
  }
  return out;
}

}  // namespace memlock
