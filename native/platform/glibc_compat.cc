// The addon must load wherever official node loads: glibc 2.28 and any
// libstdc++. So binding.gyp links libstdc++ statically (no GLIBCXX or CXXABI
// versions to satisfy), and this file answers, inside the addon (hidden),
// the two references by which a libstdc++.a built against a newer glibc
// (Debian 12's: 2.36) would require that glibc. scripts/check-prebuilds.sh
// fails any prebuild that still needs a glibc symbol newer than 2.28.
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

extern "C" {

// glibc 2.32: GCC 11+ skips atomic reference counts while this says the
// process has one thread. 0 means "threads may exist": always atomic, which
// is what a process running node needs anyway.
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;

// glibc 2.36: std::random_device draws from it. memlock never uses one; it
// is linked because libstdc++'s string instantiations name it.
__attribute__((visibility("hidden"))) uint32_t arc4random(void) {
  uint32_t value = 0;
  while (getentropy(&value, sizeof(value)) != 0) {
  }
  return value;
}

}  // extern "C"
