#!/usr/bin/env bash
# The Windows x64 prebuild under Wine: brings up the toolchain, builds the
# prebuild (scripts/build-win.sh) and the test-only poke addon
# (test/wine/poke.c, into build/wine), and runs test/wine/smoke.cjs with
# node.exe. node.exe's output goes to files (Wine's node cannot write to a
# pipe), printed afterwards. Exits non-zero if anything failed; the
# wineserver it started is stopped either way.
#   scripts/test-wine.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/win-toolchain.sh > /dev/null
# shellcheck source=/dev/null
source "${MEMLOCK_WIN_CACHE:-/root/.cache/memlock-ci/win}/env.sh"
stop_wine() { [ -z "${WINESERVER:-}" ] || "$WINESERVER" -k 2> /dev/null || true; }
trap stop_wine EXIT

bash scripts/build-win.sh

out=build/wine
mkdir -p "$out"
# The C compiler beside MINGW_CXX; static as the addon, for the same reason.
mingw_cc=${MINGW_CXX/g++/gcc}
"$mingw_cc" -O2 -Wall -Wextra -DNAPI_VERSION=8 -DBUILDING_NODE_EXTENSION -I"$NAPI_INCLUDE" \
  -o "$out/poke.node" test/wine/poke.c $MINGW_LDFLAGS

# node-gyp-build would take the Linux build in build/Release first: the
# prebuild only, as on a Windows install (Wine passes the environment on).
export PREBUILDS_ONLY=1
unset MEMLOCK_NATIVE_BINDING
status=0
"$WINE" "$NODE_EXE" test/wine/smoke.cjs > "$out/smoke.stdout" 2> "$out/smoke.stderr" || status=$?
if [ -s "$out/smoke.stderr" ]; then
  echo "--- node.exe stderr" >&2
  cat "$out/smoke.stderr" >&2
fi
cat "$out/smoke.stdout"
if [ "$status" -ne 0 ]; then
  echo "test-wine: smoke suite failed (exit status $status)" >&2
  exit "$status"
fi
