// Memory for the lock table's large arrays: the registry's slots and index
// (64 MiB and 16 MiB at a million locks). An array of 1 MiB or more gets a
// mapping of its own, handed back to the system when the array is freed or
// outgrown. From the C heap it could stay resident in the host process for
// good: once glibc has freed one large block, its mmap threshold rises (up
// to 32 MiB) and later tables come from the heap, where a freed one is kept.
// Smaller arrays, and any a mapping is refused for, come from operator new;
// a 64-byte header before the array says which.
#pragma once

#include <cstddef>
#include <new>

namespace memlock {

void* table_allocate(size_t bytes);  // 64-byte aligned; throws std::bad_alloc
void table_free(void* array) noexcept;

template <typename T>
struct TableAllocator {
  static_assert(alignof(T) <= 64, "the header keeps 64-byte alignment, no more");
  using value_type = T;
  TableAllocator() = default;
  template <typename U>
  TableAllocator(const TableAllocator<U>&) noexcept {}
  T* allocate(size_t n) {
    if (n > (static_cast<size_t>(-1) >> 1) / sizeof(T)) throw std::bad_alloc();
    return static_cast<T*>(table_allocate(n * sizeof(T)));
  }
  void deallocate(T* array, size_t) noexcept { table_free(array); }
  template <typename U>
  bool operator==(const TableAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const TableAllocator<U>&) const noexcept {
    return false;
  }
};

}  // namespace memlock
