#include "core/working_set.h"

#include <cstdint>

namespace memlock {
namespace working_set {

namespace {

// a + b, false if it would reach SIZE_MAX.
bool add(size_t a, size_t b, size_t* sum) {
  if (b >= SIZE_MAX - a) return false;
  *sum = a + b;
  return true;
}

}  // namespace

bool grown(size_t min, size_t max, size_t len, size_t page_size, size_t* new_min, size_t* new_max) {
  size_t pages = len / page_size + (len % page_size != 0) + kMarginPages;
  if (pages > SIZE_MAX / page_size) return false;
  size_t growth = pages * page_size;
  size_t grown_min = 0, grown_max = 0;
  if (!add(min, growth, &grown_min) || !add(max, growth, &grown_max)) return false;
  *new_min = grown_min;
  *new_max = grown_max < grown_min ? grown_min : grown_max;
  return true;
}

uint32_t lock_with_growth(const Api& api, uintptr_t addr, size_t len) {
  if (api.lock(addr, len)) return 0;
  uint32_t error = api.last_error();
  for (int round = 0; round < kMaxGrowths && error == api.quota_error; ++round) {
    size_t min = 0, max = 0, new_min = 0, new_max = 0;
    if (!api.get(&min, &max)) return api.last_error();
    if (!grown(min, max, len, api.page_size, &new_min, &new_max)) return api.quota_error;
    if (!api.set(new_min, new_max)) return api.last_error();
    if (api.lock(addr, len)) return 0;
    error = api.last_error();
  }
  return error;
}

}  // namespace working_set
}  // namespace memlock
