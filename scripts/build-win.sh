#!/usr/bin/env bash
# The Windows x64 prebuild, cross-compiled on Linux with mingw-w64:
#   prebuilds/win32-x64/memlock.node (the name prebuildify gives, which
# node-gyp-build loads). The sources are native/sources.json's core,
# binding and win32 groups, as binding.gyp reads them. Linked statically (libstdc++, libgcc,
# winpthread), then checked: the DLL may import only system DLLs and node.exe.
#   scripts/build-win.sh   (needs scripts/win-toolchain.sh run once)
set -euo pipefail
cd "$(dirname "$0")/.."

env_file="${MEMLOCK_WIN_CACHE:-/root/.cache/memlock-ci/win}/env.sh"
[ -f "$env_file" ] || { echo "build-win: no $env_file: run scripts/win-toolchain.sh" >&2; exit 1; }
# shellcheck source=/dev/null
source "$env_file"

mapfile -t sources < <(node scripts/native-sources.js core binding win32)

addon_api=$(node -p "require('node-addon-api').include_dir")
out=prebuilds/win32-x64/memlock.node
objdir=build/win32-x64  # build/ is gitignored; node-gyp-build looks only in build/Release and build/Debug
mkdir -p "$objdir" "$(dirname "$out")"

flags=(-O2 -std=c++17 -Wall -Wextra -D_WIN32_WINNT=0x0A00
       -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION -DWIN32_LEAN_AND_MEAN -DNOMINMAX
       -Inative -I"$addon_api" -I"$NAPI_INCLUDE")

# Two compilers at a time: the machine is shared.
objects=()
for source in "${sources[@]}"; do
  objects+=("$objdir/$(basename "${source%.cc}").o")
done
printf '%s\n' "${sources[@]}" |
  xargs -P 2 -I{} sh -c 'exec "$0" "$@" -c {} -o "'"$objdir"'/$(basename {} .cc).o"' "$MINGW_CXX" "${flags[@]}"

# shellcheck disable=SC2086  # MINGW_LDFLAGS is a list of flags
"$MINGW_CXX" -o "$out" "${objects[@]}" $MINGW_LDFLAGS -s

dlls=$("$MINGW_OBJDUMP" -p "$out" | awk '/DLL Name:/ { print $3 }')
bad=()
for dll in $dlls; do
  case "${dll,,}" in
    node.exe | kernel32.dll | msvcrt.dll | ucrtbase.dll | api-ms-win-*.dll | ntdll.dll | advapi32.dll | psapi.dll) ;;
    *) bad+=("$dll") ;;
  esac
done
printf '%s (%s bytes)\n  imports: %s\n' "$out" "$(stat -c %s "$out")" "$(echo $dlls)"
if [ ${#bad[@]} -ne 0 ]; then
  echo "  FAIL: imports a DLL Windows does not ship: ${bad[*]}" >&2
  exit 1
fi
echo '  ok'
