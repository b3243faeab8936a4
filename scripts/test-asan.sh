#!/usr/bin/env bash
# npm run test:asan: the whole tap suite with the addon built under
# AddressSanitizer and UBSan (CMake target memlock_asan), loaded into the
# uninstrumented node through LD_PRELOAD of the compiler's libasan.
# Arguments go to tap (e.g. one test file).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset asan > /dev/null
cmake --build --preset asan
npx tsc -p tsconfig.build.json

export MEMLOCK_NATIVE_BINDING="$PWD/build-cmake/memlock_asan.node"
export MEMLOCK_ASAN=1
export LD_PRELOAD="$(c++ -print-file-name=libasan.so)"
# node itself is not instrumented and keeps memory to exit: leaks are checked
# by npm run test:leaks, which only counts memlock's own allocations.
export ASAN_OPTIONS="detect_leaks=0:verify_asan_link_order=0:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
exec node scripts/run-tests.mjs "$@"
