#include "core/table_memory.h"

#include <cstdint>

#include "platform/platform.h"

namespace memlock {

namespace {

constexpr size_t kHeader = 64;
constexpr size_t kMapAtLeast = size_t{1} << 20;

struct alignas(kHeader) Header {
  size_t mapped;  // the mapping's length, or 0: from operator new
};
static_assert(sizeof(Header) == kHeader, "the array starts one header in");

}  // namespace

void* table_allocate(size_t bytes) {
  if (bytes > SIZE_MAX - kHeader) throw std::bad_alloc();
  const size_t total = bytes + kHeader;
  size_t mapped = 0;
  void* block = nullptr;
  if (total >= kMapAtLeast) {
    const int64_t addr = platform::map_memory(total);
    if (addr > 0) {
      block = reinterpret_cast<void*>(static_cast<uintptr_t>(addr));
      mapped = total;
    }
  }
  if (block == nullptr) block = ::operator new (total, std::align_val_t{kHeader});
  static_cast<Header*>(block)->mapped = mapped;
  return static_cast<char*>(block) + kHeader;
}

void table_free(void* array) noexcept {
  if (array == nullptr) return;
  void* block = static_cast<char*>(array) - kHeader;
  const size_t mapped = static_cast<Header*>(block)->mapped;
  if (mapped == 0) {
    ::operator delete (block, std::align_val_t{kHeader});
  } else {
    platform::unmap_memory(reinterpret_cast<uintptr_t>(block), mapped);
  }
}

}  // namespace memlock
