#!/usr/bin/env bash
# npm run test:portable: the suite against the portable backend
# (native/platform/posix.cc, the code macOS and the BSDs build), built on
# Linux as the CMake target memlock_portable. Tests of Linux-only features
# skip there, each saying which feature (test/helpers/capability.ts);
# test/portable.test.ts checks those features are refused with
# ERR_MEMLOCK_UNSUPPORTED. Files that test nothing but Linux-only features
# (whole-process locking, onFault, lockCode, the paging monitor and PSI, the
# CLI, which reads /proc) or no backend at all (the native models, the
# benchmarks' cleanup) are left out. Arguments go to tap.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset testing > /dev/null
cmake --build --preset portable > /dev/null
npx tsc -p tsconfig.build.json
export MEMLOCK_NATIVE_BINDING="$PWD/build-cmake/memlock_portable.node"
files=(
  arguments concurrency counted diagnostics fork limit lock-atomic lock-many memory-moves module pinned portable
  otel prometheus property property-workers reachability secret secret-process sticky stress unprivileged workers
)
if [[ $# -gt 0 ]]; then exec node scripts/run-tests.mjs "$@"; fi
exec node scripts/run-tests.mjs $(printf "test/%s.test.ts " "${files[@]}")
