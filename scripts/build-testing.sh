#!/bin/sh
# The testing build (CMakePresets.json, preset testing): the addon plus
# the hooks some tests need (native/testing/test_hooks.h); and the page table's
# model test (target page_table_model). npm test makes it first;
# without cmake those tests skip and say why.
set -e
cd "$(dirname "$0")/.."
if ! command -v cmake > /dev/null 2>&1; then
  echo "memlock: cmake not found: the tests that need the testing build will skip (apt-get install cmake)"
  exit 0
fi
cmake --preset testing > /dev/null
cmake --build --preset testing > /dev/null
