// working_set::lock_with_growth against a fake Windows: a lock succeeds while
// the locked bytes fit in the minimum working set, as VirtualLock's quota
// does. Checks growth and retry, refused growth, errors that are not the
// quota's, the bounded retries, and the arithmetic at overflow.
//   working_set_test      prints "ok <checks>" or each failed check; exits 1 on failure
#include <cstdint>
#include <cstdio>

#include "core/working_set.h"

using memlock::working_set::Api;
using memlock::working_set::grown;
using memlock::working_set::kMarginPages;
using memlock::working_set::kMaxGrowths;
using memlock::working_set::lock_with_growth;

namespace {

constexpr uint32_t kQuota = 1453;             // ERROR_WORKING_SET_QUOTA
constexpr uint32_t kPrivilegeNotHeld = 1314;  // ERROR_PRIVILEGE_NOT_HELD
constexpr uint32_t kInvalidAddress = 487;     // ERROR_INVALID_ADDRESS
constexpr size_t kPage = 4096;

struct Fake {
  size_t min = 200 * 1024, max = 1380 * 1024;  // Windows' defaults
  size_t locked = 0;
  uint32_t error = 0;
  uint32_t lock_error = 0;  // non-zero: every lock fails with it
  bool refuse_get = false, refuse_set = false;
  size_t stolen_per_set = 0;  // locked by "another thread" right after a growth,
  int steals = 0;             // after this many of them
  int locks = 0, gets = 0, sets = 0;
} fake;

bool fake_lock(uintptr_t, size_t len) {
  ++fake.locks;
  if (fake.lock_error != 0) return fake.error = fake.lock_error, false;
  if (len > fake.min - fake.locked) return fake.error = kQuota, false;
  fake.locked += len;
  return true;
}
bool fake_get(size_t* min, size_t* max) {
  ++fake.gets;
  if (fake.refuse_get) return fake.error = kPrivilegeNotHeld, false;
  *min = fake.min;
  *max = fake.max;
  return true;
}
bool fake_set(size_t min, size_t max) {
  ++fake.sets;
  if (fake.refuse_set || min > max) return fake.error = kPrivilegeNotHeld, false;
  fake.min = min;
  fake.max = max;
  if (fake.steals > 0) {
    --fake.steals;
    fake.locked += fake.stolen_per_set;
  }
  return true;
}
uint32_t fake_last_error() { return fake.error; }

const Api kApi{fake_lock, fake_get, fake_set, fake_last_error, kQuota, kPage};

int checks = 0, failures = 0;
void check(bool ok, const char* what, int line) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("FAIL line %d: %s\n", line, what);
  }
}
#define CHECK(cond) check((cond), #cond, __LINE__)

void fits_without_growth() {
  fake = Fake{};
  CHECK(lock_with_growth(kApi, 0x10000, 64 * 1024) == 0);
  CHECK(fake.locks == 1 && fake.gets == 0 && fake.sets == 0);
}

void quota_grows_and_retries() {
  fake = Fake{};
  const size_t min = fake.min, max = fake.max, len = 1024 * 1024 + 1;
  CHECK(lock_with_growth(kApi, 0x10000, len) == 0);
  const size_t growth = (len / kPage + 1 + kMarginPages) * kPage;
  CHECK(fake.locks == 2 && fake.gets == 1 && fake.sets == 1);
  CHECK(fake.min == min + growth);
  CHECK(fake.max == max + growth);
  CHECK(fake.locked == len);
}

void growth_refused() {
  fake = Fake{};
  fake.refuse_set = true;
  const size_t min = fake.min;
  CHECK(lock_with_growth(kApi, 0x10000, 4 * 1024 * 1024) == kPrivilegeNotHeld);
  CHECK(fake.locks == 1 && fake.sets == 1 && fake.min == min && fake.locked == 0);

  fake = Fake{};
  fake.refuse_get = true;
  CHECK(lock_with_growth(kApi, 0x10000, 4 * 1024 * 1024) == kPrivilegeNotHeld);
  CHECK(fake.locks == 1 && fake.sets == 0);
}

void other_errors_pass_through() {
  fake = Fake{};
  fake.lock_error = kInvalidAddress;
  CHECK(lock_with_growth(kApi, 0x10000, 4 * 1024 * 1024) == kInvalidAddress);
  CHECK(fake.locks == 1 && fake.gets == 0 && fake.sets == 0);
}

// Another thread spends each growth before the retry: a few rounds, each
// growing (never shrinking), then the quota error.
void bounded_retries() {
  fake = Fake{};
  const size_t len = 1024 * 1024;
  fake.stolen_per_set = len + kMarginPages * kPage;
  fake.steals = kMaxGrowths;
  const size_t min = fake.min;
  CHECK(lock_with_growth(kApi, 0x10000, len) == kQuota);
  CHECK(fake.sets == kMaxGrowths && fake.locks == kMaxGrowths + 1);
  CHECK(fake.min == min + kMaxGrowths * (len + kMarginPages * kPage));

  // Spent once, enough the second time.
  fake = Fake{};
  fake.stolen_per_set = len + kMarginPages * kPage;
  fake.steals = 1;
  CHECK(lock_with_growth(kApi, 0x10000, len) == 0);
  CHECK(fake.sets == 2 && fake.locks == 3);
}

void arithmetic() {
  size_t min = 0, max = 0;
  CHECK(grown(100 * kPage, 300 * kPage, 1, kPage, &min, &max));
  CHECK(min == (101 + kMarginPages) * kPage && max == (301 + kMarginPages) * kPage);
  CHECK(grown(100 * kPage, 300 * kPage, kPage, kPage, &min, &max));
  CHECK(min == (101 + kMarginPages) * kPage);  // a whole page is not rounded up to two
  // A max below the min (only a broken caller) comes back at least the min.
  CHECK(grown(100 * kPage, 10 * kPage, 0, kPage, &min, &max));
  CHECK(max == min && min == (100 + kMarginPages) * kPage);

  // Overflow, and SIZE_MAX itself (Windows reads it as "trim"), refused.
  CHECK(!grown(SIZE_MAX - kPage, SIZE_MAX - kPage, 0, kPage, &min, &max));
  CHECK(!grown(kPage, SIZE_MAX - kMarginPages * kPage, 0, kPage, &min, &max));
  CHECK(!grown(kPage, kPage, SIZE_MAX, kPage, &min, &max));
  CHECK(!grown(0, SIZE_MAX - (1 + kMarginPages) * kPage, kPage, kPage, &min, &max));
  CHECK(grown(0, SIZE_MAX - (1 + kMarginPages) * kPage - 1, kPage, kPage, &min, &max));
  CHECK(max == SIZE_MAX - 1);

  // At the top, lock_with_growth says quota without asking to grow.
  fake = Fake{};
  fake.min = SIZE_MAX - kPage;
  fake.max = SIZE_MAX - kPage;
  fake.locked = SIZE_MAX - kPage;
  CHECK(lock_with_growth(kApi, 0x10000, 8 * kPage) == kQuota);
  CHECK(fake.sets == 0);
}

}  // namespace

int main() {
  fits_without_growth();
  quota_grows_and_retries();
  growth_refused();
  other_errors_pass_through();
  bounded_retries();
  arithmetic();
  if (failures != 0) {
    std::printf("%d of %d checks failed\n", failures, checks);
    return 1;
  }
  std::printf("ok %d\n", checks);
  return 0;
}
