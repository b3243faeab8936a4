#!/usr/bin/env bash
# CI's macOS compile-and-link check (there is no Mac here): builds the addon
# from the sources binding.gyp builds for OS=='mac' (the common ones, the
# portable backend and the stand-ins) with Zig, for x86_64 and arm64 macOS
# 10.15+, links each into a Mach-O dylib (what node-gyp's bundle is to
# dlopen), and fails unless the only symbols left undefined are node's
# napi_* (bound at load) and everything else comes from libSystem. This
# shows the code compiles and links against macOS's own headers and
# libSystem; it does not run it: the suite runs the same portable backend
# on Linux (test/portable.test.ts).
#
# Zig builds its libc++ for each target once (minutes on two cores); its
# cache (~/.cache/zig) makes later runs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v llvm-nm > /dev/null || ! command -v file > /dev/null; then
  apt-get update -qq
  apt-get install -y -qq llvm file > /dev/null
fi
zig=$(bash scripts/zig-toolchain.sh)
napi_include=$(bash scripts/zig-toolchain.sh --node-api-headers)
out=build/macos
mkdir -p "$out"

# The macOS sources: native/sources.json, as binding.gyp reads them.
mapfile -t sources < <(node scripts/native-sources.js core binding posix)

status=0
for target in x86_64-macos.10.15 aarch64-macos.11.0; do
  addon="$out/memlock-${target%%.*}.node"
  "$zig" c++ -target "$target" -std=c++17 -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror \
    -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION \
    -I native -I"$napi_include" -I node_modules/node-addon-api \
    -Wl,-undefined,dynamic_lookup -Wl,-install_name,memlock.node -Wl,-dead_strip -s \
    -o "$addon" "${sources[@]}"
  kind=$(file -b "$addon")
  # Undefined symbols and where they come from: napi_* are looked up in node
  # at load (flat namespace); everything else must be libSystem's.
  foreign=$(llvm-nm -m -u "$addon" | grep -v '^ *(undefined) external _napi_' | grep -v '(from libSystem)' || true)
  napi=$(llvm-nm -m -u "$addon" | grep -c '_napi_' || true)
  echo "macOS ${target}: ${kind%%,*}; ${napi} napi_* symbols bound at load; $(stat -c %s "$addon") bytes"
  if [[ $kind != *Mach-O* ]]; then echo "  not a Mach-O: $kind"; status=1; fi
  if [[ -n $foreign ]]; then echo "  undefined symbols from neither node nor libSystem:"; echo "$foreign" | sed 's/^/    /'; status=1; fi
done
exit $status
