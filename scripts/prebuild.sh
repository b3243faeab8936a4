#!/usr/bin/env bash
# npm run prebuilds: every prebuild the package ships, made by prebuildify,
#   prebuilds/linux-x64/memlock.node and prebuilds/linux-arm64/memlock.node,
# then checked by scripts/check-prebuilds.sh, and the Windows one,
#   prebuilds/win32-x64/memlock.node, cross-built with mingw-w64
# (scripts/build-win.sh, which checks its DLL imports). The architecture that is not
# the host's is cross-compiled with Debian's toolchain (g++-aarch64-linux-gnu
# on x64, g++-x86-64-linux-gnu on arm64). prebuildify moves each build out
# of build/, so node-gyp-build then loads the prebuild for this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# node-gyp takes the headers of the node that runs it from beside it (the
# official layout: bin/node, include/node), so nothing is downloaded.
nodedir=$(node -p "require('path').resolve(process.execPath, '..', '..')")
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$nodedir/include/node/node_api.h" ]; then
  export npm_config_nodedir="$nodedir"
fi

declare -A triplet=([x64]=x86_64-linux-gnu [arm64]=aarch64-linux-gnu)
host=$(node -p process.arch)

build() {
  local arch=$1 tools=${triplet[$1]}
  if [ "$arch" = "$host" ]; then
    npx prebuildify --napi --strip
  else
    if ! command -v "$tools-g++" > /dev/null; then
      echo "prebuild: no $tools-g++ for linux-$arch: apt-get install g++-${tools//_/-}" >&2
      exit 1
    fi
    CC="$tools-gcc" CXX="$tools-g++" npx prebuildify --napi --strip --arch "$arch" --strip-bin "$tools-strip"
  fi
}

for arch in "${!triplet[@]}"; do
  if [ "$arch" != "$host" ]; then build "$arch"; fi
done
build "$host"
bash scripts/check-prebuilds.sh
bash scripts/win-toolchain.sh > /dev/null
bash scripts/build-win.sh
