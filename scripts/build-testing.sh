#!/bin/sh
# The testing build (CMakeLists.txt, target memlock_testing): the addon plus
# the hooks some tests need (native/test_hooks.h); and the page table's
# model test (target page_table_model). npm test makes it first;
# without cmake those tests skip and say why.
set -e
cd "$(dirname "$0")/.."
if ! command -v cmake > /dev/null 2>&1; then
  echo "memlock: cmake not found: the tests that need the testing build will skip (apt-get install cmake)"
  exit 0
fi
cmake -S . -B build-cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build-cmake --target memlock_testing memlock_portable page_table_model working_set_test -j2 > /dev/null
